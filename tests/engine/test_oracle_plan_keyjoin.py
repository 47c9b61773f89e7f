"""Chains of left joins on one key (eddy.sql.plan_keyjoin), planned as one keyed recompute:
equal to DuckDB's batch evaluation after every step of random streams (duplicates, deletes,
updates moving rows between keys, late rows, NULL keys, rows leaving temporal windows), and
planned as that one recompute (feat_user_logins' shape: a key set left-joined to per-key
rows, one of them on the key and a second column).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, check_drawn_stream, explain_view

S = Shape
LOGINS = (
    # ORDER BY decides between rows that differ in what the view shows (ids repeat in the
    # drawn data: without the last key a tie left DISTINCT ON free to pick either row)
    "with last1 as (select distinct on (g) g, id as last_id, v as last_v from t1 "
    "order by g, ts desc, id desc, v nulls first), "
    "last2 as (select distinct on (g) g, w as last_w from t2 order by g, id desc, "
    "w nulls first), "
    "marked as (select g, id from t1 where b), "
    "keys as (select g from last1 union select g from last2) "
    "select keys.g, last1.last_v, case when last1.g is null then null "
    "else marked.id is not null end as is_marked, last2.last_w "
    "from keys left join last1 on keys.g = last1.g "
    "left join marked on last1.g = marked.g and last1.last_id = marked.id "
    "left join last2 on keys.g = last2.g")
SHAPES = [
    S("logins_shape", (("v1", LOGINS),)),
    S("plain_tables", (("v1", "select a.id, a.g, b.w, c.v as cv from t1 a left join t2 b "
                              "on a.g = b.g left join t1 c on b.g = c.g and c.v > a.v "
                              "where a.v is not null or b.w > 0"),)),
    S("key_in_later_on", (("v1", "select a.g, a.id, b.id as bid, c.w from t1 a "
                                 "left join t1 b on b.g = a.g and b.id = a.id + 1 "
                                 "left join t2 c on c.g = b.g and c.w = a.v"),)),
    S("grouped_items", (("v1", "select k.g, x.n, y.s from (select distinct g from t1) k "
                               "left join (select g, count(*) as n from t1 where b group by g) x "
                               "on k.g = x.g left join (select g, sum(w) as s from t2 "
                               "group by g) y on x.g = y.g"),)),
    S("temporal_input", (("v1", "with recent as (select g, id, v from t1 "
                                "where mz_now() <= ts + interval '2 minutes') "
                                "select t2.id, t2.g, r.v, s.v as sv from t2 "
                                "left join recent r on t2.g = r.g "
                                "left join recent s on r.g = s.g and s.id = r.id"),),
      temporal=True),
    # not on one key (c joins on b.id): planned join by join, and equal all the same
    S("off_the_key", (("v1", "select a.id, b.w, c.v from t1 a left join t2 b on a.g = b.g "
                             "left join t1 c on b.id = c.id"),)),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_key_join_chain_matches_oracle(shape, data):
    check_drawn_stream(shape, data)


def test_logins_shape_is_one_keyed_recompute():
    plan = explain_view(LOGINS)
    assert plan.count("Keyed recompute") == 1, plan
    assert "4 relations left-joined on one key" in plan, plan
    assert "Recompute and diff" not in plan, plan
    # the key set (a union of two later items' keys) is made from their rows per key: no
    # state of its own (it was a set count and an arrangement, 9 statements a tick)
    assert "a union of 2 of the others' keys" in plan, plan
    assert "Set count" not in plan and plan.count("state u") == 4, plan   # recompute, 2 first rows, marked


def test_join_off_the_key_is_not_fused():
    plan = explain_view("select a.id, b.w, c.v from t1 a left join t2 b on a.g = b.g "
                 "left join t1 c on b.id = c.id")
    assert "left-joined on one key" not in plan, plan
    assert plan.count("Keyed recompute of left join") == 2, plan
