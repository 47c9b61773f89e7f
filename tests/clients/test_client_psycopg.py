"""psycopg 3 and psycopg2 against a real `eddy serve`."""

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

pytestmark = pytest.mark.integration


def test_autocommit_params_and_prepared_statements(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.kv (k int, v text, amount numeric(10,2))")
        for i in range(8):     # the 6th execution onwards runs a prepared _pg3_N statement
            conn.execute(f"INSERT INTO {schema}.kv VALUES (%s, %s, %s)",
                         (i, f"v{i}", Decimal(i) / 4))
        rows = conn.execute(f"SELECT k, v, amount FROM {schema}.kv WHERE k >= %s ORDER BY k",
                            (6,)).fetchall()
        assert rows == [(6, "v6", Decimal("1.50")), (7, "v7", Decimal("1.75"))]
        for _ in range(7):
            got = conn.execute(f"SELECT count(*) FROM {schema}.kv WHERE v = %s", ("v3",))
            assert got.fetchone() == (1,)
        with pytest.raises(psycopg.Error) as info:
            conn.execute(f"SELECT nope FROM {schema}.kv")
        assert info.value.sqlstate
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_explicit_transactions(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.tx (a int)")
    with psycopg.connect(eddy.dsn()) as conn:       # not autocommit: psycopg sends BEGIN
        conn.execute(f"SELECT count(*) FROM {schema}.tx")
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        conn.commit()
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        with pytest.raises(psycopg.Error):
            conn.execute(f"SELECT missing FROM {schema}.tx")
        assert conn.info.transaction_status == pq.TransactionStatus.INERROR
        conn.rollback()
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_server_side_cursor(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.many (a int)")
        conn.execute(f"INSERT INTO {schema}.many SELECT generate_series(1, 500)")
    with psycopg.connect(eddy.dsn()) as conn, conn.cursor(name="big") as cur:
        cur.itersize = 64
        cur.execute(f"SELECT a FROM {schema}.many ORDER BY a")
        assert [r[0] for r in cur] == list(range(1, 501))


def test_stream_of_a_subscribe_sees_an_insert_within_a_second(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.events (v int)")
        inserted_at = []

        def insert_later():
            time.sleep(0.5)
            with eddy.connect() as other:
                inserted_at.append(time.monotonic())
                other.execute(f"INSERT INTO {schema}.events VALUES (42)")

        threading.Thread(target=insert_later).start()
        cur = conn.cursor()
        for row in cur.stream(f"SUBSCRIBE {schema}.events"):
            seen_at = time.monotonic()
            assert row[1:] == (1, 42)          # mz_timestamp, mz_diff, v
            break
        assert seen_at - inserted_at[0] < 1.0
        assert conn.execute("SELECT 3").fetchone() == (3,)


def test_declare_fetch_subscribe_with_progress(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.p (v int)")
        conn.execute(f"INSERT INTO {schema}.p VALUES (1)")
        conn.execute("BEGIN")
        conn.execute(f"DECLARE c CURSOR FOR SUBSCRIBE {schema}.p WITH (PROGRESS)")
        cur = conn.execute("FETCH ALL c WITH (timeout = '2s')")
        names = [d.name for d in cur.description]
        assert names == ["mz_timestamp", "mz_progressed", "mz_diff", "v"]
        data = [r for r in cur.fetchall() if not r[1]]
        assert [(r[2], r[3]) for r in data] == [(1, 1)]
        conn.execute("CLOSE c")
        conn.execute("COMMIT")


def test_psycopg2_simple_protocol(eddy, schema):
    conn = psycopg2.connect(eddy.dsn())
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {schema}.p2 (a int, b text)")
    cur.execute(f"INSERT INTO {schema}.p2 VALUES (%s, %s), (%s, %s)", (1, "x'y", 2, None))
    cur.execute(f"SELECT a, b FROM {schema}.p2 ORDER BY a")
    assert cur.fetchall() == [(1, "x'y"), (2, None)]
    with pytest.raises(psycopg2.Error):
        cur.execute(f"SELECT * FROM {schema}.does_not_exist")
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    conn.close()


def test_subscribe_up_to_completes_over_copy_simple_and_extended_protocols(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.u (a int)")
        conn.execute(f"INSERT INTO {schema}.u VALUES (1), (2)")
        now = int(conn.execute("SELECT mz_now()").fetchone()[0])
        with conn.cursor().copy(f"COPY (SUBSCRIBE {schema}.u UP TO {now + 300}) TO STDOUT") as cp:
            lines = b"".join(bytes(chunk) for chunk in cp).decode().splitlines()
        assert sorted(line.split("\t", 1)[1] for line in lines) == ["1\t1", "1\t2"]
        rows = conn.execute(f"SUBSCRIBE {schema}.u UP TO {now + 300}").fetchall()
        assert sorted(r[1:] for r in rows) == [(1, 1), (1, 2)]
        cur = conn.cursor()
        streamed = list(cur.stream(f"SUBSCRIBE {schema}.u WITH (PROGRESS) UP TO {now + 300}"))
        assert [d.name for d in cur.description] == ["mz_timestamp", "mz_progressed", "mz_diff",
                                                     "a"]
        assert sorted(r[2:] for r in streamed if not r[1]) == [(1, 1), (1, 2)]


def test_slow_subscriber_gets_a_clear_error_and_the_engine_keeps_going(eddy, schema):
    with eddy.connect() as conn, eddy.connect() as writer:
        conn.execute(f"CREATE TABLE {schema}.flood (a int)")
        conn.execute("BEGIN")
        conn.execute(f"DECLARE c CURSOR FOR SUBSCRIBE {schema}.flood")
        writer.execute(f"INSERT INTO {schema}.flood SELECT generate_series(1, 250000)")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("FETCH 10 c WITH (timeout = '5s')")
        assert info.value.sqlstate == "53400" and "fell too far behind" in str(info.value)
        conn.execute("ROLLBACK")
        assert writer.execute(f"SELECT count(*) FROM {schema}.flood").fetchone() == (250000,)


def test_set_reports_parameter_status(eddy):
    with eddy.connect() as conn:
        conn.execute("SET application_name = 'eddy-test-app'")
        assert conn.info.parameter_status("application_name") == "eddy-test-app"
        assert conn.execute("SHOW application_name").fetchone() == ("eddy-test-app",)


def test_text_and_binary_formats_of_common_types(eddy):
    query = """SELECT 1::smallint, 2::int, 3::bigint, 1.5::real, 2.25::double precision,
        12.34::numeric(10,2), 'héllo'::text, true, DATE '2024-02-29',
        TIMESTAMP '2024-01-02 03:04:05.25', TIMESTAMPTZ '2024-01-02 03:04:05+00',
        INTERVAL '2 hours', '{"x": [1, 2]}'::jsonb, NULL::int,
        '12345678-1234-5678-1234-567812345678'::uuid"""
    expected = (1, 2, 3, 1.5, 2.25, Decimal("12.34"), "héllo", True, dt.date(2024, 2, 29),
                dt.datetime(2024, 1, 2, 3, 4, 5, 250000),
                dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), dt.timedelta(hours=2),
                {"x": [1, 2]}, None, uuid.UUID("12345678-1234-5678-1234-567812345678"))
    with eddy.connect() as conn:
        for binary in (False, True):
            assert conn.cursor(binary=binary).execute(query).fetchone() == expected, binary
