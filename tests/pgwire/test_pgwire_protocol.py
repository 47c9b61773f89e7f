"""The protocol layer against real clients (psycopg 3, psycopg2, raw messages), on a fake engine.

The engine here is tests/pgwire/fake_engine.py (plain DuckDB), so these tests pin the wire
behaviour only; tests/clients runs the same clients against a real `eddy serve`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from decimal import Decimal

import psycopg
import psycopg2
import pytest
from psycopg import pq
from pygwire.messages import Bind, Close, Describe, Execute, Flush, Parse, Query, Sync
from rawclient import RawClient, data_values, error_code, kinds


def test_simple_query_several_statements_and_errors_keep_session(pg):
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        assert conn.info.parameter_status("mz_version").startswith("v0.130.0")
        assert conn.info.parameter_status("standard_conforming_strings") == "on"
        assert conn.info.parameter_status("DateStyle") == "ISO, MDY"
        conn.execute("create table t (a int, b varchar); insert into t values (1, 'x'), (2, 'y')")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select * from missing_table")
        assert info.value.sqlstate == "42000"
        assert conn.execute("select count(*) from t").fetchone() == (2,)


def test_parameters_prepared_statements_and_transaction_status(pg):
    with psycopg.connect(pg.dsn()) as conn:
        conn.execute("create table t (a int, b varchar)")
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        for i in range(8):          # psycopg prepares after 5 executions (_pg3_N)
            conn.execute("insert into t values (%s, %s)", (i, f"v{i}"))
        assert conn.execute("select b from t where a = %s", (7,)).fetchone() == ("v7",)
        with pytest.raises(psycopg.Error):
            conn.execute("select nope from t")
        assert conn.info.transaction_status == pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("select 1")
        conn.rollback()
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.execute("select count(*) from t").fetchone() == (8,)


def test_binary_and_text_formats_round_trip_common_types(pg):
    query = """select 1::smallint, 2::int, 3::bigint, 1.5::real, 2.25::double, 12.34::decimal(10,2),
        'héllo'::varchar, true, date '2024-02-29', timestamp '2024-01-02 03:04:05.25',
        timestamptz '2024-01-02 03:04:05+00', interval '1 day 02:03:04',
        uuid '12345678-1234-5678-1234-567812345678', null::int, (-0.0001)::decimal(10,4)"""
    expected = (1, 2, 3, 1.5, 2.25, Decimal("12.34"), "héllo", True, dt.date(2024, 2, 29),
                dt.datetime(2024, 1, 2, 3, 4, 5, 250000),
                dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                dt.timedelta(days=1, hours=2, minutes=3, seconds=4),
                uuid.UUID("12345678-1234-5678-1234-567812345678"), None, Decimal("-0.0001"))
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        for binary in (False, True):
            row = conn.cursor(binary=binary).execute(query).fetchone()
            assert row == expected, f"binary={binary}"
        got = conn.execute("select %s::int + 1, %s::varchar, %s::date", (41, "it's", dt.date(2020, 1, 1)),
                           binary=True).fetchone()
        assert got == (42, "it's", dt.date(2020, 1, 1))


def test_psycopg2_simple_protocol(pg):
    conn = psycopg2.connect(pg.dsn())
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("create table p (a int, b varchar)")
    cur.execute("insert into p values (%s, %s)", (1, "o'neil"))
    cur.execute("select a, b from p where b = %s", ("o'neil",))
    assert cur.fetchall() == [(1, "o'neil")]
    with pytest.raises(psycopg2.Error):
        cur.execute("select * from nothing_here")
    cur.execute("select 2")
    assert cur.fetchone() == (2,)
    conn.close()


def test_server_side_cursors(pg):
    with psycopg.connect(pg.dsn()) as conn:
        conn.execute("create table big as select range as a from range(1000)")
        with conn.cursor(name="c1") as cur:
            cur.itersize = 100
            cur.execute("select a from big order by a")
            assert [r[0] for r in cur] == list(range(1000))
    conn2 = psycopg2.connect(pg.dsn())
    cur = conn2.cursor(name="c2")
    cur.execute("select 1 as x union all select 2")
    assert cur.fetchmany(1) == [(1,)]
    assert cur.fetchall() == [(2,)]
    conn2.close()


def test_extended_protocol_row_limits_named_portals_and_skip_to_sync(pg):
    c = RawClient(pg.port)
    c.send(Query(query_string="create table r as select range as a from range(5)"))
    c.until()
    c.send(Parse(statement="s1", query="select a from r where a >= $1 order by a",
                 param_types=[23]),
           Describe(kind="S", name="s1"),
           Bind(portal="p1", statement="s1", param_values=[b"1"], result_formats=[0]),
           Execute(portal="p1", max_rows=2), Execute(portal="p1", max_rows=2),
           Execute(portal="p1", max_rows=2), Close(kind="P", name="p1"), Sync())
    msgs = c.until()
    assert kinds(msgs) == b"1tT2DDsDDCC3Z"   # completion is reported as soon as known
    rows = [data_values(p)[0] for k, p in msgs if k == b"D"]
    assert rows == [b"1", b"2", b"3", b"4"]
    assert [p for k, p in msgs if k == b"C"][0] == b"SELECT 4\x00"
    # An error skips everything up to Sync, then the session works again.
    c.send(Parse(query="select * from nope"), Bind(), Execute(), Sync())
    msgs = c.until()
    assert kinds(msgs) == b"12EZ"           # statements are checked when they first run
    c.send(Bind(statement="s1", param_values=[b"4"]), Execute(), Flush())
    assert kinds([c.read(), c.read(), c.read()]) == b"2DC"
    c.send(Sync())
    assert c.until()[-1][0] == b"Z"
    c.close()


def test_subscribe_declare_fetch_close_and_timeout(pg):
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("create table s (a int)")
        conn.execute("insert into s values (1)")
        conn.execute("begin")
        conn.execute("declare c cursor for subscribe s")
        rows = conn.execute("fetch all c with (timeout = '1s')").fetchall()
        assert [r[2] for r in rows] == [1] and rows[0][1] == 1
        t0 = time.monotonic()
        assert conn.execute("fetch 10 c with (timeout = '0.3s')").fetchall() == []
        assert 0.25 <= time.monotonic() - t0 < 2
        with psycopg.connect(pg.dsn(), autocommit=True) as other:
            other.execute("insert into s values (2)")
        rows = conn.execute("fetch 10 c with (timeout = '1s')").fetchall()
        assert [(r[1], r[2]) for r in rows] == [(1, 2)]
        conn.execute("close c")
        conn.execute("commit")
        with pytest.raises(psycopg.Error):
            conn.execute("fetch 1 c")


def test_stream_subscribe_sees_insert_within_a_second_and_cancel(pg):
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("create table s (a int)")
        got, seen_at = [], []

        def insert_later():
            time.sleep(0.5)
            with psycopg.connect(pg.dsn(), autocommit=True) as other:
                seen_at.append(time.monotonic())
                other.execute("insert into s values (42)")

        threading.Thread(target=insert_later).start()
        for row in conn.cursor().stream("subscribe s"):
            got.append(row)
            seen_at.append(time.monotonic())
            break
        assert got[0][1:] == (1, 42)
        assert seen_at[1] - seen_at[0] < 1.0
        assert conn.execute("select 7").fetchone() == (7,)
        assert not pg.engine.subscribers       # leaving the stream closed the subscription


def test_copy_to_stdout_of_query_and_subscribe(pg):
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("create table s (a int, b varchar)")
        conn.execute("insert into s values (1, 'tab\there'), (2, null)")
        with conn.cursor().copy("copy (select a, b from s order by a) to stdout") as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        assert data == b"1\ttab\\there\n2\t\\N\n"
        with conn.cursor().copy("copy s (b, a) to stdout with (format text)") as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        assert sorted(data.splitlines()) == [b"\\N\t2", b"tab\\there\t1"]
        with pytest.raises(psycopg.errors.FeatureNotSupported), \
                conn.cursor().copy("copy s to stdout with (format csv)") as copy:
            list(copy)
        lines = []
        with pytest.raises(psycopg.errors.QueryCanceled), \
                conn.cursor().copy("copy (subscribe s) to stdout") as copy:
            for chunk in copy:     # a SUBSCRIBE copy runs until canceled
                lines += bytes(chunk).decode().splitlines()
                if len(lines) >= 2:
                    conn.cancel_safe()
        assert sorted(line.split("\t", 2)[2] for line in lines) == ["1\ttab\\there", "2\t\\N"]
        assert not pg.engine.subscribers
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_cancel_request_interrupts_a_waiting_fetch(pg):
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("create table s (a int)")
        conn.execute("declare c cursor for subscribe s")
        threading.Timer(0.5, conn.cancel_safe).start()
        t0 = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("fetch 1 c")
        assert time.monotonic() - t0 < 3
        assert conn.execute("select 1").fetchone() == (1,)


def test_slow_session_does_not_block_others(pg):
    slow = psycopg.connect(pg.dsn(), autocommit=True)
    thread = threading.Thread(target=slow.execute, args=("sleep 2",))
    thread.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    with psycopg.connect(pg.dsn(), autocommit=True) as fast:
        assert fast.execute("select 1").fetchone() == (1,)
    assert time.monotonic() - t0 < 1.0
    thread.join()
    slow.close()


@pytest.mark.parametrize("method", ["scram-sha-256", "md5"])
def test_password_authentication(make_pg, method):
    server = make_pg(password="s3cret pw", auth_method=method)
    with psycopg.connect(server.dsn(password="'s3cret pw'")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(server.dsn(password="wrong"))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn())


def test_raw_startup_ssl_refused_and_error_codes(pg):
    c = RawClient(pg.port, startup=False)
    c.send(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")       # SSLRequest
    assert c.recv_exact(1) == b"N"
    c.close()
    c = RawClient(pg.port)
    c.send(Query(query_string="select 1 as x; select * from nope; select 2"))
    msgs = c.until()
    assert kinds(msgs) == b"TDCEZ"          # the statement after the error does not run
    assert error_code(msgs[3][1]) == "42000"
    c.send(Query(query_string=""))
    assert kinds(c.until()) == b"IZ"
    c.close()


def test_quiet_subscription_is_closed_when_the_client_hangs_up(pg):
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("create table q (a int)")
    c = RawClient(pg.port)
    c.send(Query(query_string="copy (subscribe q) to stdout"))
    assert c.read()[0] == b"H"                      # CopyOutResponse; no rows will come
    assert len(pg.engine.subscribers) == 1
    c.close()
    deadline = time.monotonic() + 3
    while pg.engine.subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pg.engine.subscribers
