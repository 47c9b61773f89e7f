"""What a PostgreSQL/Materialize client sees: output column names, aggregate result types,
interval literals, session functions, SUBSCRIBE AS OF and ALTER ... RENAME of dependants."""

from __future__ import annotations

from decimal import Decimal

import pytest

from eddy.engine import Engine
from eddy.errors import EddyError
from eddy.sql.intervals import Interval


@pytest.fixture
def engine():
    e = Engine(None, tick_interval=None)
    yield e
    e.close()


@pytest.fixture
def session(engine):
    s = engine.session()
    s.execute("CREATE TABLE t (i int, s smallint, b bigint, g text)")
    s.execute("INSERT INTO t VALUES (1, 2, 3, 'a'), (4, 5, 6, 'a'), (7, 8, 9, 'b')")
    yield s
    s.close()


def names(session, sql):
    return [c.name for c in session.execute(sql)[-1].columns]


def types(session, sql):
    return [c.type_name for c in session.execute(sql)[-1].columns]


def test_unnamed_select_items_get_postgres_names(session):
    assert names(session, "SELECT sum(i), count(*), max(g) FROM t") == ["sum", "count", "max"]
    assert names(session, "SELECT 1 + 1, 1::int4, 'x'::text, i + 1, i FROM t") == \
        ["?column?", "int4", "text", "?column?", "i"]
    assert names(session, "SELECT count(*) FROM mz_objects") == ["count"]
    assert names(session, "SELECT interval '1 day'") == ["interval"]


def test_maintained_view_columns_get_postgres_names(session):
    session.execute("CREATE MATERIALIZED VIEW mv AS SELECT g, count(*), sum(i) FROM t GROUP BY g")
    assert names(session, "SELECT * FROM mv") == ["g", "count", "sum"]
    cols = session.execute("SELECT c.name, c.type FROM mz_columns c JOIN mz_objects o "
                           "ON c.id = o.id WHERE o.name = 'mv' ORDER BY c.position")[0].rows
    assert cols == [("g", "text"), ("count", "bigint"), ("sum", "bigint")]


def test_sum_and_avg_have_materialize_types(session):
    sql = "SELECT sum(i), sum(s), sum(b), avg(i), avg(b), sum(i::float8) FROM t"
    assert types(session, sql) == ["bigint", "bigint", "numeric", "numeric", "numeric",
                                   "double precision"]
    assert session.execute(sql)[0].rows == [(12, 15, Decimal(18), Decimal(4), Decimal(6), 12.0)]
    assert session.execute("SELECT pg_typeof(sum(i)), pg_typeof(sum(b)), pg_typeof(avg(i)) "
                           "FROM t")[0].rows == [("bigint", "numeric", "numeric")]
    session.execute("CREATE MATERIALIZED VIEW a AS SELECT g, sum(i) AS si, avg(i) AS ai "
                    "FROM t GROUP BY g")
    assert types(session, "SELECT * FROM a") == ["text", "bigint", "numeric"]
    assert sorted(session.execute("SELECT * FROM a")[0].rows) == [
        ("a", 5, Decimal("2.5")), ("b", 7, Decimal(7))]


@pytest.mark.parametrize(("text", "expected"), [
    ("1 day 02:03:04", Interval(0, 1, 7_384_000_000)),
    ("02:03:04", Interval(0, 0, 7_384_000_000)),
    ("-1 day +02:00", Interval(0, -1, 7_200_000_000)),
    ("1.5 hours", Interval(0, 0, 5_400_000_000)),
    ("1.5 days", Interval(0, 1, 43_200_000_000)),
    ("P1DT2H", Interval(0, 1, 7_200_000_000)),
    ("3 days 4 hours 5 minutes", Interval(0, 3, 14_700_000_000)),
    ("2 weeks ago", Interval(0, -14, 0)),
])
def test_interval_literals_and_casts_are_exact(session, text, expected):
    row = session.execute(f"SELECT interval '{text}', '{text}'::interval, "
                          f"CAST('{text}' AS interval)")[0].rows[0]
    assert row == (expected, expected, expected)


def test_interval_with_months_and_invalid_input(session):
    assert session.execute("SELECT (interval '1 year 2 mons')::text, "
                           "(interval '1 mon -1 day 02:00')::text")[0].rows == [
        ("1 year 2 months", "1 month -1 days +02:00:00")]   # as the interval prints
    with pytest.raises(EddyError) as info:
        session.execute("SELECT interval '1 fortnight'")
    assert info.value.sqlstate == "22007"


def test_session_functions(session):
    assert session.execute("SELECT current_schema(), current_database(), current_user")[0] \
        .rows == [("public", "materialize", "materialize")]
    assert names(session, "SELECT current_schema, current_database()") == \
        ["current_schema", "current_database"]
    session.execute("CREATE SCHEMA s2")
    session.execute("SET search_path = nosuch, s2, public")
    assert session.execute("SELECT current_schema()")[0].rows == [("s2",)]
    session.execute("SET search_path = nosuch")
    assert session.execute("SELECT current_schema()")[0].rows == [(None,)]


def test_subscribe_as_of_past_fails_and_future_waits(engine, session):
    engine.tick(1_000_000)
    now = engine.last_ts
    with pytest.raises(EddyError) as info:
        session.execute(f"SUBSCRIBE t AS OF {now - 1}")
    assert info.value.sqlstate == "22023"
    assert str(now - 1) in info.value.message and str(now) in info.value.message

    sub = session.execute(f"SUBSCRIBE (SELECT i FROM t WHERE i > 5) AS OF {now + 10}")[0] \
        .subscription
    assert sub.fetch(timeout=0.05) == []       # AS OF not reached: nothing yet
    engine.tick(now + 5)
    session.execute("INSERT INTO t VALUES (10, 0, 0, 'c')")     # before AS OF: in the snapshot
    engine.tick(now + 10)
    session.execute("DELETE FROM t WHERE i = 7")                 # at AS OF: in the snapshot
    assert sub.fetch(timeout=0.05) == []
    engine.tick(now + 11)
    assert sub.fetch(timeout=0.5) == [(now + 10, 1, 10)]
    session.execute("INSERT INTO t VALUES (11, 0, 0, 'c')")
    engine.tick(now + 12)
    assert sub.fetch(timeout=0.5) == [(now + 11, 1, 11)]
    sub.close()
    current = session.execute(f"SUBSCRIBE t AS OF {engine.last_ts}")[0].subscription
    assert len(current.fetch(timeout=0.5)) == 4
    current.close()


def test_rename_rewrites_dependants_and_survives_restart(tmp_path):
    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)")
    s.execute("CREATE VIEW v AS SELECT t.x FROM t WHERE x > 1")
    s.execute("CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM public.t")
    s.execute("CREATE INDEX i ON t (x)")
    s.execute("ALTER TABLE t RENAME TO t2")
    e.close()

    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    shown = {n: s.execute(f"SHOW CREATE {k} {n}")[0].rows[0][1]
             for k, n in (("VIEW", "v"), ("MATERIALIZED VIEW", "mv"), ("INDEX", "i"))}
    for text in shown.values():
        assert '"t2"' in text and " t " not in text + " "
    assert s.execute("SELECT * FROM v")[0].rows == [(2,)]
    # the stored statements are valid SQL again: replaying them rebuilds the same objects
    s.execute("DROP MATERIALIZED VIEW mv; DROP VIEW v; DROP INDEX i")
    for text in shown.values():
        s.execute(text)
    s.execute("INSERT INTO t2 VALUES (3)")
    assert sorted(s.execute("SELECT * FROM v")[0].rows) == [(2,), (3,)]
    assert s.execute("SELECT n FROM mv")[0].rows == [(3,)]
    e.close()
