"""A filter that maps of several dataflows apply to the same input (each topic's contract check,
in its staging view and in stg_expired_events) runs once per tick: the views still equal
DuckDB's batch evaluation after every step, including a view that filters the same input
differently and one that projects other JSON paths of the rows the shared filter kept."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, check_drawn_stream

from eddy.dataflow.runtime import TickContext
from eddy.engine import Engine

# columns qualified: DuckDB reads `f(j -> 'n')` with a bare name as a lambda (the reference)
CHECK = ("coalesce(jsonb_typeof(t1.j -> 'n') = 'number', false) "
         "and (t1.j ->> 'k') is distinct from 'z'")
SHAPES = [
    Shape("shared_check", (
        ("v1", f"with ok as (select id, j, ts from t1 where {CHECK}) select ok.id, "
               "(ok.j ->> 'n')::int as n, ok.j ->> 'k' as k, ok.j -> 'o' ->> 'p' as p from ok"),
        ("v2", f"select count(*) as n, max(id) as mx from t1 where {CHECK}"),
        ("v3", f"select g, count(*) as n from t1 where {CHECK} and v > 0 group by g"),
        ("v4", "select id, t1.j ->> 'k' as k from t1 where jsonb_typeof(t1.j -> 'n') = 'number'"),
    )),
    Shape("shared_check_temporal", (
        ("v1", f"select id, ts from t1 where {CHECK} and mz_now() <= ts + interval '2 minutes'"),
        ("v2", f"select id, t1.j ->> 'k' as k from t1 where {CHECK} "
               "and mz_now() > ts + interval '1 minute'"),
    ), temporal=True),
]



@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_shared_filter_matches_oracle(shape, data):
    check_drawn_stream(shape, data)


def test_the_filter_runs_once_per_tick(monkeypatch):
    runs = []
    original = TickContext.table

    def counting(rt, sql, params=None):
        if "'$.n'" in sql and "json_type(" in sql and "UNION" not in sql:
            runs.append(sql)
        return original(rt, sql, params)
    monkeypatch.setattr(TickContext, "table", counting)
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t1 (id integer, g text, v integer, f double precision, "
                  "b boolean, ts timestamp with time zone, j jsonb)")
        for name in ("a", "b"):
            s.execute(f"create materialized view {name} as select id, t1.j ->> 'k' as k "
                      f"from t1 where {CHECK}")
        runs.clear()
        s.execute("""insert into t1 (id, j) values (1, '{"n": 1, "k": "x"}'), """
                  """(2, '{"n": "1"}'), (3, '{"n": 2, "k": "z"}')""")
        assert len(runs) == 1, runs
        assert s.execute("select id, k from a")[0].rows == [(1, "x")]
        assert s.execute("select id, k from b")[0].rows == [(1, "x")]
    finally:
        engine.close()
