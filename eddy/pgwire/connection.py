"""One client connection: startup, authentication, and the query protocols.

Statements run on the engine through a thread pool; the few statements the protocol itself
owns (transaction control, DECLARE/FETCH/CLOSE, COPY ... TO STDOUT) live in `statements`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import socket
from dataclasses import dataclass, field

from pygwire.constants import ConnectionPhase, TransactionStatus
from pygwire.messages import (
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendKeyData,
    Bind,
    BindComplete,
    CancelRequest,
    Close,
    CloseComplete,
    CommandComplete,
    CopyData,
    CopyDone,
    CopyFail,
    CopyOutResponse,
    Describe,
    EmptyQueryResponse,
    Execute,
    Flush,
    GSSEncRequest,
    NoData,
    ParameterDescription,
    ParameterStatus,
    Parse,
    ParseComplete,
    PasswordMessage,
    PortalSuspended,
    Query,
    ReadyForQuery,
    SASLInitialResponse,
    SASLResponse,
    SSLRequest,
    StartupMessage,
    Sync,
    Terminate,
)

from eddy.errors import EddyError
from eddy.pgwire import messages as m
from eddy.pgwire import types
from eddy.pgwire.auth import ScramServer, md5_expected
from eddy.pgwire.statements import Cursor, LocalStatements, Outcome
from eddy.sql.sqltext import split_statements

log = logging.getLogger(__name__)

MZ_VERSION = "v0.130.0"
SERVER_VERSION = "9.5.0"
_TXN = {"I": TransactionStatus.IDLE, "T": TransactionStatus.IN_TRANSACTION,
        "E": TransactionStatus.ERROR_TRANSACTION}
_OPTION = re.compile(r"(?:-c\s*|--)([A-Za-z_][A-Za-z_0-9.]*)=((?:\\ |\S)*)")
_SETTABLE = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
_REPORTED = {k.lower(): k for k in ("application_name", "TimeZone", "DateStyle", "IntervalStyle",
                                    "client_encoding", "standard_conforming_strings")}
_SET_NAME = re.compile(r"^(?:SET|RESET)\s+(?:SESSION\s+|LOCAL\s+)?(TIME\s+ZONE|[A-Za-z_]+)",
                       re.IGNORECASE)


@dataclass
class Prepared:
    sql: str
    param_oids: list[int]
    described: tuple | None = None


@dataclass
class Portal:
    prepared: Prepared
    params: list
    result_formats: list[int]
    cursor: Cursor | None = None        # set once the statement has run
    formats: list[int] = field(default_factory=list)


class Connection:
    """Serves one client until it terminates or breaks the protocol."""

    def __init__(self, server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 pid: int):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.pid = pid
        self.secret = secrets.token_bytes(4)
        self.session = None
        self.cancel_requested = False
        self.txn = "I"
        self.params: dict[str, str] = {}
        self.statements: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self.local: LocalStatements | None = None
        self._out = bytearray()
        self._skip_to_sync = False

    # ------------------------------------------------------------------ plumbing

    def send(self, data: bytes) -> None:
        self._out += data

    async def flush(self) -> None:
        if self._out:
            data, self._out = bytes(self._out), bytearray()
            self.writer.write(data)
            await self.writer.drain()

    async def maybe_flush(self) -> None:
        if len(self._out) > 65536:
            await self.flush()

    def client_gone(self) -> bool:
        """True once the client hung up (or the server is closing this connection).

        Checked while a stream waits for rows, when nothing is being written that would fail."""
        if self.writer.is_closing() or self.reader.at_eof():
            return True
        transport_socket = self.writer.get_extra_info("socket")
        if transport_socket is None:
            return False
        try:   # a duplicate descriptor: peeking must not disturb the transport's socket
            with socket.fromfd(transport_socket.fileno(), transport_socket.family,
                               transport_socket.type) as sock:
                return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    async def call(self, fn, *args):
        """Run a blocking engine call in the server's thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.server.executor, fn, *args)

    def send_error(self, exc: BaseException) -> None:
        if isinstance(exc, EddyError):
            self.send(m.error_response(exc.sqlstate, exc.message, exc.detail))
        elif isinstance(exc, m.ProtocolViolation):
            self.send(m.error_response(exc.sqlstate, str(exc)))
        else:
            log.exception("internal error", exc_info=exc)
            self.send(m.error_response("XX000", f"internal error: {exc}"))

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        try:
            if await self._startup():
                await self._serve()
        except (asyncio.IncompleteReadError, ConnectionError, BrokenPipeError):
            pass
        except Exception as e:  # noqa: BLE001 - protocol violations and bugs: report, close
            self.send_error(e)
            with contextlib.suppress(ConnectionError, OSError):
                await self.flush()
        finally:
            await self._cleanup()

    async def _cleanup(self) -> None:
        self.server.forget(self)
        if self.local is not None:
            await self.call(self.local.close_all)
        if self.session is not None:
            try:
                await self.call(self.session.close)
            except Exception:  # noqa: BLE001 - closing must never raise
                log.debug("session close failed", exc_info=True)
        self.writer.close()

    async def _startup(self) -> bool:
        while True:
            msg = await m.read_startup(self.reader)
            if isinstance(msg, (SSLRequest, GSSEncRequest)):
                self.writer.write(b"N")
                await self.writer.drain()
                continue
            if isinstance(msg, CancelRequest):
                self.server.cancel(msg.process_id, msg.secret_key)
                return False
            if isinstance(msg, StartupMessage):
                if msg.protocol_version >> 16 != 3:
                    raise m.ProtocolViolation("unsupported frontend protocol")
                self.params = dict(msg.params)
                break
            raise m.ProtocolViolation("expected startup message")
        user = self.params.get("user") or ""
        if not user:
            raise m.ProtocolViolation("no PostgreSQL user name specified in startup packet",
                                      "28000")
        if self.server.password is not None and not await self._authenticate(user):
            return False
        database = self.params.get("database") or "materialize"
        try:
            self.session = await self.call(self.server.engine.session, user, database)
        except EddyError as e:
            self.send_error(e)
            await self.flush()
            return False
        self.local = LocalStatements(self)
        await self._apply_options(self.params.get("options", ""))
        self.send(AuthenticationOk().to_wire())
        for name, value in self._parameter_statuses(user).items():
            self.send(ParameterStatus(name=name, value=value).to_wire())
        self.send(BackendKeyData(process_id=self.pid, secret_key=self.secret).to_wire())
        self.send(ReadyForQuery(status=TransactionStatus.IDLE).to_wire())
        await self.flush()
        return True

    def _parameter_statuses(self, user: str) -> dict[str, str]:
        return {
            "server_version": SERVER_VERSION,
            "server_encoding": "UTF8",
            "client_encoding": "UTF8",
            "DateStyle": "ISO, MDY",
            "IntervalStyle": "postgres",
            "TimeZone": "UTC",
            "integer_datetimes": "on",
            "standard_conforming_strings": "on",
            "application_name": self.params.get("application_name", ""),
            "is_superuser": "on" if user in ("materialize", "mz_system") else "off",
            "mz_version": f"{MZ_VERSION} (eddy)",
            "default_transaction_isolation": "serializable",
        }

    async def _authenticate(self, user: str) -> bool:
        password = self.server.password
        method = self.server.auth_method
        try:
            if method == "md5":
                salt = secrets.token_bytes(4)
                self.send(AuthenticationMD5Password(salt=salt).to_wire())
                await self.flush()
                msg = await m.read_message(self.reader, ConnectionPhase.AUTHENTICATING, 10_000)
                given = msg.password if isinstance(msg, PasswordMessage) else None
                if isinstance(given, str) and secrets.compare_digest(
                        given, md5_expected(user, password, salt)):
                    return True
            else:
                scram = ScramServer(password)
                self.send(AuthenticationSASL(mechanisms=[scram.mechanism]).to_wire())
                await self.flush()
                msg = await m.read_message(
                    self.reader, ConnectionPhase.AUTHENTICATING_SASL_INITIAL, 10_000)
                if not isinstance(msg, SASLInitialResponse) or msg.mechanism != scram.mechanism:
                    raise ValueError("unsupported SASL mechanism")
                self.send(AuthenticationSASLContinue(data=scram.first(msg.data)).to_wire())
                await self.flush()
                msg = await m.read_message(
                    self.reader, ConnectionPhase.AUTHENTICATING_SASL_CONTINUE, 10_000)
                if isinstance(msg, SASLResponse):
                    self.send(AuthenticationSASLFinal(data=scram.final(msg.data)).to_wire())
                    return True
        except ValueError:
            pass
        self.send(m.error_response("28P01", f'password authentication failed for user "{user}"',
                                   severity="FATAL"))
        await self.flush()
        return False

    async def _apply_options(self, options: str) -> None:
        """Session settings from the startup `options` (`--name=value` or `-c name=value`)."""
        for name, raw in _OPTION.findall(options):
            value = raw.replace("\\ ", " ")
            if not _SETTABLE.match(name):
                continue
            values = [v.strip() for v in value.split(",")] if name == "search_path" else [value]
            sql = f"SET {name} = " + ", ".join("'" + v.replace("'", "''") + "'" for v in values)
            try:
                await self.call(self.session.execute, sql)
            except EddyError as e:
                log.debug("ignoring startup option %s: %s", name, e.message)

    async def report_setting(self, statement: str) -> None:
        """ParameterStatus after SET/RESET of a parameter clients track (e.g. application_name)."""
        match = _SET_NAME.match(statement)
        key = re.sub(r"\s+", "", match.group(1).lower()) if match else ""
        if key not in _REPORTED:
            return
        name = _REPORTED[key]
        try:
            results = await self.call(self.session.execute, f"SHOW {name}")
            value = results[-1].rows[0][0]
        except (EddyError, IndexError):
            return
        self.send(ParameterStatus(name=name, value=str(value)).to_wire())

    # ------------------------------------------------------------------ main loop

    async def _serve(self) -> None:
        while True:
            try:
                msg = await m.read_message(self.reader, ConnectionPhase.READY,
                                           self.server.max_message)
            except m.Oversized as e:
                self.send(m.error_response(e.sqlstate, str(e)))
                self._mark_failed()
                if e.ident == b"Q":
                    self.send(ReadyForQuery(status=_TXN[self.txn]).to_wire())
                else:
                    self._skip_to_sync = True
                await self.flush()
                continue
            if isinstance(msg, Terminate):
                return
            if isinstance(msg, Query):
                await self._simple_query(msg.query_string)
            elif isinstance(msg, Sync):
                self._skip_to_sync = False
                if self.txn == "I":
                    await self._drop_portals()
                self.send(ReadyForQuery(status=_TXN[self.txn]).to_wire())
                await self.flush()
            elif isinstance(msg, Flush):
                await self.flush()
            elif self._skip_to_sync:
                continue
            elif isinstance(msg, (CopyData, CopyDone, CopyFail)):
                continue   # stray COPY messages after an error are ignored, as PostgreSQL does
            else:
                try:
                    await self._extended(msg)
                except Exception as e:  # noqa: BLE001 - a failed message fails, the session goes on
                    self.send_error(e)
                    self._skip_to_sync = True
                    self._mark_failed()
                await self.maybe_flush()

    async def _drop_portals(self, name: str | None = None) -> None:
        """Forget one portal (or all); a portal's open subscription is closed."""
        names = list(self.portals) if name is None else [name]
        for key in names:
            portal = self.portals.pop(key, None)
            if portal is not None and portal.cursor is not None:
                await self.local.discard(portal.cursor)

    def _send_notices(self) -> None:
        """The session's notices of the statement just run (e.g. a view that is not maintained
        incrementally, DROP IF EXISTS of a missing object), as NoticeResponse messages."""
        notices = self.session.notices if self.session is not None else []
        while notices:
            self.send(m.notice_response(notices.pop(0)))

    def _mark_failed(self) -> None:
        if self.txn == "T":
            self.txn = "E"

    # ------------------------------------------------------------------ simple query

    async def _simple_query(self, sql: str) -> None:
        self.cancel_requested = False
        statements = split_statements(sql)
        if not statements:
            self.send(EmptyQueryResponse().to_wire())
        for stmt in statements:
            cursor = None
            try:
                outcome = await self.local.run(stmt, None)
                cursor = outcome.cursor
                if outcome.copy is not None:
                    await self._copy_out(outcome)
                    continue
                if cursor.columns is not None:
                    formats = [0] * len(cursor.columns)
                    self.send(m.row_description(cursor.columns, formats))
                await self._send_rows(cursor, 0, [0] * len(cursor.columns or []))
                self._send_notices()
                if cursor.subscription is None or cursor.exhausted:
                    self.send(CommandComplete(tag=cursor.tag).to_wire())
            except Exception as e:  # noqa: BLE001 - every failure becomes an ErrorResponse
                if isinstance(e, (ConnectionError, asyncio.IncompleteReadError)):
                    raise
                self._send_notices()
                self.send_error(e)
                self._mark_failed()
                break
            finally:
                if cursor is not None:       # a statement's own stream ends with it
                    await self.local.discard(cursor)
            await self.maybe_flush()
        if self.txn == "I":
            await self._drop_portals()
        self.send(ReadyForQuery(status=_TXN[self.txn]).to_wire())
        await self.flush()

    async def _send_rows(self, cursor: Cursor, max_rows: int, formats: list[int]) -> int:
        """Send up to max_rows (0: all) DataRows of a cursor; subscriptions stream until done."""
        oids = [c.type_oid for c in cursor.columns or []]
        sent = 0
        while True:
            want = max_rows - sent if max_rows else 5000
            rows = await self.local.take(cursor, want, wait=cursor.subscription is not None)
            if rows:
                self.send(m.data_rows(rows, oids, formats))
                sent += len(rows)
                await self.maybe_flush()
                if cursor.subscription is not None:
                    await self.flush()
            if cursor.exhausted or (max_rows and sent >= max_rows):
                return sent
            if cursor.subscription is None and not rows:
                return sent

    async def _copy_out(self, outcome: Outcome) -> None:
        cursor = outcome.cursor
        oids = [c.type_oid for c in cursor.columns]
        self.send(CopyOutResponse(overall_format=0, col_formats=[0] * len(oids)).to_wire())
        await self.flush()
        count = 0
        while True:
            rows = await self.local.take(cursor, 5000, wait=cursor.subscription is not None)
            if rows:
                self.send(CopyData(data=b"".join(m.copy_text_line(r, oids) for r in rows))
                          .to_wire())
                count += len(rows)
                await self.flush()
            if cursor.exhausted or (cursor.subscription is None and not rows):
                break
        self.send(CopyDone().to_wire())
        self.send(CommandComplete(tag=f"COPY {count}").to_wire())

    # ------------------------------------------------------------------ extended query

    async def _extended(self, msg) -> None:
        if isinstance(msg, Parse):
            if msg.statement and msg.statement in self.statements:
                raise EddyError("42P05", f'prepared statement "{msg.statement}" already exists')
            stmts = split_statements(msg.query)
            if len(stmts) > 1:
                raise EddyError("42601",
                                "cannot insert multiple commands into a prepared statement")
            self.statements[msg.statement] = Prepared(stmts[0] if stmts else "",
                                                      list(msg.param_types))
            self.send(ParseComplete().to_wire())
        elif isinstance(msg, Bind):
            await self._bind(msg)
        elif isinstance(msg, Describe):
            await self._describe(msg)
        elif isinstance(msg, Execute):
            await self._execute(msg)
        elif isinstance(msg, Close):
            if msg.kind == "S":
                self.statements.pop(msg.name, None)
            else:
                await self._drop_portals(msg.name)
            self.send(CloseComplete().to_wire())
        else:
            raise m.ProtocolViolation(f"unexpected message {type(msg).__name__}")

    def _statement(self, name: str) -> Prepared:
        try:
            return self.statements[name]
        except KeyError:
            raise EddyError("26000", f'prepared statement "{name}" does not exist') from None

    async def _param_oids(self, prepared: Prepared) -> list[int]:
        oids = list(prepared.param_oids)
        if oids and all(oids):
            return oids
        described = await self._describe_statement(prepared)
        engine_oids = list(described[0] or [])
        if len(engine_oids) < len(oids):
            engine_oids += [0] * (len(oids) - len(engine_oids))
        return [o or engine_oids[i] for i, o in enumerate(oids)] + engine_oids[len(oids):]

    async def _describe_statement(self, prepared: Prepared) -> tuple:
        if prepared.described is None:
            prepared.described = await self.local.describe(prepared.sql, prepared.param_oids)
        return prepared.described

    async def _bind(self, msg: Bind) -> None:
        prepared = self._statement(msg.statement)
        values = msg.param_values
        fmts = msg.param_formats
        if len(fmts) not in (0, 1, len(values)):
            raise m.ProtocolViolation("bind message has an invalid number of parameter formats")
        binary = [bool(fmts[0] if len(fmts) == 1 else fmts[i] if fmts else 0)
                  for i in range(len(values))]
        known = prepared.param_oids
        # Text values of unspecified type go to the engine as strings (it casts them); only a
        # binary value of unspecified type needs the engine's view of the parameter types.
        need_types = any(b and v is not None and (i >= len(known) or not known[i])
                         for i, (b, v) in enumerate(zip(binary, values, strict=True)))
        oids = await self._param_oids(prepared) if need_types else list(prepared.param_oids)
        params = []
        for i, raw in enumerate(values):
            oid = oids[i] if i < len(oids) else 0
            if raw is None:
                params.append(None)
                continue
            try:
                params.append(types.decode_param(raw, oid, binary[i]))
            except (ValueError, UnicodeDecodeError, ArithmeticError) as e:
                raise EddyError("22P02", f"invalid value for parameter ${i + 1}: {e}") from None
        if msg.portal and msg.portal in self.portals:
            raise EddyError("42P03", f'portal "{msg.portal}" already exists')
        if not msg.portal:
            await self._drop_portals("")        # the unnamed portal is replaced
        self.portals[msg.portal] = Portal(prepared, params, list(msg.result_formats))
        self.send(BindComplete().to_wire())

    async def _run_portal(self, portal: Portal) -> Cursor:
        if portal.cursor is None:
            outcome = await self.local.run(portal.prepared.sql, portal.params)
            if outcome.copy is not None:
                await self.local.discard(outcome.cursor)
                raise EddyError("0A000", "COPY in the extended query protocol not supported")
            portal.cursor = outcome.cursor
            cols = portal.cursor.columns
            portal.formats = m.column_formats(portal.result_formats, len(cols or []))
            for col, fmt in zip(cols or [], portal.formats, strict=False):
                if fmt == 1 and col.type_oid not in types.BINARY_OUT:
                    raise EddyError("0A000", f"binary format for type {col.type_name} not supported")
        return portal.cursor

    async def _describe(self, msg: Describe) -> None:
        if msg.kind == "S":
            prepared = self._statement(msg.name)
            param_oids, columns = await self._describe_statement(prepared)
            oids = await self._param_oids(prepared) if param_oids or prepared.param_oids else []
            self.send(ParameterDescription(type_oids=oids).to_wire())
            if columns:
                self.send(m.row_description(columns, [0] * len(columns)))
            else:
                self.send(NoData().to_wire())
            return
        portal = self.portals.get(msg.name)
        if portal is None:
            cursor = self.local.cursors.get(msg.name)
            if cursor is None:
                raise EddyError("34000", f'portal "{msg.name}" does not exist')
            columns, formats = cursor.columns, [0] * len(cursor.columns or [])
        elif self.local.is_query(portal.prepared.sql):
            cursor = await self._run_portal(portal)
            columns, formats = cursor.columns, portal.formats
        else:
            columns = (await self._describe_statement(portal.prepared))[1]
            formats = m.column_formats(portal.result_formats, len(columns or []))
        if columns:
            self.send(m.row_description(columns, formats))
        else:
            self.send(NoData().to_wire())

    async def _execute(self, msg: Execute) -> None:
        portal = self.portals.get(msg.portal)
        if portal is None:
            raise EddyError("34000", f'portal "{msg.portal}" does not exist')
        self.cancel_requested = False
        if not portal.prepared.sql:
            self.send(EmptyQueryResponse().to_wire())
            return
        cursor = await self._run_portal(portal)
        await self._send_rows(cursor, max(msg.max_rows, 0), portal.formats)
        self._send_notices()
        if cursor.exhausted or (cursor.subscription is None and not cursor.pending):
            self.send(CommandComplete(tag=cursor.tag).to_wire())
        else:
            self.send(PortalSuspended().to_wire())
