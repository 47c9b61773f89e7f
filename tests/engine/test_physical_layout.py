"""Key-indexed state (eddy.dataflow.keyed_state): state tables carry a key hash with an ART
index, lookups find a key's rows through it, and the layout keeps results exact (mixed key
types, NULL keys, retractions among equal keys) and survives restarts."""

from __future__ import annotations

from eddy.dataflow.runtime import TickContext
from eddy.engine import Engine


def _same(s, view: str, query: str) -> None:
    got = sorted(s.execute(f"SELECT * FROM {view}")[0].rows, key=repr)
    assert got == sorted(s.execute(query)[0].rows, key=repr)


def test_state_tables_are_indexed_by_key_hash():
    e = Engine(None, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE a (k int, x text); CREATE TABLE b (k int, y text)")
    s.execute("CREATE MATERIALIZED VIEW j AS SELECT a.x, b.y FROM a JOIN b ON a.k = b.k")
    oid = next(o.id for o in e.catalog if o.name == "j")
    indexed = {r[0] for r in e.state.conn.execute(
        "SELECT table_name FROM duckdb_indexes() WHERE schema_name = '_eddy' "
        "AND expressions = '[__h]'").fetchall()}
    # the output table and both sides' arrangements
    assert oid in indexed
    assert len([t for t in indexed if t.startswith(oid + "_n")]) == 2
    e.close()


def test_lookups_fetch_by_index_not_by_scan(monkeypatch):
    """DuckDB answers a state lookup from the index: the rows it reads for a few keys are
    the rows of those keys, not the table."""
    monkeypatch.setattr(TickContext, "profile_scans", True)
    e = Engine(None, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE f (id bigint, g bigint); CREATE TABLE d (g bigint, label text)")
    s.execute("INSERT INTO f SELECT i, i % 20000 FROM generate_series(1, 200000) AS x(i)")
    s.execute("INSERT INTO d SELECT i, 'l' || i FROM generate_series(0, 19999) AS x(i)")
    s.execute("CREATE MATERIALIZED VIEW j AS SELECT f.id, d.label FROM f JOIN d ON f.g = d.g")
    oid = next(o.id for o in e.catalog if o.name == "j")
    s.execute("UPDATE d SET label = 'x' WHERE g < 10")      # 10 keys, 10 fact rows each
    df = e.dataflows[oid]
    # d's arrangement (the 10 old rows, read and deleted), f's rows of the 10 keys (100),
    # the output rows retracted (100, read and deleted): a few hundred, not 200,000
    assert 200 <= df.rows_scanned <= 1_000, df.rows_scanned
    _same(s, "j", "SELECT f.id, d.label FROM f JOIN d ON f.g = d.g")
    e.close()


def test_join_keys_of_different_types():
    e = Engine(None, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE a (k int, x text); CREATE TABLE b (k bigint, y text); "
              "CREATE TABLE c (k double precision, z text); CREATE TABLE n (k numeric(10, 2), "
              "w text)")
    views = {
        "ab": "SELECT a.x, b.y FROM a JOIN b ON a.k = b.k",
        "ac": "SELECT a.x, c.z FROM a JOIN c ON c.k = a.k",
        "cn": "SELECT c.z, n.w FROM c JOIN n ON c.k = n.k",
    }
    for name, sql in views.items():
        s.execute(f"CREATE MATERIALIZED VIEW {name} AS {sql}")
    s.execute("INSERT INTO a VALUES (1, 'a1'), (2, 'a2'), (NULL, 'an')")
    s.execute("INSERT INTO b VALUES (1, 'b1'), (3000000000, 'big'), (NULL, 'bn')")
    s.execute("INSERT INTO c VALUES (1.0, 'c1'), (1.5, 'c15'), (2.0, 'c2'), (NULL, 'cn')")
    s.execute("INSERT INTO n VALUES (1.00, 'n1'), (1.50, 'n15'), (NULL, 'nn')")
    for name, sql in views.items():
        _same(s, name, sql)
    s.execute("DELETE FROM c WHERE k = 1.5; DELETE FROM a WHERE k = 2")
    s.execute("INSERT INTO b VALUES (2, 'b2'); INSERT INTO a VALUES (3000000000 % 7, 'a4')")
    for name, sql in views.items():
        _same(s, name, sql)
    e.close()


def test_null_keys_and_retractions_among_equal_keys():
    e = Engine(None, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (g int, v int)")
    views = {
        "mm": "SELECT g, min(v) AS lo, max(v) AS hi, count(*) AS n FROM t GROUP BY g",
        "w": "SELECT g, v, row_number() OVER (PARTITION BY g ORDER BY v) AS r FROM t",
        "dd": "SELECT DISTINCT ON (g) g, v FROM t ORDER BY g, v DESC",
    }
    for name, sql in views.items():
        s.execute(f"CREATE MATERIALIZED VIEW {name} AS {sql}")
    s.execute("INSERT INTO t VALUES (1, 5), (1, 5), (1, 7), (NULL, 1), (NULL, 9), (2, 3)")
    s.execute("DELETE FROM t WHERE v = 9")          # a NULL group loses its max
    s.execute("UPDATE t SET v = 6 WHERE g = 1 AND v = 7")
    s.execute("INSERT INTO t VALUES (1, 5), (NULL, 0)")
    for name, sql in views.items():
        _same(s, name, sql)
    e.close()


def test_restart_keeps_indexed_state_and_rebuilds_an_unindexed_one(tmp_path):
    views = {
        "j": "SELECT a.k, a.x, b.y FROM a JOIN b ON a.k = b.k",
        "w": "SELECT k, x, count(*) OVER (PARTITION BY k) AS n FROM a",
    }
    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE a (k int, x text); CREATE TABLE b (k int, y text)")
    for name, sql in views.items():
        s.execute(f"CREATE MATERIALIZED VIEW {name} AS {sql}")
    s.execute("INSERT INTO a VALUES (1, 'a'), (2, 'b'); INSERT INTO b VALUES (1, 'x')")
    oid = next(o.id for o in e.catalog if o.name == "j")
    e.close()

    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("DELETE FROM a WHERE k = 1; INSERT INTO b VALUES (2, 'y')")
    for name, sql in views.items():
        _same(s, name, sql)
    # state written by an engine without key-indexed tables: rebuilt at the next start
    conn = e.state.conn
    conn.execute(f'DROP INDEX "_eddy"."{oid}_h"')
    conn.execute(f'ALTER TABLE "_eddy"."{oid}" DROP COLUMN __h')
    e.close()

    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("INSERT INTO a VALUES (2, 'c'); DELETE FROM b WHERE k = 1")
    for name, sql in views.items():
        _same(s, name, sql)
    assert e.dataflows[oid].error is None
    e.close()
