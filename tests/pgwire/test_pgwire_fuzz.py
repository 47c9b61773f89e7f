"""Malformed input: each offending session gets an error or is closed; the server keeps serving."""

from __future__ import annotations

import contextlib
import random
import socket
import struct

import psycopg
from pygwire.messages import Query, StartupMessage
from rawclient import RawClient, error_code


def _healthy(pg) -> None:
    with psycopg.connect(pg.dsn(), autocommit=True, connect_timeout=5) as conn:
        assert conn.execute("select 40 + 2").fetchone() == (42,)


def _error_or_closed(client: RawClient) -> str:
    """'closed', or the SQLSTATE of an ErrorResponse (the connection may stay usable)."""
    try:
        kind, payload = client.read()
    except (ConnectionError, OSError):
        return "closed"
    assert kind == b"E", kind
    return error_code(payload)


def test_random_and_truncated_messages(pg):
    rng = random.Random(20261120)
    for i in range(60):
        c = RawClient(pg.port, startup=i % 3 != 0)
        c.sock.settimeout(5)
        mode = i % 4
        if mode == 0:       # garbage where a message should be
            c.send(rng.randbytes(rng.randint(1, 300)))
        elif mode == 1:     # a valid header that promises more than is sent, then hang up
            body = rng.randbytes(rng.randint(0, 40))
            c.send(b"Q" + struct.pack("!I", len(body) + 200) + body)
            c.sock.shutdown(socket.SHUT_WR)
        elif mode == 2:     # a random type byte with a well-formed length
            body = rng.randbytes(rng.randint(0, 64))
            c.send(bytes([rng.randint(0, 255)]) + struct.pack("!I", len(body) + 4) + body)
        else:               # a real message type with a mangled body
            body = rng.randbytes(rng.randint(0, 16))
            c.send(rng.choice([b"P", b"B", b"E", b"D", b"C"]) + struct.pack("!I", len(body) + 4)
                   + body)
        if mode != 1:
            c.sock.shutdown(socket.SHUT_WR)
        assert c.closed()
        c.close()
    _healthy(pg)


def test_invalid_utf8_and_bad_lengths(pg):
    c = RawClient(pg.port)
    body = b"select '\xff\xfe'\x00"
    c.send(b"Q" + struct.pack("!I", len(body) + 4) + body)
    assert _error_or_closed(c) == "08P01"
    assert c.closed()
    c = RawClient(pg.port)
    c.send(b"Q" + struct.pack("!I", 2))                 # length below the minimum
    assert _error_or_closed(c) == "08P01"
    c = RawClient(pg.port)
    c.send(b"Q" + struct.pack("!I", 0x7FFFFFF0))        # claims 2 GB
    assert _error_or_closed(c) == "54000"
    c = RawClient(pg.port, startup=False)
    c.send(struct.pack("!II", 8, 0x00020000))           # protocol 2.0
    assert _error_or_closed(c) == "08P01"
    c = RawClient(pg.port, startup=False)
    c.send(StartupMessage(params={"database": "materialize"}).to_wire())   # no user
    assert _error_or_closed(c) == "28000"
    _healthy(pg)


def test_ten_megabyte_query_is_refused_and_others_keep_working(pg):
    other = psycopg.connect(pg.dsn(), autocommit=True)
    c = RawClient(pg.port)
    c.sock.settimeout(30)
    query = "select " + "1 + " * (10 * 1024 * 1024 // 4) + "1"
    with contextlib.suppress(ConnectionError, OSError):   # closed while we were still sending
        c.send(Query(query_string=query))
    assert _error_or_closed(c) == "54000"
    assert c.until()[-1] == (b"Z", b"I")            # the oversized query was skipped ...
    c.send(Query(query_string="select 5"))
    assert [k for k, _ in c.until()] == [b"T", b"D", b"C", b"Z"]   # ... and the session works
    assert other.execute("select 1").fetchone() == (1,)
    other.close()
    _healthy(pg)
