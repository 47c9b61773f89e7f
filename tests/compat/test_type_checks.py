"""Queries Materialize refuses fail with its SQLSTATE and words, and their valid neighbours
still run (a check that refuses good SQL is as wrong as one that lets bad SQL through)."""

from __future__ import annotations

import pytest

from eddy.engine import Engine
from eddy.errors import EddyError

REFUSED = [
    ("SELECT 1, 2 UNION SELECT 3", "42601",
     "each UNION query must have the same number of columns: 2 vs 1"),
    ("SELECT 1 EXCEPT SELECT '3'", "42804", "EXCEPT types integer and text cannot be matched"),
    ("SELECT ARRAY[1] UNION ALL SELECT ARRAY['foo']", "42804",
     "UNION types integer[] and text[] cannot be matched"),
    ("SELECT a AS c, sum(b) AS c FROM t GROUP BY c", "42702", 'column reference "c" is ambiguous'),
    ("SELECT 1 AS a, b AS a FROM t ORDER BY a", "42702", 'column reference "a" is ambiguous'),
    ("SELECT concat_ws('a')", "42883", "function concat_ws(unknown) does not exist"),
    ("SELECT split_part(1, 2, 3)", "42883",
     "function split_part(integer, integer, integer) does not exist"),
    ("SELECT position(42 IN 'str')", "42883", "function position(integer, unknown) does not exist"),
    ("SELECT date('2000', 'a')", "42883", "function date(unknown, unknown) does not exist"),
    ("SELECT count() FROM t", "42809", "count(*) must be used"),
    ("SELECT avg(NULL)", "42725", "unable to determine which implementation to use"),
    ("SELECT sum(*) FROM t", "42883", "arguments cannot be implicitly cast"),
    ("SELECT abs(a) FILTER (WHERE a > 1) FROM t", "42809",
     "FILTER specified, but abs is not an aggregate function"),
    ("SELECT * FROM t ORDER BY a FETCH FIRST 1 ROWS WITH TIES", "0A000",
     "FETCH ... WITH TIES not yet supported"),
    ("SELECT DISTINCT ON (2) a FROM t", "42P10",
     "column reference 2 in DISTINCT ON clause is out of range (1 - 1)"),
    ("SELECT * FROM t AS x JOIN t AS y ON row_number() OVER () > 1", "42P20",
     "window functions are not allowed in ON"),
    ("SELECT 1 < ALL(SELECT 1, 2)", "42601", "subquery has 2 columns available but 1 columns"),
    ("SELECT * FROM nosuch", "42P01", "unknown catalog item 'nosuch'"),
    ("SELECT c FROM t GROUP BY a", "42703", 'column "c" does not exist'),
    ("WITH c AS (SELECT 1), c AS (SELECT 2) SELECT * FROM c", "42712",
     'WITH query name "c" specified more than once'),
    ("SELECT (SELECT count(t.a)) FROM t", "0A000",
     "aggregate functions that refer exclusively to outer columns not yet supported"),
]

ACCEPTED = [
    ("SELECT 1 UNION SELECT 2 ORDER BY 1", [(1,), (2,)]),
    ("SELECT 'a' UNION ALL SELECT 'b' ORDER BY 1", [("a",), ("b",)]),
    ("SELECT a AS c, sum(b) AS s FROM t GROUP BY c ORDER BY c", [(1, 10), (2, 20)]),
    ("SELECT a, a AS a FROM t ORDER BY a", [(1, 1), (2, 2)]),
    ("SELECT b AS a FROM t ORDER BY a", [(10,), (20,)]),
    ("SELECT a + 1 AS a FROM t ORDER BY a + 1", [(2,), (3,)]),
    ("SELECT concat_ws(',', 'x', a), split_part('p,q', ',', a), position('q' IN 'pq') FROM t "
     "ORDER BY 1", [("x,1", "p", 2), ("x,2", "q", 2)]),
    ("SELECT count(*), count(a), sum(a) FILTER (WHERE a > 1), avg(NULL::int) FROM t",
     [(2, 2, 2, None)]),
    ("SELECT jsonb_agg(a) FILTER (WHERE a > 1)::text FROM t", [("[2]",)]),
    ("SELECT DISTINCT ON (1) a, b FROM t ORDER BY 1, 2", [(1, 10), (2, 20)]),
    ("SELECT 1 = ANY(SELECT a FROM t)", [(True,)]),
    ("SELECT x.a FROM t AS x JOIN t AS y ON x.a IN (SELECT row_number() OVER () FROM t) "
     "AND x.a = y.a ORDER BY 1", [(1,), (2,)]),
    ("WITH c AS (SELECT 1) SELECT * FROM (WITH c AS (SELECT 2) SELECT * FROM c) AS x", [(2,)]),
    ("SELECT (SELECT count(*)), (SELECT count(u.b) FROM t AS u WHERE u.a = t.a) FROM t",
     [(1, 1), (1, 1)]),
]


@pytest.fixture(scope="module")
def session():
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    s.execute("CREATE TABLE t (a int, b int)")
    s.execute("INSERT INTO t VALUES (1, 10), (2, 20)")
    yield s
    s.close()
    engine.close()


@pytest.mark.parametrize(("sql", "sqlstate", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_as_materialize_does(session, sql, sqlstate, words):
    with pytest.raises(EddyError) as caught:
        session.execute(sql)
    assert (caught.value.sqlstate, words in caught.value.message) == (sqlstate, True), \
        caught.value.message
    assert session.execute("SELECT 1")[-1].rows == [(1,)]     # the session stays usable


@pytest.mark.parametrize(("sql", "rows"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_valid_neighbours_still_run(session, sql, rows):
    assert session.execute(sql)[-1].rows == rows


def test_refused_in_a_view_too(session):
    with pytest.raises(EddyError) as caught:
        session.execute("CREATE MATERIALIZED VIEW v AS SELECT 1 UNION SELECT '3'")
    assert caught.value.sqlstate == "42804"
