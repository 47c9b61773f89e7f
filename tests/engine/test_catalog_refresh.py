"""The system relations are refreshed incrementally after each DDL; the oracle is a full rebuild
of every system table from the same catalog on a fresh database."""

from __future__ import annotations

import duckdb
import pytest

from eddy.catalog import status, system
from eddy.engine import Engine

DDL = [
    "CREATE TABLE orders (id int, amount numeric(10,2), note text)",
    "CREATE VIEW big AS SELECT id, amount FROM orders WHERE amount > 10",
    "CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n, sum(amount) AS s FROM orders",
    "CREATE INDEX totals_n ON totals (n)",
    "COMMENT ON TABLE orders IS 'all orders'",
    "COMMENT ON COLUMN orders.note IS 'free text'",
    "CREATE SCHEMA analytics",
    "CREATE TABLE analytics.events (id int, at timestamptz)",
    "ALTER VIEW big RENAME TO large",           # rows change in place: a rewrite
    "CREATE VIEW small AS SELECT id FROM orders WHERE amount <= 10",
    "DROP VIEW small",                           # rows disappear
    "DROP INDEX totals_n",
    "CREATE TABLE last_one (x text)",            # rows only added again
]


def _tables(conn) -> dict[str, list[tuple]]:
    out = {}
    for (schema, name) in system.RELATIONS:
        if (schema, name) in status.LIVE_RELATIONS:
            continue
        table = system.physical(schema, name)
        out[f"{schema}.{name}"] = sorted(conn.execute(f"SELECT * FROM {table}").fetchall(),
                                         key=repr)
    return out


def _rebuilt(catalog) -> dict[str, list[tuple]]:
    fresh = duckdb.connect()
    system.refresh(fresh, catalog)
    return _tables(fresh)


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path / "state", tick_interval=None)
    yield e
    e.close()


def test_each_ddl_leaves_the_system_tables_equal_to_a_full_rebuild(engine):
    session = engine.session()
    for statement in DDL:
        session.execute(statement)
        got = _tables(engine.reader())
        assert got == _rebuilt(engine.catalog), statement
    names = {r[0] for r in engine.reader().execute(
        'SELECT name FROM "mz_catalog"."mz_views"').fetchall()}
    assert names == {"large"}


def test_a_rolled_back_refresh_is_not_remembered(engine):
    """A refresh whose transaction rolls back leaves the old tables; the next one must not
    trust what it wrote then."""
    session = engine.session()
    session.execute("CREATE TABLE a (x int)")
    conn = engine.state.conn
    with engine.lock:
        conn.execute("BEGIN")
        system.refresh(conn, [*engine.catalog, *_extra(engine, "ghost")])
        conn.execute("ROLLBACK")
    session.execute("CREATE TABLE b (x int)")
    got = _tables(engine.reader())
    assert got == _rebuilt(engine.catalog)
    assert "ghost" not in repr(got["mz_catalog.mz_tables"])


def test_restart_rewrites_only_what_changed_and_stays_equal(tmp_path):
    e = Engine(tmp_path / "state", tick_interval=None)
    e.session().execute("CREATE TABLE t (x int); CREATE VIEW v AS SELECT x FROM t")
    e.close()
    e = Engine(tmp_path / "state", tick_interval=None)
    try:
        assert _tables(e.reader()) == _rebuilt(e.catalog)
        e.session().execute("CREATE VIEW w AS SELECT x FROM v")
        assert _tables(e.reader()) == _rebuilt(e.catalog)
    finally:
        e.close()


def _extra(engine, name):
    from eddy.catalog.objects import CatalogObject
    last = max(o.oid for o in engine.catalog)
    return [CatalogObject("u999", last + 100, "materialize", "public", name, "table",
                          [("x", "integer", True)], f"CREATE TABLE {name} (x int)")]
