"""count(DISTINCT x) counted in the same aggregate as the linear aggregates of its GROUP BY
(eddy.dataflow.operators_agg.LinearAgg, kind count_distinct): equal to DuckDB's batch
evaluation after every step of random streams (duplicates of a (group, x) pair, deletes and
updates that remove the last copy of a value, NULL groups and NULL values, late rows, rows
leaving temporal windows), and planned as one aggregate (page_views_per_minute's shape).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, check_drawn_stream

from eddy.engine import Engine

S = Shape
PAGE_VIEWS = ("select date_trunc('minute', ts) as w, g, count(*) as views, "
              "count(distinct v) as users from t1 group by date_trunc('minute', ts), g")
SHAPES = [
    S("page_views_shape", (("v1", PAGE_VIEWS),)),
    S("several_distinct", (("v1", "select g, count(*) as n, sum(v) as s, count(distinct v) "
                                  "as dv, count(distinct b) as db, count(distinct v % 2) as dp, "
                                  "avg(f) as af from t1 group by g"),)),
    S("distinct_only", (("v1", "select g, b, count(distinct id) as di from t1 group by g, b"),)),
    S("global_distinct", (("v1", "select count(distinct g) as dg, count(*) as n from t1"),)),
    S("distinct_having", (("v1", "select g, count(distinct v) as dv from t1 group by g "
                                 "having count(distinct v) > 1"),)),
    S("distinct_with_minmax", (("v1", "select g, max(v) as mx, count(distinct id) as di "
                                      "from t1 where b group by g"),)),
    S("distinct_temporal", (("v1", "select g, count(*) as n, count(distinct v) as dv from t1 "
                                   "where mz_now() <= ts + interval '2 minutes' group by g"),),
      temporal=True),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_distinct_counts_match_oracle(shape, data):
    check_drawn_stream(shape, data)


def test_page_views_shape_is_one_aggregate():
    engine = Engine(None, tick_interval=None)
    try:
        session = engine.session()
        session.execute("create table t1 (id integer, g text, v integer, f double precision, "
                        "b boolean, ts timestamp with time zone, j jsonb)")
        session.execute(f"create materialized view v1 as {PAGE_VIEWS}")
        plan = session.execute("explain materialized view v1")[0].rows[0][0]
    finally:
        engine.close()
    assert plan.count("Aggregate") == 1 and "count(DISTINCT" in plan, plan
    for part in ("Join", "Set count", "Keyed recompute", "Recompute and diff"):
        assert part not in plan, plan
