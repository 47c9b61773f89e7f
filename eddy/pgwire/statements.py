"""Statements the protocol layer runs itself, and the cursors it reads results through.

Transaction control, `DECLARE ... CURSOR FOR`, `FETCH n c [WITH (timeout = '1s')]`, `CLOSE`,
`DISCARD ALL` and `COPY (query) TO STDOUT` are session/protocol matters; every other statement
is the engine's. A `Cursor` wraps one engine `Result`: finite rows, or a SUBSCRIBE stream.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from eddy.errors import EddyError
from eddy.sql import savepoints
from eddy.sql.sqltext import (
    CLOSE,
    COPY_FORMAT,
    COPY_TO,
    DECLARE,
    FETCH,
    IDENT_LIST,
    leading_words,
    parse_duration,
    strip_comments,
    unquote_ident,
)

POLL = 0.25        # seconds a blocking subscription read waits before checking for cancel
_QUERY_WORDS = {"SELECT", "WITH", "SHOW", "VALUES", "TABLE", "SUBSCRIBE", "FETCH", "EXPLAIN"}


class Col(NamedTuple):
    """A result column described by the protocol layer itself."""

    name: str
    type_oid: int
    type_name: str


@dataclass(eq=False)
class Cursor:
    """Rows of one statement result, read in pieces; a SUBSCRIBE keeps producing."""

    tag: str
    columns: list | None
    rows: deque = field(default_factory=deque)
    subscription: object | None = None
    finished: bool = False

    @property
    def pending(self) -> bool:
        return bool(self.rows)

    @property
    def exhausted(self) -> bool:
        done = self.subscription is None or self.finished
        return done and not self.rows


@dataclass
class Outcome:
    cursor: Cursor
    copy: bool | None = None


def _subscription_done(sub) -> bool:
    for attr in ("done", "finished", "is_done"):
        value = getattr(sub, attr, None)
        if value is not None:
            return bool(value() if callable(value) else value)
    return False


def _canceled() -> EddyError:
    return EddyError("57014", "canceling statement due to user request")


class LocalStatements:
    """Per-connection state for protocol-level statements: transaction status and cursors."""

    def __init__(self, conn):
        self.conn = conn
        self.cursors: dict[str, Cursor] = {}
        self.streams: set[Cursor] = set()

    # ---------------------------------------------------------------- classification

    @staticmethod
    def is_query(sql: str) -> bool:
        words = leading_words(sql, 1)
        return bool(words) and words[0] in _QUERY_WORDS

    async def describe(self, sql: str, param_oids: list[int]) -> tuple:
        """(param_oids, columns) of a statement, without running it."""
        words = leading_words(sql, 2)
        head = words[0] if words else ""
        if head == "FETCH":
            match = FETCH.match(strip_comments(sql))
            cursor = self.cursors.get(unquote_ident(match.group("name"))) if match else None
            return [], (cursor.columns if cursor else None)
        if head in ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "DECLARE", "CLOSE",
                    "COPY", "DISCARD", "DEALLOCATE"):
            return list(param_oids), None
        return await self.conn.call(self.conn.session.describe, sql)

    # ---------------------------------------------------------------- running

    async def run(self, sql: str, params: list | None) -> Outcome:
        conn = self.conn
        words = leading_words(sql, 2)
        head = words[0] if words else ""
        text = strip_comments(sql).rstrip().rstrip(";").rstrip()
        if head == "ROLLBACK" and savepoints.match(text) is not None:
            # ROLLBACK TO SAVEPOINT: the block goes on, and a failed one is usable again
            cursor = await self._engine(text, params)
            if conn.txn == "E":
                conn.txn = "T"
            return Outcome(cursor)
        if head in ("COMMIT", "END", "ROLLBACK", "ABORT"):
            # The engine ends its transaction (a failed one always rolls back).
            commit = head in ("COMMIT", "END") and conn.txn != "E"
            conn.txn = "I"
            await self.close_transaction_cursors()
            await self.conn.call(self.conn.session.execute, "COMMIT" if commit else "ROLLBACK")
            return Outcome(Cursor("COMMIT" if commit else "ROLLBACK", None))
        if conn.txn == "E":
            raise EddyError("25P02", "current transaction is aborted, commands ignored until "
                                     "end of transaction block")
        if head == "BEGIN" or (head == "START" and words[1:2] == ["TRANSACTION"]):
            await self.conn.call(self.conn.session.execute, text)
            conn.txn = "T"
            return Outcome(Cursor("BEGIN", None))
        if head == "DECLARE":
            return Outcome(await self._declare(text, params))
        if head == "FETCH":
            return Outcome(await self._fetch(text))
        if head == "CLOSE":
            return Outcome(await self._close(text))
        if head == "DEALLOCATE":
            name = text.split()[-1]
            if name.upper() == "ALL":
                conn.statements.clear()
            elif conn.statements.pop(unquote_ident(name), None) is None:
                raise EddyError("26000", f'prepared statement "{name}" does not exist')
            return Outcome(Cursor("DEALLOCATE" + (" ALL" if name.upper() == "ALL" else ""), None))
        if head == "DISCARD":
            await self.close_all_async()
            conn.statements.clear()
            return Outcome(Cursor("DISCARD ALL", None))
        if head == "COPY" and (match := COPY_TO.match(text)):
            options = match.group("options") or ""
            fmt = COPY_FORMAT.search(options)
            if fmt and fmt.group(1).lower() != "text":
                raise EddyError("0A000", f"COPY TO STDOUT with FORMAT {fmt.group(1)} not supported")
            query = match.group("query")
            if query is None:     # COPY name [(columns)]: the user's own identifiers, re-joined
                cols = match.group("cols")
                if cols is not None and not IDENT_LIST.match(cols):
                    raise EddyError("42601", "syntax error in COPY column list")
                query = f"SELECT {cols or '*'} FROM {match.group('table')}"
            cursor = await self._engine(query, params)
            if cursor.columns is None:
                raise EddyError("42601", "COPY query must return rows")
            return Outcome(cursor, copy=True)
        cursor = await self._engine(text, params)
        if head in ("SET", "RESET"):
            await conn.report_setting(text)
        return Outcome(cursor)

    async def _engine(self, sql: str, params: list | None) -> Cursor:
        results = await self.conn.call(self.conn.session.execute, sql, params)
        if not results:
            return Cursor("", None)
        for extra in results[:-1]:
            if extra.subscription is not None:
                await self.conn.call(extra.subscription.close)
        r = results[-1]
        cursor = Cursor(r.tag, r.columns, deque(r.rows or ()), r.subscription)
        if r.subscription is not None:
            cursor.columns = list(r.subscription.columns or r.columns)
            self.streams.add(cursor)
        return cursor

    async def _declare(self, text: str, params: list | None) -> Cursor:
        match = DECLARE.match(text)
        if not match:
            raise EddyError("42601", "syntax error in DECLARE")
        name = unquote_ident(match.group("name"))
        if name in self.cursors:
            raise EddyError("42P03", f'cursor "{name}" already exists')
        cursor = await self._engine(match.group("query"), params)
        if cursor.columns is None:
            await self.discard(cursor)
            raise EddyError("42601", "cursor query must return rows")
        self.cursors[name] = cursor
        return Cursor("DECLARE CURSOR", None)

    async def _fetch(self, text: str) -> Cursor:
        match = FETCH.match(text)
        if not match:
            raise EddyError("42601", "syntax error in FETCH")
        name = unquote_ident(match.group("name"))
        cursor = self.cursors.get(name)
        if cursor is None:
            raise EddyError("34000", f'cursor "{name}" does not exist')
        count_text = (match.group("count") or "1").upper()
        count = None if count_text == "ALL" else int(count_text)
        timeout_text = match.group("timeout") or match.group("tnum")
        try:
            timeout = parse_duration(timeout_text) if timeout_text is not None else None
        except ValueError as e:
            raise EddyError("22023", str(e)) from None
        if cursor.subscription is None:
            n = len(cursor.rows) if count is None else min(count, len(cursor.rows))
            rows = [cursor.rows.popleft() for _ in range(n)]
        else:
            rows = await self._fetch_stream(cursor, count, timeout)
        return Cursor(f"FETCH {len(rows)}", cursor.columns, deque(rows))

    async def _fetch_stream(self, cursor: Cursor, count: int | None,
                            timeout: float | None) -> list:
        """Materialize FETCH: wait for at least one row (or the timeout), then what is ready."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait = POLL if remaining is None else min(POLL, remaining)
            rows = await self._pull(cursor, count, wait)
            if rows or cursor.finished:
                return rows
            if deadline is not None and time.monotonic() >= deadline:
                return []

    async def _pull(self, cursor: Cursor, limit: int | None, wait: float) -> list:
        if self.conn.cancel_requested:
            self.conn.cancel_requested = False
            raise _canceled()
        if cursor.rows:
            n = len(cursor.rows) if limit is None else min(limit, len(cursor.rows))
            return [cursor.rows.popleft() for _ in range(n)]
        if cursor.finished:
            return []
        if self.conn.client_gone():
            raise ConnectionResetError("client went away during a subscription")
        sub = cursor.subscription
        rows = await self.conn.call(sub.fetch, limit, wait)
        if not rows and _subscription_done(sub):
            cursor.finished = True
        return list(rows)

    async def take(self, cursor: Cursor, limit: int, wait: bool) -> list:
        """Up to `limit` rows; for a subscription, block (cancellably) until some arrive."""
        if cursor.subscription is None or not wait:
            n = min(limit, len(cursor.rows))
            return [cursor.rows.popleft() for _ in range(n)]
        while True:
            rows = await self._pull(cursor, limit, POLL)
            if rows or cursor.finished:
                return rows

    async def _close(self, text: str) -> Cursor:
        match = CLOSE.match(text)
        if not match:
            raise EddyError("42601", "syntax error in CLOSE")
        name = match.group("name")
        if name.upper() == "ALL":
            await self.close_all_async()
            return Cursor("CLOSE CURSOR", None)
        cursor = self.cursors.pop(unquote_ident(name), None)
        if cursor is None:
            raise EddyError("34000", f'cursor "{unquote_ident(name)}" does not exist')
        await self.discard(cursor)
        return Cursor("CLOSE CURSOR", None)

    # ---------------------------------------------------------------- cleanup

    async def discard(self, cursor: Cursor) -> None:
        if cursor.subscription is not None and cursor in self.streams:
            self.streams.discard(cursor)
            await self.conn.call(cursor.subscription.close)

    async def close_transaction_cursors(self) -> None:
        await self.close_all_async()

    async def close_all_async(self) -> None:
        cursors = list(self.cursors.values())
        self.cursors.clear()
        for cursor in cursors:
            await self.discard(cursor)

    def close_all(self) -> None:
        """Close every open subscription (blocking; for connection teardown)."""
        self.cursors.clear()
        for cursor in list(self.streams):
            with contextlib.suppress(Exception):  # teardown must not raise
                cursor.subscription.close()
        self.streams.clear()
