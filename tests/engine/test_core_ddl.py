"""DDL: drop with and without CASCADE, rename, swap, indexes, SHOW, comments, errors."""

from __future__ import annotations

import pytest

from eddy.engine import Engine
from eddy.errors import EddyError


@pytest.fixture
def s():
    engine = Engine(None, tick_interval=None)
    session = engine.session()
    session.execute("CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, 'x'), (2, 'y')")
    yield session
    engine.close()


def names(s, what):
    return [r[0] for r in s.execute(f"SHOW {what}")[0].rows]


def test_drop_refuses_dependants_without_cascade(s):
    s.execute("CREATE VIEW v AS SELECT a FROM t")
    s.execute("CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM v")
    with pytest.raises(EddyError) as e:
        s.execute("DROP TABLE t")
    assert e.value.sqlstate == "2BP01"
    s.execute("DROP TABLE t CASCADE")
    assert names(s, "TABLES") == [] and names(s, "VIEWS") == []
    assert names(s, "MATERIALIZED VIEWS") == []
    s.execute("DROP TABLE IF EXISTS t")
    with pytest.raises(EddyError):
        s.execute("DROP TABLE t")


def test_rename_and_swap_keep_data_and_dependants(s):
    s.execute("CREATE MATERIALIZED VIEW mv AS SELECT b, count(*) AS n FROM t GROUP BY b")
    s.execute("ALTER TABLE t RENAME TO t2")
    s.execute("INSERT INTO t2 VALUES (3, 'x')")
    assert sorted(s.execute("SELECT * FROM mv")[0].rows) == [("x", 2), ("y", 1)]
    s.execute("CREATE MATERIALIZED VIEW mv_next AS SELECT b, sum(a) AS n FROM t2 GROUP BY b")
    s.execute("ALTER MATERIALIZED VIEW mv SWAP WITH mv_next")
    assert sorted(s.execute("SELECT * FROM mv")[0].rows) == [("x", 4), ("y", 2)]
    assert sorted(s.execute("SELECT * FROM mv_next")[0].rows) == [("x", 2), ("y", 1)]
    with pytest.raises(EddyError) as e:
        s.execute("SELECT * FROM t")
    assert e.value.sqlstate == "42P01"


def test_index_maintains_a_view_and_show_commands(s):
    s.execute("CREATE VIEW v AS SELECT b, count(*) AS n FROM t GROUP BY b")
    s.execute("CREATE INDEX v_idx IN CLUSTER quickstart ON v (b)")
    s.execute("INSERT INTO t VALUES (5, 'x')")
    assert sorted(s.execute("SELECT * FROM v")[0].rows) == [("x", 2), ("y", 1)]
    assert "Keyed" in s.execute("EXPLAIN VIEW v")[0].rows[0][0] or \
        "Aggregate" in s.execute("EXPLAIN VIEW v")[0].rows[0][0]
    idx = s.execute("SHOW INDEXES ON v")[0].rows
    assert idx[0][:2] == ("v_idx", "v")
    cols = s.execute("SHOW COLUMNS FROM v")[0].rows
    assert [(c[0], c[2]) for c in cols] == [("b", "text"), ("n", "bigint")]
    s.execute("DROP INDEX v_idx")
    assert sorted(s.execute("SELECT * FROM v")[0].rows) == [("x", 2), ("y", 1)]
    s.execute("CREATE CLUSTER c2 (SIZE = '25cc')")
    assert "c2" in names(s, "CLUSTERS")
    s.execute("CREATE SCHEMA analytics")
    s.execute("CREATE TABLE analytics.t (z int)")
    s.execute("SET search_path = analytics, public")
    assert s.execute("SHOW search_path")[0].rows == [("analytics, public",)]
    assert s.execute("SELECT * FROM t")[0].columns[0].name == "z"
    assert s.execute("SELECT a FROM public.t ORDER BY a")[0].rows[0] == (1,)
    assert "CREATE TABLE" in s.execute("SHOW CREATE TABLE public.t")[0].rows[0][1]


def test_comments(s):
    s.execute("COMMENT ON TABLE t IS 'facts'; COMMENT ON COLUMN t.a IS 'the a'")
    obj = next(o for o in s.engine.catalog if o.name == "t")
    assert obj.comment == "facts" and obj.column_comments == {"a": "the a"}


def test_evaluation_errors_are_query_errors(s):
    s.execute("CREATE MATERIALIZED VIEW q AS SELECT 10 / (a - 3) AS r FROM t")
    with pytest.raises(EddyError) as e:
        s.execute("INSERT INTO t VALUES (3, 'z')")
    assert e.value.sqlstate == "22012"
    assert sorted(s.execute("SELECT * FROM q")[0].rows) == [(-10,), (-5,)]
    assert s.execute("SELECT count(*) FROM t")[0].rows == [(2,)]
    with pytest.raises(EddyError) as e:
        s.execute("SELECT 'abc'::int")
    assert e.value.sqlstate in ("22P02", "22018")


def test_unsupported_is_0a000(s):
    with pytest.raises(EddyError) as e:
        s.execute("CREATE MATERIALIZED VIEW r1 AS WITH RECURSIVE r AS (SELECT 1 AS n) "
                  "SELECT * FROM r")
    assert e.value.sqlstate == "0A000"
    with pytest.raises(EddyError) as e:
        s.execute("CREATE MATERIALIZED VIEW bad AS SELECT mz_now() AS x FROM t")
    assert e.value.sqlstate == "0A000"


def test_transactions_are_read_only_or_write_only(s):
    s.execute("BEGIN")
    s.execute("INSERT INTO t VALUES (7, 'w')")
    s.execute("INSERT INTO t VALUES (8, 'w')")
    with pytest.raises(EddyError):
        s.execute("SELECT 1")
    s.execute("COMMIT")
    assert s.execute("SELECT count(*) FROM t WHERE b = 'w'")[0].rows == [(2,)]
    s.execute("BEGIN; INSERT INTO t VALUES (9, 'r'); ROLLBACK")
    assert s.execute("SELECT count(*) FROM t WHERE b = 'r'")[0].rows == [(0,)]
    s.execute("BEGIN; SELECT 1")
    with pytest.raises(EddyError):
        s.execute("INSERT INTO t VALUES (10, 'x')")
    s.execute("COMMIT")


def test_concurrent_writers_only_the_culprit_fails(s):
    import threading
    s.execute("CREATE MATERIALIZED VIEW q AS SELECT 10 / (a - 3) AS r FROM t")
    engine = s.engine
    results = {}

    def write(name, value):
        try:
            engine.session().execute(f"INSERT INTO t VALUES ({value}, '{name}')")
            results[name] = "ok"
        except EddyError as e:
            results[name] = e.sqlstate
    with engine.lock:      # hold ticks so that the writes coalesce into one
        threads = [threading.Thread(target=write, args=(n, v))
                   for n, v in (("good1", 5), ("bad", 3), ("good2", 8))]
        for t in threads:
            t.start()
        import time
        time.sleep(0.5)
    for t in threads:
        t.join()
    assert results == {"good1": "ok", "bad": "22012", "good2": "ok"}
    assert sorted(s.execute("SELECT r FROM q")[0].rows) == [(-10,), (-5,), (2,), (5,)]


def test_wall_clock_functions_are_refused_in_maintained_views(s):
    for query in ("SELECT a FROM t WHERE now() > '2020-01-01'", "SELECT random() AS r FROM t"):
        with pytest.raises(EddyError) as e:
            s.execute(f"CREATE MATERIALIZED VIEW w AS {query}")
        assert e.value.sqlstate == "0A000"
    s.execute("CREATE VIEW ok AS SELECT a FROM t WHERE now() > '2020-01-01'")
    assert len(s.execute("SELECT * FROM ok")[0].rows) == 2
