"""Malformed traffic against a real `eddy serve`: offenders get an error or are closed, and
well-behaved sessions (including one mid-transaction) keep working."""

from __future__ import annotations

import contextlib
import random
import socket
import struct

import pytest

pytestmark = pytest.mark.integration

STARTUP = struct.pack("!I", 196608) + b"user\x00materialize\x00database\x00materialize\x00\x00"


def _session(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(struct.pack("!I", len(STARTUP) + 4) + STARTUP)
    buf = b""
    while not buf.endswith(b"Z\x00\x00\x00\x05I"):
        chunk = s.recv(65536)
        assert chunk, "server closed during startup"
        buf += chunk
    return s


def _answer(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 10 s pass)."""
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except TimeoutError:
        pytest.fail(f"server neither answered nor closed: {out[:200]!r}")
    except ConnectionError:
        pass
    return out


def test_fuzzed_sessions_do_not_disturb_others(eddy, schema):
    with eddy.connect() as setup:
        setup.execute(f"CREATE TABLE {schema}.f (v int)")
        setup.execute(f"INSERT INTO {schema}.f VALUES (1), (2)")
    good = eddy.connect(autocommit=False)
    assert good.execute(f"SELECT sum(v) FROM {schema}.f").fetchone() == (3,)   # open txn
    rng = random.Random(4)
    for i in range(40):
        s = _session(eddy.port)
        body = rng.randbytes(rng.randint(0, 200))
        kind = i % 4
        if kind == 0:
            s.sendall(body)
        elif kind == 1:
            s.sendall(b"Q" + struct.pack("!I", len(body) + 500) + body)   # truncated
        elif kind == 2:
            s.sendall(b"Q" + struct.pack("!I", len(body) + 5) + body.replace(b"\x00", b"\xff")
                      + b"\x00")                                      # invalid UTF-8
        else:
            s.sendall(bytes([rng.choice(b"PBDEC")]) + struct.pack("!I", len(body) + 4) + body)
        s.shutdown(socket.SHUT_WR)
        answer = _answer(s)
        assert answer == b"" or answer[:1] in (b"E", b"1", b"2", b"3", b"C", b"n", b"Z")
        s.close()
    big = _session(eddy.port)
    query = b"SELECT " + b"1+" * (5 * 1024 * 1024) + b"1\x00"        # a 10 MB query
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        big.sendall(b"Q" + struct.pack("!I", len(query) + 4) + query)
    big.shutdown(socket.SHUT_WR)
    answer = _answer(big)
    assert answer[:1] == b"E" and b"54000" in answer and answer.endswith(b"Z\x00\x00\x00\x05I")
    assert good.execute(f"SELECT count(*) FROM {schema}.f").fetchone() == (2,)
    good.rollback()
    good.close()
