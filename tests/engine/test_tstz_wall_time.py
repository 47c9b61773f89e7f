"""extract of a calendar field of a timestamptz, and its date, read the UTC wall time
(`mz_tstz_wall`): the same values as DuckDB's calendar gave before the rule, in one-off reads and
maintained views, for times before 1970 and before 1582 too, NULL and infinity."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import duckdb
import sqlglot

import eddy.sql.dialect as dialect
from eddy.engine import Engine
from eddy.sql import dialect_memo
from eddy.sql.functions import install

FIELDS = ["year", "month", "day", "hour", "minute", "second", "milliseconds", "microseconds",
          "dow", "isodow", "doy", "week", "quarter", "decade", "century", "millennium",
          "isoyear", "epoch"]
ITEMS = ", ".join([f"extract({f} FROM ts) AS e_{f}" for f in FIELDS]
                  + ["date_part('hour', ts) AS p_hour", "ts::date AS d", "CAST(ts AS date) AS d2",
                     "date(ts) AS d3"])
QUERY = f"SELECT i, {ITEMS} FROM t"
SCHEMA = {"t": {"i": "integer", "ts": "timestamptz"}}


def _times(n: int) -> list[datetime]:
    rnd = random.Random(3)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    out = [datetime(1, 1, 1, tzinfo=UTC), datetime(1000, 6, 1, 12, tzinfo=UTC),
           datetime(1582, 10, 10, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999_999,
                                                        tzinfo=UTC),
           datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)]
    out += [base + timedelta(microseconds=rnd.randrange(-6 * 10**16, 10**16)) for _ in range(n)]
    return out


def _translated(monkeypatch, with_rule: bool) -> str:
    monkeypatch.setattr(dialect_memo, "get", lambda key: None)
    rules = dialect.RULES if with_rule else tuple(
        r for r in dialect.RULES if r.__name__ != "timestamptz_wall_time")
    monkeypatch.setattr(dialect, "RULES", rules)
    sql = dialect.to_duckdb(sqlglot.parse_one(QUERY, read="postgres"), SCHEMA).sql("duckdb")
    monkeypatch.undo()
    return sql


def test_wall_time_equals_the_calendar_before_the_rule(monkeypatch):
    new, old = _translated(monkeypatch, True), _translated(monkeypatch, False)
    assert new.lower().count("mz_tstz_wall(") == len(FIELDS) - 1 + 1 + 3   # not epoch
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    install(con)
    con.execute("CREATE TABLE t (i INT, ts TIMESTAMPTZ)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(_times(400))))
    con.execute("INSERT INTO t VALUES (-1, NULL), (-2, 'infinity'), (-3, '-infinity')")
    got, want = con.execute(f"{new} ORDER BY 1").fetchall(), con.execute(f"{old} ORDER BY 1").fetchall()
    assert len(got) == 408
    assert got == want


def test_reads_and_views_agree():
    times = _times(200)
    e = Engine(None, tick_interval=None)
    try:
        s = e.session()
        s.execute("CREATE TABLE t (i int, ts timestamptz)")
        s.execute(f"CREATE MATERIALIZED VIEW mv AS {QUERY}")
        for i, t in enumerate(times):
            s.execute("INSERT INTO t VALUES ($1, $2)", [i, t])
        read = sorted(s.execute(QUERY)[0].rows)
        view = sorted(s.execute("SELECT * FROM mv")[0].rows)
    finally:
        e.close()
    assert read == view
    by_id = {r[0]: r for r in read}
    for i, t in enumerate(times):
        row = dict(zip(["i", *[f"e_{f}" for f in FIELDS], "p_hour", "d", "d2", "d3"], by_id[i],
                       strict=True))
        assert (row["e_year"], row["e_month"], row["e_day"], row["e_hour"]) == (
            t.year, t.month, t.day, t.hour), t
        assert row["d"] == row["d2"] == row["d3"] == t.date(), t
        assert abs(float(row["e_second"]) - (t.second + t.microsecond / 1e6)) < 1e-9, t
