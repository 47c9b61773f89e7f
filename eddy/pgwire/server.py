"""The asyncio PostgreSQL protocol server: accepts connections, routes cancel requests."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from eddy.pgwire.connection import Connection
from eddy.thread_names import name_os_thread

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE = 8 * 1024 * 1024


class PgServer:
    """Serves `engine` (anything with `.session(user, database)`) over the PostgreSQL protocol.

    Engine calls block, so they run in a thread pool; one slow session never stalls others.
    With `password` set every client must authenticate (SCRAM-SHA-256, or MD5 with
    `auth_method="md5"`); without it, connections are trusted (bind to loopback).
    """

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 6875, *,
                 password: str | None = None, auth_method: str = "scram-sha-256",
                 max_message: int = DEFAULT_MAX_MESSAGE, workers: int = 128):
        self.engine = engine
        self.host = host
        self.port = port
        self.password = password
        self.auth_method = auth_method
        self.max_message = max_message
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pgwire",
                                           initializer=name_os_thread)
        self._connections: dict[int, Connection] = {}
        self._pids = itertools.count(os.getpid() % 10_000 * 100_000 + 1)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port,
                                                  limit=2 ** 20)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("eddy pgwire listening on %s:%d", self.host, self.port)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        async with self._server:
            await self._server.serve_forever()

    async def stop(self) -> None:
        """Stop accepting, close every client connection, and wait for them to finish."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections.values()):
            conn.writer.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        self.executor.shutdown(wait=False, cancel_futures=True)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pid = next(self._pids) & 0x7FFFFFFF
        conn = Connection(self, reader, writer, pid)
        self._connections[pid] = conn
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await conn.run()
        finally:
            if task is not None:
                self._tasks.discard(task)

    def forget(self, conn: Connection) -> None:
        self._connections.pop(conn.pid, None)

    def cancel(self, pid: int, secret: bytes) -> None:
        """A CancelRequest: flag the running statement of the matching connection.

        Waiting subscription reads stop at once; a session offering `cancel()` (e.g. one that
        interrupts its DuckDB query) is asked to stop the statement it is running."""
        conn = self._connections.get(pid)
        if conn is not None and hmac.compare_digest(conn.secret, secret):
            conn.cancel_requested = True
            interrupt = getattr(conn.session, "cancel", None)
            if callable(interrupt):
                self.executor.submit(interrupt)
