"""Grouped subqueries joined on their group key (eddy.sql.plan_group), planned as one keyed
recompute: equal to DuckDB's batch evaluation after every step of random streams (duplicates,
deletes, updates moving rows between groups, late rows, NULL keys, rows leaving temporal
windows), and planned as that one recompute (the fraud features' shape: `last_day LEFT JOIN
last_ten_minutes`).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, check_drawn_stream, explain_view

S = Shape
FEATURES = (
    "with last_day as (select g, count(*) as n, sum(v) as s, sum(v * v) as s2, "
    "count(distinct id) as di, count(distinct b) as db, max(ts) as mts from t1 "
    "where mz_now() <= ts + interval '5 minutes' group by g), "
    "last_minute as (select g, count(*) as n1, sum(v) as s1 from t1 "
    "where mz_now() <= ts + interval '1 minute' group by g) "
    "select d.g, coalesce(m.n1, 0) as n1, coalesce(m.s1, 0) as s1, d.n, d.s, d.s2, d.di, "
    "d.db, d.mts, d.s::numeric / d.n as av from last_day d left join last_minute m "
    "on d.g = m.g")
SHAPES = [
    S("features_windows", (("v1", FEATURES),), temporal=True),
    S("inner_two_tables", (("v1", "select a.g, a.n, b.w, b.mid from (select g, count(*) as n "
                                  "from t1 group by g) a join (select g, sum(w) as w, "
                                  "max(id) as mid from t2 group by g) b on a.g = b.g"),)),
    S("three_left_where", (("v1", "select x.k, x.n, y.mx, z.c from (select g as k, count(*) "
                                  "as n from t1 group by g) x left join (select g, max(v) as "
                                  "mx from t1 where v > 0 group by g) y on y.g = x.k left join "
                                  "(select g, count(distinct w) as c from t2 group by g) z on "
                                  "x.k = z.g where x.n > 1"),)),
    S("second_key_column", (("v1", "select a.b, a.g, a.n, c.m from (select b, g, count(*) as "
                                   "n from t1 group by b, g) a left join (select g, min(v) as "
                                   "m, count(distinct b) as nb from t1 group by g) c on "
                                   "a.g = c.g"),)),
    S("over_a_join_of_two", (("v1", "with a as (select g, count(*) as n, count(distinct v) "
                                    "as dv from t1 group by g), b as (select g, max(w) as mw "
                                    "from t2 group by g) select a.g, a.n + coalesce(b.mw, 0) "
                                    "as x, a.dv from a left join b on a.g = b.g "
                                    "where a.dv > 0 or b.mw is null"),
                             ("v2", "select g, count(*) as n, max(x) as mx from v1 group by g"))),
]



@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_grouped_matches_oracle(shape, data):
    check_drawn_stream(shape, data)


def test_features_shape_is_one_keyed_recompute():
    plan = explain_view(FEATURES)
    assert plan.count("Keyed recompute") == 1, plan
    assert "2 grouped subqueries joined on their key" in plan, plan
    for part in ("Aggregate", "Join", "Set count", "Recompute and diff"):
        assert part not in plan, plan


def test_join_on_a_non_key_column_is_not_fused():
    plan = explain_view("select a.g, a.n, b.w from (select g, count(*) as n from t1 group by g) a "
                 "join (select g, id, sum(w) as w from t2 group by g, id) b on a.n = b.id")
    assert "grouped subqueries" not in plan, plan
