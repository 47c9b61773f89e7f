"""date_trunc of a timestamptz to a unit of fixed length (microsecond to day) is epoch arithmetic
(`mz_tstz_trunc`), equal to DuckDB's calendar truncation in UTC, in one-off reads and maintained
views, before 1970 too; longer units keep DuckDB's date_trunc."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
import sqlglot

from eddy.engine import Engine
from eddy.sql.dialect import to_duckdb
from eddy.sql.functions import install

UNITS = ["microseconds", "millisecond", "second", "secs", "minute", "min", "hour", "h", "day",
         "days", "week", "month", "year"]
# DuckDB's own names for the units above (it knows no "secs", "min" or "h")
UTC_UNITS = ["microseconds", "millisecond", "second", "second", "minute", "minute", "hour",
             "hour", "day", "day", "week", "month", "year"]


def _times(n: int) -> list[datetime]:
    rnd = random.Random(7)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    out = [datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
           datetime(1970, 1, 1, tzinfo=UTC), datetime(1900, 3, 1, 0, 0, 0, 1, tzinfo=UTC)]
    for _ in range(n):
        t = base + timedelta(microseconds=rnd.randrange(-4 * 10**16, 10**16))
        edge = t.replace(second=0, microsecond=0)
        out.append(rnd.choice([t, edge, edge - timedelta(microseconds=1), edge.replace(minute=0)]))
    return out


def _duckdb_truncs(times: list[datetime]) -> dict[int, tuple]:
    """The oracle: DuckDB's own date_trunc (its calendar, ICU) in UTC."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE t (i INT, ts TIMESTAMPTZ)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(times)))
    items = ", ".join(f"date_trunc('{u}', ts)" for u in UTC_UNITS)
    return {r[0]: r[1:] for r in con.execute(f"SELECT i, {items} FROM t").fetchall()}



def test_truncation_equals_duckdb_calendar_in_reads_and_views():
    times = _times(300)
    expected = _duckdb_truncs(times)
    e = Engine(None, tick_interval=None)
    try:
        s = e.session()
        s.execute("CREATE TABLE t (i int, ts timestamptz)")
        items = ", ".join(f"date_trunc('{u}', ts) AS u{n}" for n, u in enumerate(UNITS))
        s.execute(f"CREATE MATERIALIZED VIEW mv AS SELECT i, {items} FROM t")
        for i, t in enumerate(times):
            s.execute("INSERT INTO t VALUES ($1, $2)", [i, t])
        s.execute("INSERT INTO t VALUES (-1, NULL)")
        read = {r[0]: r[1:] for r in s.execute(f"SELECT i, {items} FROM t")[0].rows}
        view = {r[0]: r[1:] for r in s.execute("SELECT * FROM mv")[0].rows}
    finally:
        e.close()
    assert read == view
    assert read.pop(-1) == (None,) * len(UNITS)
    assert read == expected


def test_fixed_units_take_the_epoch_arithmetic():
    tree = sqlglot.parse_one("SELECT " + ", ".join(f"date_trunc('{u}', ts)" for u in UNITS)
                             + ", date_trunc('minute', d), date_trunc('minute', tsn) FROM t",
                             read="postgres")
    sql = to_duckdb(tree, {"t": {"ts": "timestamptz", "d": "date", "tsn": "timestamp"}}
                    ).sql("duckdb").lower()
    # the ten fixed units of ts and the date (cast to timestamptz); week, month, year and
    # the timestamp without time zone (no calendar cost) keep DuckDB's date_trunc
    assert sql.count("mz_tstz_trunc(") == 11, sql
    assert sql.count("date_trunc(") == 4, sql


@pytest.mark.parametrize("value", ["infinity", "-infinity"])
def test_infinity_stays_itself(value):
    con = duckdb.connect()
    install(con)
    got = con.execute(f"SELECT mz_tstz_trunc('{value}'::timestamptz, 60000000) = "
                      f"'{value}'::timestamptz").fetchone()[0]
    assert got is True
