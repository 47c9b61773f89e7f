"""Core engine: tables, writes, materialized views kept up to date, ticks, catalog."""

from __future__ import annotations

from decimal import Decimal

import pytest

from eddy.engine import Engine
from eddy.errors import EddyError


@pytest.fixture
def session():
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    yield s
    s.close()
    engine.close()


def rows(session, sql):
    return session.execute(sql)[-1].rows


def test_table_insert_update_delete_and_select(session):
    session.execute("CREATE TABLE t (a int, b text)")
    r = session.execute("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (2, 'y')")
    assert r[0].tag == "INSERT 0 3"
    assert rows(session, "SELECT a, b FROM t ORDER BY a") == [(1, "x"), (2, "y"), (2, "y")]
    assert session.execute("UPDATE t SET a = a + 10 WHERE b = 'y'")[0].tag == "UPDATE 2"
    assert session.execute("DELETE FROM t WHERE a = 1")[0].tag == "DELETE 1"
    assert rows(session, "SELECT a, b FROM t") == [(12, "y"), (12, "y")]
    res = session.execute("SELECT a FROM t LIMIT 1")[0]
    assert res.columns[0].name == "a" and res.columns[0].type_oid == 23


def test_materialized_view_filter_project_group_by(session):
    session.execute("CREATE TABLE t (a int, b text, c numeric(10,2))")
    session.execute("INSERT INTO t VALUES (1, 'x', 1.5), (2, 'y', 2.5), (3, 'x', NULL)")
    session.execute("CREATE MATERIALIZED VIEW mv AS SELECT b, count(*) AS n, sum(c) AS s "
                    "FROM t WHERE a > 1 OR b = 'x' GROUP BY b")
    assert rows(session, "SELECT * FROM mv ORDER BY b") == [("x", 2, Decimal("1.50")),
                                                            ("y", 1, Decimal("2.50"))]
    session.execute("INSERT INTO t VALUES (4, 'y', 10)")
    assert rows(session, "SELECT * FROM mv WHERE b = 'y'") == [("y", 2, Decimal("12.50"))]
    session.execute("DELETE FROM t WHERE b = 'y'")
    assert rows(session, "SELECT b FROM mv") == [("x",)]
    session.execute("UPDATE t SET c = 4 WHERE a = 3")
    assert rows(session, "SELECT s FROM mv") == [(Decimal("5.50"),)]


def test_views_on_views_and_multiple_statements(session):
    out = session.execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2), (3);"
                          "CREATE VIEW v AS SELECT a * 2 AS d FROM t;"
                          "CREATE MATERIALIZED VIEW m AS SELECT sum(d) AS total FROM v;"
                          "SELECT total FROM m")
    assert [r.tag for r in out][:4] == ["CREATE TABLE", "INSERT 0 3", "CREATE VIEW",
                                        "CREATE MATERIALIZED VIEW"]
    assert out[-1].rows == [(12,)]
    session.execute("INSERT INTO t VALUES (10)")
    assert rows(session, "SELECT total FROM m") == [(32,)]


def test_errors_have_sqlstates(session):
    session.execute("CREATE TABLE t (a int)")
    with pytest.raises(EddyError) as e:
        session.execute("SELECT * FROM nope")
    assert e.value.sqlstate == "42P01"
    with pytest.raises(EddyError) as e:
        session.execute("CREATE TABLE t (b int)")
    assert e.value.sqlstate == "42P07"
    with pytest.raises(EddyError) as e:
        session.execute("SELECT 1/0")
    assert e.value.sqlstate == "22012"


def test_tick_advances_time(session):
    engine = session.engine
    assert engine.tick(1000) == 1000
    assert engine.tick(5000) == 5000
    assert rows(session, "SELECT mz_now()") == [(5000,)]


def test_jsonb_arrow_inside_function_arguments(session):
    """`f(data -> 'k')` is the jsonb operator, not a lambda."""
    session.execute("CREATE TABLE src (data jsonb)")
    session.execute("""INSERT INTO src VALUES ('{"id": "a", "n": 2}'), ('{"id": 5}')""")
    query = ("SELECT data ->> 'id' AS id FROM src "
             "WHERE coalesce(jsonb_typeof(data -> 'id') = 'string', false)")
    session.execute(f"CREATE MATERIALIZED VIEW ok AS {query}")
    assert rows(session, "SELECT * FROM ok") == [("a",)]
    assert rows(session, query) == [("a",)]
