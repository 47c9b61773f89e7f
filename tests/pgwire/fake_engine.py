"""A stand-in engine over plain DuckDB, so the protocol layer is tested on its own.

Test-only: it implements the Engine/Session/Result/Subscription interface of ARCHITECTURE.md
with none of the engine's SQL (no catalog, no dataflow). `SUBSCRIBE t` streams inserts into t.
"""

from __future__ import annotations

import queue
import re
import threading
import time

import duckdb

from eddy.errors import EddyError
from eddy.results import Column, Result
from eddy.sql.sqltext import split_statements

_OIDS = {"BOOLEAN": 16, "BIGINT": 20, "SMALLINT": 21, "INTEGER": 23, "VARCHAR": 25,
         "FLOAT": 700, "DOUBLE": 701, "DATE": 1082, "TIMESTAMP": 1114,
         "TIMESTAMP WITH TIME ZONE": 1184, "INTERVAL": 1186, "UUID": 2950, "JSON": 3802,
         "HUGEINT": 1700, "BLOB": 17}


def _column(name: str, duck_type) -> Column:
    text = str(duck_type).upper()
    oid = 1700 if text.startswith("DECIMAL") else _OIDS.get(text, 25)
    return Column(name, oid, text.lower())


class FakeSubscription:
    def __init__(self, engine: FakeEngine, table: str, columns: list[Column], limit: int):
        self.engine, self.table, self.limit = engine, table, limit
        self.columns = [Column("mz_timestamp", 1700, "numeric"), Column("mz_diff", 20, "int8"),
                        *columns]
        self.queue: queue.Queue = queue.Queue()
        self.closed = False

    def fetch(self, max_rows: int | None, timeout: float | None) -> list[tuple]:
        if self.queue.qsize() > self.limit:
            raise EddyError("53000", "subscriber fell too far behind")
        rows = []
        try:
            rows.append(self.queue.get(timeout=timeout))
            while max_rows is None or len(rows) < max_rows:
                rows.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        return rows

    def close(self) -> None:
        self.closed = True
        self.engine.subscribers.discard(self)


class FakeSession:
    def __init__(self, engine: FakeEngine):
        self.engine = engine
        self.db = engine.db.cursor()
        self.notices: list[str] = []     # the engine's session interface; drained by pgwire

    def execute(self, sql: str, params=None) -> list[Result]:
        out = []
        for stmt in split_statements(sql):
            if m := re.match(r"(?is)^SUBSCRIBE\s+(?:TO\s+)?(\w+)\s*$", stmt):
                cols = [_column(d[0], d[1]) for d in
                        self.db.execute(f"SELECT * FROM {m.group(1)} LIMIT 0").description]
                sub = FakeSubscription(self.engine, m.group(1), cols, self.engine.buffer)
                for row in self.db.execute(f"SELECT * FROM {m.group(1)}").fetchall():
                    sub.queue.put((0, 1, *row))
                self.engine.subscribers.add(sub)
                out.append(Result("SUBSCRIBE", sub.columns, [], sub))
                continue
            head = stmt.split()[0].upper()
            if head in ("BEGIN", "START", "COMMIT", "ROLLBACK"):    # no transactions here
                out.append(Result("BEGIN" if head in ("BEGIN", "START") else head))
                continue
            if stmt.upper().startswith("SLEEP"):
                time.sleep(float(stmt.split()[1]))
                out.append(Result("SLEEP"))
                continue
            try:
                with self.engine.lock:
                    cur = self.db.execute(stmt, params or None)
                    rows = cur.fetchall() if cur.description else []
            except duckdb.Error as e:
                raise EddyError("42000", str(e).splitlines()[0]) from None
            head = stmt.split()[0].upper()
            if head == "INSERT" and (m := re.match(r"(?is)^INSERT\s+INTO\s+(\w+)", stmt)):
                new = self.db.execute(f"SELECT * FROM {m.group(1)}").fetchall()[-rows[0][0]:]
                for sub in list(self.engine.subscribers):
                    if sub.table == m.group(1):
                        for row in new:
                            sub.queue.put((int(time.time() * 1000), 1, *row))
                out.append(Result(f"INSERT 0 {rows[0][0]}"))
            elif cur.description and head in ("SELECT", "WITH", "VALUES", "SHOW", "FROM"):
                cols = [_column(d[0], d[1]) for d in cur.description]
                out.append(Result(f"SELECT {len(rows)}", cols, rows))
            else:
                out.append(Result(" ".join(stmt.split()[:2]).upper()))
        return out

    def describe(self, sql: str):
        nparams = len(set(re.findall(r"\$(\d+)", sql)))
        if not sql.strip().upper().startswith(("SELECT", "WITH", "VALUES")):
            return [0] * nparams, None
        try:
            with self.engine.lock:
                cur = self.db.execute(f"SELECT * FROM ({sql}) LIMIT 0", [None] * nparams or None)
        except duckdb.Error as e:
            raise EddyError("42000", str(e).splitlines()[0]) from None
        return [25] * nparams, [_column(d[0], d[1]) for d in cur.description]

    def close(self) -> None:
        self.db.close()


class FakeEngine:
    def __init__(self, buffer: int = 10_000):
        self.db = duckdb.connect()
        self.lock = threading.Lock()
        self.subscribers: set[FakeSubscription] = set()
        self.buffer = buffer

    def session(self, user: str = "materialize", database: str = "materialize") -> FakeSession:
        return FakeSession(self)
