"""`eddy serve` as a process: graceful SIGTERM with clients attached, restart, password auth."""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg
import pytest
from eddyproc import EddyProcess

pytestmark = pytest.mark.integration


def test_sigterm_with_clients_attached_then_restart_keeps_data(tmp_path):
    server = EddyProcess(tmp_path / "data")
    with server.connect() as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (1), (2), (3)")
    idle = server.connect()
    streaming = server.connect()
    stream_ended = threading.Event()

    def consume():
        with contextlib.suppress(psycopg.Error):
            for _ in streaming.cursor().stream("SUBSCRIBE kept"):
                pass
        stream_ended.set()

    threading.Thread(target=consume, daemon=True).start()
    time.sleep(0.5)
    t0 = time.monotonic()
    assert server.stop() == 0
    assert stream_ended.wait(5)
    assert time.monotonic() - t0 < 15
    with pytest.raises(psycopg.OperationalError):
        idle.execute("SELECT 1")
    again = EddyProcess(tmp_path / "data")
    try:
        with again.connect() as conn:
            assert conn.execute("SELECT sum(v) FROM kept").fetchone() == (6,)
    finally:
        assert again.stop() == 0


def test_password_from_environment_is_required(tmp_path):
    server = EddyProcess(tmp_path / "data", env={"EDDY_PASSWORD": "hunter2"})
    try:
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(server.dsn(password="wrong"))
        with psycopg.connect(server.dsn(password="hunter2")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
