"""Oracle suite: every maintained view equals DuckDB's batch evaluation of its SQL at every tick.

Each shape gets random tables and random insert/update/delete streams (duplicates, late rows;
time advancing for temporal filters); after every step each view of the shape is compared, as
a multiset, with the reference (see oracle.py). Run the larger profile with `pytest -m slow`.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import BatchSystem, Shape, run_stream, steps

S = Shape
SHAPES = [
    S("filter_project", (("v1", "select id, v * 2 as v2, g, f from t1 where v > 1 or f < 0"),)),
    S("case_cast_arith", (("v1", "select id, case when v > 2 then 'hi' when v is null then 'none' "
                                 "else 'lo' end as c, v::numeric / 4 as q, v / 2 as h, v % 3 as m, "
                                 "round(f) as r, f::int as fi, coalesce(v, -1) as cv from t1"),)),
    S("strings", (("v1", "select id, lower(g) || '-' || upper(coalesce(g, 'x')) as s, "
                         "substring(g, 1, 1) as s1, g like 'a%' as la, nullif(v, 0) as nz, "
                         "greatest(v, 1) as gr, least(v, 3) as le, length(g) as n from t1"),)),
    S("group_count_sum", (("v1", "select g, count(*) as n, sum(v) as s, count(v) as nv, "
                                 "sum(f) as sf from t1 group by g"),)),
    S("group_all_aggregates", (("v1", "select g, min(v) as mn, max(v) as mx, avg(v) as av, "
                                      "count(distinct v) as dv, bool_and(b) as ba, "
                                      "bool_or(b) as bo, max(ts) as mts from t1 group by g"),)),
    S("string_agg", (("v1", "select g, string_agg(id::text, ',' order by id) as ids from t1 "
                            "group by g"),)),
    S("having", (("v1", "select g, sum(v) as s from t1 group by g having count(*) > 1"),)),
    S("global_aggregate", (("v1", "select count(*) as n, sum(f) as sf, min(ts) as mts, "
                                  "count(distinct g) as dg from t1"),)),
    S("distinct", (("v1", "select distinct g, b from t1"),)),
    S("distinct_on", (("v1", "select distinct on (g) g, v, id from t1 "
                             "order by g, v desc, id"),)),
    S("inner_join", (("v1", "select t1.id, t1.v, t2.w from t1 join t2 on t1.g = t2.g"),)),
    S("join_residual", (("v1", "select t1.id, t2.id as id2 from t1 join t2 "
                               "on t1.g = t2.g and t1.v < t2.w"),)),
    S("left_join", (("v1", "select t1.id, t1.g, t2.w from t1 left join t2 on t1.id = t2.id"),)),
    S("right_join", (("v1", "select t1.v, t2.id, t2.w from t1 right join t2 "
                            "on t1.g = t2.g and t1.v > 0"),)),
    S("full_join", (("v1", "select t1.id as a, t2.id as b, t1.v, t2.w from t1 "
                           "full join t2 on t1.id = t2.id"),)),
    S("cross_join", (("v1", "select t1.g, t2.g as g2 from t1 cross join t2 "
                            "where t1.v is not null"),)),
    S("join_then_aggregate", (("v1", "select t1.g, count(*) as n, sum(t2.w) as sw from t1 "
                                     "join t2 on t1.id = t2.id group by t1.g"),)),
    S("union_all", (("v1", "select g, v from t1 union all select g, w from t2"),)),
    S("union", (("v1", "select g from t1 union select g from t2"),)),
    S("except", (("v1", "select g from t1 except select g from t2"),)),
    S("intersect", (("v1", "select id from t1 intersect select id from t2"),)),
    S("cte", (("v1", "with big as (select * from t1 where v > 0), "
                     "counts as (select g, count(*) as n from big group by g) "
                     "select g, n from counts where n > 0"),)),
    S("stacked_views", (("base", "select id, g, v from t1 where b"),
                        ("top", "select g, max(v) as mv, count(*) as n from base group by g"),
                        ("joined", "select top.g, top.mv, t2.w from top join t2 on top.g = t2.g"))),
    S("scalar_subquery", (("v1", "select id, v, (select max(w) from t2) as mw from t1"),)),
    S("correlated_scalar", (("v1", "select id, (select count(*) from t2 where t2.g = t1.g) as n "
                                   "from t1"),)),
    S("in_subquery", (("v1", "select id, g from t1 where g in (select g from t2 where w > 2)"),)),
    S("exists", (("v1", "select id from t1 where exists "
                        "(select 1 from t2 where t2.id = t1.id)"),
                 ("v2", "select id from t1 where not exists "
                        "(select 1 from t2 where t2.id = t1.id and t2.w > 0)"))),
    S("lateral", (("v1", "select t1.id, x.w from t1, lateral (select w from t2 "
                         "where t2.g = t1.g order by w desc limit 1) x"),)),
    S("row_number", (("v1", "select id, g, row_number() over (partition by g order by v, id) "
                            "as rn from t1"),)),
    S("rank_lag_lead", (("v1", "select g, v, rank() over (partition by g order by v) as r, "
                               "lag(v) over (partition by g order by v) as pv, "
                               "lead(v) over (partition by g order by v) as nv from t1"),)),
    S("first_last_value", (("v1", "select g, v, first_value(v) over w as fv, "
                                  "last_value(v) over w as lv from t1 "
                                  "window w as (partition by g order by v)"),)),
    S("aggregate_over", (("v1", "select id, g, v, sum(v) over (partition by g order by v) as rs, "
                                "count(*) over (partition by g) as cnt from t1"),)),
    S("top_k_per_group", (("v1", "select g, id, v from (select g, id, v, row_number() over "
                                 "(partition by g order by v desc, id) as rn from t1) s "
                                 "where rn <= 2"),)),
    S("top_k_lateral", (("v1", "select grp.g, x.id, x.v from (select distinct g from t1) grp, "
                               "lateral (select id, v from t1 where t1.g = grp.g "
                               "order by v desc, id limit 2) x"),)),
    S("order_limit", (("v1", "select id, v from t1 order by v desc, id limit 3"),)),
    S("jsonb", (("v1", "select id, j->>'k' as k, (j->'n')::int as n, j#>>'{o,p}' as p, "
                       "j->'o' as o from t1"),
                ("v2", "select j->>'k' as k, count(*) as n, sum((j->>'n')::int) as s from t1 "
                       "group by j->>'k'"))),
    S("jsonb_grouping", (("v1", "select j, count(*) as n from t1 group by j"),
                         ("v2", "select distinct j->'o' as o from t1"))),
    S("dates", (("v1", "select date_trunc('minute', ts) as m, count(*) as n, "
                       "max(extract(epoch from ts)) as e, min(extract(second from ts)) as s "
                       "from t1 group by date_trunc('minute', ts)"),
                ("v2", "select id, ts + interval '90 seconds' as later, "
                       "to_timestamp(extract(epoch from ts)) as again from t1"))),
    S("generate_series", (("v1", "select t1.id, s.n from t1, generate_series(1, greatest(t1.v, 0)) "
                                 "as s(n)"),
                          ("v2", "select n, n * 2 as m from generate_series(1, 4) as s(n)"))),
    S("multi_key_self_join", (("v1", "select a.id, b.id as id2, a.v + b.v as s from t1 a join t1 b "
                                     "on a.g = b.g and a.id = b.id and a.ts < b.ts"),
                              ("v2", "select t1.id, t2.w from t1 join t2 "
                                     "on t1.id = t2.id and t1.g = t2.g"))),
    S("full_join_residual", (("v1", "select t1.id, t2.id as id2 from t1 full join t2 "
                                    "on t1.g = t2.g and t1.v > t2.w"),)),
    S("not_in_with_nulls", (("v1", "select id, v from t1 where v not in (select w from t2)"),
                            ("v2", "select id from t1 where v in (select w from t2 where w > 0)"))),
    S("aggregate_filter_case", (("v1", "select g, count(*) filter (where b) as nb, "
                                       "sum(case when b then v else 0 end) as sb, "
                                       "avg(f) filter (where f > 0) as af from t1 group by g"),)),
    S("left_join_aggregate", (("v1", "select t2.g, count(t1.id) as n, coalesce(sum(t1.v), 0) as s "
                                     "from t2 left join t1 on t1.g = t2.g group by t2.g"),)),
    S("except_intersect_all", (("v1", "select g from t1 except all select g from t2"),
                               ("v2", "select g from t1 intersect all select g from t2"))),
    S("window_frames", (("v1", "select id, g, v, sum(v) over (partition by g order by v, id "
                               "rows between 1 preceding and current row) as s2, "
                               "count(*) over (partition by g order by v "
                               "range between unbounded preceding and current row) as c "
                               "from t1 where id is not null"),)),
    S("plain_view_chain", (("pv_base", "select id, g, coalesce(v, 0) as v from t1"),
                           ("top", "select g, sum(v) as s, count(*) as n from pv_base group by g"),
                           ("pv_top", "select g, s from top where n > 1"),
                           ("joined", "select b.id, t.s from pv_base b join pv_top t "
                                      "on b.g = t.g"))),
    S("union_of_aggregates", (("v1", "select 't1' as src, g, count(*) as n from t1 group by g "
                                     "union all select 't2', g, count(*) from t2 group by g"),)),
    S("correlated_aggregate", (("v1", "select id, v, v > (select avg(w) from t2 "
                                      "where t2.g = t1.g) as above from t1"),)),
    # the marts' shapes (issue 10): sessions over a union (lag, running sum, group by with
    # FILTER), range joins, filtered global aggregates with HAVING, CTEs read twice
    S("sessions_over_union", (("v1", "with events as (select g as u, ts, 'x' as kind, v from t1 "
                                     "where ts is not null union all select g, ts + interval "
                                     "'5 minutes', 'y', v + 1 from t1 where b), "
                                     "gaps as (select *, lag(ts) over (partition by u order by "
                                     "ts, kind, v) as prev from events), "
                                     "flagged as (select *, case when prev is null or ts - prev "
                                     "> interval '2 minutes' then 1 else 0 end as is_new "
                                     "from gaps), "
                                     "numbered as (select *, sum(is_new) over (partition by u "
                                     "order by ts, kind, v, is_new desc rows between unbounded "
                                     "preceding and current row) as seq from flagged) "
                                     "select u, min(ts) as s_start, max(ts) as s_end, "
                                     "count(*) as n, count(*) filter (where kind = 'x') as nx, "
                                     "coalesce(sum(v) filter (where kind = 'y'), 0) as sv, "
                                     "count(*) filter (where kind = 'y') > 0 as has_y "
                                     "from numbered group by u, seq"),)),
    S("range_join", (("v1", "select a.id, b.id as id2, a.ts from t1 a join t1 b on a.g = b.g "
                            "and a.ts between b.ts and b.ts + interval '2 minutes'"),
                     ("v2", "select t1.id, t2.id as id2 from t1 join t2 on t1.g = t2.g "
                            "and t1.v between t2.w and t2.w + 2 where t1.v > 0"))),
    S("range_left_join", (("v1", "select a.id, a.ts, b.id as bid from t1 a left join t1 b "
                                 "on a.g = b.g and b.ts between a.ts and a.ts + interval "
                                 "'2 minutes' and b.id <> a.id"),
                          ("v2", "select t2.id, t2.w, t1.v from t2 left join t1 "
                                 "on t1.g = t2.g and t1.v between t2.w - 1 and t2.w + 1"))),
    S("filtered_global_aggregate", (("v1", "select count(*) filter (where b) as nb, "
                                           "count(*) as n, sum(v) filter (where v > 0) as sp, "
                                           "avg(f) filter (where b) as af, count(v) filter "
                                           "(where g = 'a') as na from t1"),
                                    ("v2", "select count(*) filter (where b) as nb, "
                                           "sum(v) as s from t1 "
                                           "having count(*) filter (where b) > 1"),
                                    ("v3", "select g, count(*) filter (where v > 1) as n, "
                                           "count(distinct v) filter (where b) as dv, "
                                           "max(v) filter (where b) as mv from t1 group by g "
                                           "having count(*) filter (where v > 1) >= 1"))),
    S("cte_used_twice", (("v1", "with per_g as (select g, count(*) as n, sum(v) as s from t1 "
                                "group by g) select a.g, a.n, b.s from per_g a "
                                "join per_g b on a.g is not distinct from b.g"),
                         ("v2", "with x as (select id, g, v from t1 where v > 0), "
                                "y as (select g, count(*) as n from x group by g) "
                                "select 'all' as k, g, n from y union all "
                                "select 'big', g, count(*) from x where id > 3 group by g"))),
    S("views_over_ctes", (("pv_stg", "with src as (select * from t1), ok as (select * from src "
                                     "where id is not null) select distinct on (id) id, g, v, ts "
                                     "from ok order by id, ts, g, v"),
                          ("top", "with s as (select g, count(*) as n from pv_stg group by g) "
                                  "select s.g, s.n, t2.w from s join t2 on s.g = t2.g"),
                          ("top2", "with a as (select * from pv_stg where v > 0) select a.id, "
                                   "b.id as id2 from a join pv_stg b on a.g = b.g"))),
    S("funnel_shape", (("v1", "with steps as (select count(*) filter (where v > 0) as s1, "
                              "count(*) filter (where v > 0 and b) as s2, count(*) as s0 "
                              "from t1), u as (select 1 as step_order, 'one' as step, s1 as n, "
                              "null::bigint as prev from steps union all select 2, 'two', s2, "
                              "s1 from steps) select step_order, step, n, "
                              "n::numeric / nullif(prev, 0) as conv from u"),)),
    S("temporal_until", (("v1", "select id, g from t1 where mz_now() <= ts + interval '2 minutes'"),),
      temporal=True),
    S("temporal_window", (("v1", "select g, count(*) as n from t1 where mz_now() >= ts "
                                 "and mz_now() < ts + interval '1 minute' group by g"),),
      temporal=True),
    S("temporal_having", (("v1", "select g, max(ts) as last from t1 group by g "
                                 "having mz_now() <= max(ts) + interval '1 minute'"),),
      temporal=True),
    S("temporal_join", (("v1", "select t1.id, t2.w from t1 join t2 on t1.id = t2.id "
                               "where mz_now() >= ts - interval '1 minute' "
                               "and mz_now() <= ts + interval '3 minutes'"),),
      temporal=True),
]


def _engine():
    from eddy.engine import Engine
    return Engine(None, tick_interval=None)


def _base_ms() -> int:
    return (int(time.time()) // 60 + 1) * 60_000


def _check(system, shape, stream, prefill=()):
    try:
        run_stream(system, shape, stream, _base_ms(), prefill)
    finally:
        close = getattr(system, "close", None)
        if close:
            close()


def test_at_least_thirty_shapes():
    assert len({s.name for s in SHAPES}) == len(SHAPES) >= 30


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=1, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_harness_self_check(shape, data):
    """The shapes and the reference agree with DuckDB evaluating the views itself."""
    prefill = data.draw(steps(shape.temporal, max_size=3), label="before the views")
    _check(BatchSystem(), shape, data.draw(steps(shape.temporal), label="after"), prefill)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(stream=steps())
def test_harness_catches_a_wrong_system(stream):
    """A system that silently drops deletes is caught whenever a delete matters."""
    shape = SHAPES[3]
    try:
        _check(BatchSystem(broken=True), shape, stream)
    except AssertionError as error:
        assert "missing" in str(error) or "extra" in str(error)
        return
    flat = [w for step in stream for w in (step[1] if step[0] == "txn" else [step])]
    assert not any(step[0] == "delete" and _deleted_something(flat, i)
                   for i, step in enumerate(flat))


def _deleted_something(stream, index) -> bool:
    table, key = stream[index][1], stream[index][2]
    return table == "t1" and any(s[0] == "insert" and s[1] == "t1" and any(r[0] == key for r in s[2])
                                 for s in stream[:index])


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_engine_matches_oracle(shape, data):
    prefill = data.draw(steps(shape.temporal, max_size=3) | st.just([]), label="before the views")
    stream = data.draw(steps(shape.temporal), label="after")
    _check(_engine(), shape, stream, prefill)


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=int(os.environ.get("ORACLE_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_engine_matches_oracle_long(shape, data):
    prefill = data.draw(steps(shape.temporal, max_size=8) | st.just([]), label="before the views")
    stream = data.draw(steps(shape.temporal, max_size=15), label="after")
    _check(_engine(), shape, stream, prefill)


def test_harness_catches_a_lost_delete():
    stream = [("insert", "t1", [(1, "a", 2, 0.5, True, 0, None)], "cast", True), ("delete", "t1", 1)]
    with pytest.raises(AssertionError, match="extra"):
        _check(BatchSystem(broken=True), SHAPES[3], stream)
