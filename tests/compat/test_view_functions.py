"""Functions and operators the dialect layer adds behave the same inside a maintained view as
in a one-off SELECT: each expression is read both ways over the same rows, after inserts and
after a delete (the view is maintained, not rebuilt)."""

from __future__ import annotations

import pytest

from eddy.engine import Engine

ROWS = [
    ("""'{"a":[1,2,3],"b":{"c":"x"}}'""", "' yes'", 1, "2.50", "'1 year 2 days -03:00:00'"),
    ("""'[1,"1",1.0,"a"]'""", "'1'", 0, "10", "'-13 months'"),
    ("""'{"b":null}'""", "'OF'", -1, "-0.125", "'00:00:00.5'"),
    ("NULL", "NULL", None, "NULL", "NULL"),
]

EXPRESSIONS = [
    "j @> '{\"a\":[2]}'",
    "j <@ '{\"a\":[1,2,3],\"b\":{\"c\":\"x\"},\"d\":1}'",
    "j -> 'a' @> '2'::jsonb",
    "j - k",
    "j - n",
    "j #> '{b,c}'::text[]",
    "j #>> ARRAY['a', '1']",
    "k::bool",
    "x::text",
    "i::text",
    "concat(x, ' ', i, ' ', k::bool, ' ', n)",
    "concat_ws('/', x, i, n = 1)",
    "(time '10:00:00' - time '09:59:58.5') * n",
]


@pytest.fixture(scope="module")
def session():
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    s.execute("CREATE TABLE t (id int, j jsonb, k text, n int, x numeric, i interval)")
    values = ", ".join(f"({i}, {j}, {k}, {'NULL' if n is None else n}, {x}, {iv})"
                       for i, (j, k, n, x, iv) in enumerate(ROWS))
    s.execute(f"INSERT INTO t VALUES {values}")
    yield s
    s.close()
    engine.close()


def _both(session, expr: str, name: str):
    session.execute(f"CREATE MATERIALIZED VIEW {name} AS SELECT id, {expr} AS v FROM t")
    view = sorted(session.execute(f"SELECT id, v FROM {name}")[0].rows, key=str)
    once = sorted(session.execute(f"SELECT id, {expr} AS v FROM t")[0].rows, key=str)
    return view, once


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_view_equals_select(session, expr):
    name = f"v{abs(hash(expr)) % 10**8}"
    view, once = _both(session, expr, name)
    assert view == once
    assert len(once) == len(ROWS)
    session.execute("DELETE FROM t WHERE id = 0")
    try:
        view = sorted(session.execute(f"SELECT id, v FROM {name}")[0].rows, key=str)
        once = sorted(session.execute(f"SELECT id, {expr} AS v FROM t")[0].rows, key=str)
        assert view == once and len(once) == len(ROWS) - 1
    finally:
        j, k, n, x, iv = ROWS[0]
        session.execute(f"INSERT INTO t VALUES (0, {j}, {k}, {n}, {x}, {iv})")


def test_hopping_windows_view_equals_select():
    """date_bin_hopping in a maintained view: the same windows and sums as a one-off read,
    also after a retraction."""
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    try:
        s.execute("CREATE TABLE e (ts timestamp, v int)")
        s.execute("INSERT INTO e VALUES ('2021-01-01 01:05', 41), ('2021-01-01 01:07', 21), "
                  "('2021-01-01 01:09', 51), ('2021-01-01 01:11', 31), ('2021-01-01 01:17', 61)")
        query = ("SELECT date_bin_hopping AS w, sum(v) AS s FROM e, "
                 "date_bin_hopping('5m', '10m', e.ts) GROUP BY w")
        s.execute(f"CREATE MATERIALIZED VIEW hop AS {query}")
        for change in ("", "DELETE FROM e WHERE v = 41"):
            if change:
                s.execute(change)
            view = sorted(s.execute("SELECT w, s FROM hop")[0].rows)
            assert view == sorted(s.execute(query)[0].rows)
        assert [str(w.time()) for w, _ in view] == ["01:00:00", "01:05:00", "01:10:00",
                                                    "01:15:00"]
        assert [int(x) for _, x in view] == [72, 103, 92, 61]
    finally:
        s.close()
        engine.close()
