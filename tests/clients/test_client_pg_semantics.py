"""Through `eddy serve` + psycopg: column names, aggregate types, intervals and session
functions as a PostgreSQL client sees them (names and OIDs in RowDescription, text values)."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.integration

INT8, NUMERIC, TEXT = 20, 1700, 25


def test_column_names_and_types_over_the_wire(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.t (x int, g text)")
        conn.execute(f"INSERT INTO {schema}.t VALUES (1, 'a'), (2, 'a'), (5, 'b')")
        cur = conn.execute(f"SELECT sum(x), count(*), avg(x), 1 + 1, x::int8, 1::int8 FROM {schema}.t "
                           "GROUP BY x ORDER BY x LIMIT 1")
        assert [(d.name, d.type_code) for d in cur.description] == [
            ("sum", INT8), ("count", INT8), ("avg", NUMERIC), ("?column?", 23), ("x", INT8),
            ("int8", INT8)]
        assert [d.name for d in conn.execute("SELECT count(*) FROM mz_objects").description] \
            == ["count"]
        conn.execute(f"CREATE MATERIALIZED VIEW {schema}.mv AS "
                     f"SELECT g, count(*), sum(x) FROM {schema}.t GROUP BY g")
        cur = conn.execute(f"SELECT * FROM {schema}.mv ORDER BY g")
        assert [(d.name, d.type_code) for d in cur.description] == [
            ("g", TEXT), ("count", INT8), ("sum", INT8)]
        assert cur.fetchall() == [("a", 2, 3), ("b", 1, 5)]
        assert conn.execute(f"SELECT pg_typeof(sum(x)) FROM {schema}.t").fetchone() == \
            ("bigint",)


def test_interval_literals_exact_and_postgres_formatted(eddy):
    with eddy.connect() as conn:
        cur = conn.execute("SELECT interval '1 day 02:03:04', '1.5 days'::interval, "
                           "interval '1.5 hours', interval '-1 day +02:00'")
        assert cur.fetchone() == (dt.timedelta(days=1, seconds=7384),
                                  dt.timedelta(days=1, hours=12), dt.timedelta(minutes=90),
                                  dt.timedelta(days=-1, hours=2))
        raw = [cur.pgresult.get_value(0, i).decode() for i in range(3)]
        assert raw == ["1 day 02:03:04", "1 day 12:00:00", "01:30:00"]


def test_session_functions(eddy, schema):
    with eddy.connect() as conn:
        row = conn.execute("SELECT current_schema(), current_database(), current_user").fetchone()
        assert row == ("public", "materialize", "materialize")
        conn.execute(f"SET search_path = nosuch, {schema}")
        assert conn.execute("SELECT current_schema()").fetchone() == (schema,)
