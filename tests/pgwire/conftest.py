"""Fixtures: a PgServer over the test-only fake engine, on a free loopback port."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fake_engine import FakeEngine

from eddy.pgwire.server import PgServer


class RunningServer:
    def __init__(self, **kwargs):
        self.engine = FakeEngine()
        self.loop = asyncio.new_event_loop()
        self.server = PgServer(self.engine, "127.0.0.1", 0, **kwargs)
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)
        self.port = self.server.port

    def dsn(self, **extra) -> str:
        parts = {"host": "127.0.0.1", "port": self.port, "user": "materialize",
                 "dbname": "materialize", **extra}
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def pg():
    server = RunningServer()
    yield server
    server.close()


@pytest.fixture
def make_pg():
    servers = []

    def make(**kwargs):
        servers.append(RunningServer(**kwargs))
        return servers[-1]

    yield make
    for s in servers:
        s.close()
