"""A relation joined with a GROUP BY on the group key (eddy.sql.plan_aggjoin), planned as one
keyed recompute: equal to DuckDB's batch evaluation after every step of random streams
(duplicates, deletes, updates moving rows between keys, late rows, NULL keys and groups, rows
leaving temporal windows), and planned as that one recompute (int_risky_events' shape: rows at
their key's first instant, ties all kept).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, check_drawn_stream, explain_view

S = Shape
FIRST_USE = (
    "with ok as (select id, g, v, ts from t1 where b), "
    "first_use as (select g, v, min(ts) as first_ts from ok group by g, v) "
    "select ok.id, ok.g, 'new' as reason, ok.ts from ok "
    "inner join first_use on ok.g = first_use.g and ok.v = first_use.v "
    "and ok.ts = first_use.first_ts")
SHAPES = [
    S("first_use", (("v1", FIRST_USE),)),
    # the GROUP BY over another relation, with its own WHERE, on part of its group key
    S("other_input", (("v1", "select t2.id, t2.g, s.n, s.total from t2 join "
                             "(select g, v, count(*) as n, sum(f) as total from t1 "
                             "where v > 0 group by g, v) s on t2.g = s.g and t2.w >= s.v "
                             "where t2.id <> 3"),)),
    # left joins, the grouped item first or second
    S("left_of_group", (("v1", "select a.id, a.g, m.top from t1 a left join "
                               "(select g, max(v) as top from t1 group by g) m "
                               "on a.g = m.g and a.v = m.top"),)),
    S("group_first", (("v1", "select m.g, m.n, b.id from "
                             "(select g, count(distinct id) as n from t2 group by g) m "
                             "left join t2 b on b.g = m.g and b.w > m.n"),)),
    S("temporal_group", (("v1", "select t2.id, r.last_ts from t2 join "
                                "(select g, max(ts) as last_ts from t1 "
                                "where mz_now() <= ts + interval '2 minutes' group by g) r "
                                "on r.g = t2.g"),), temporal=True),
    # the same alias inside and outside the subquery
    S("same_alias", (("v1", "select a.id, a.v, m.lo from t1 a join "
                            "(select a.g, min(a.v) as lo from t1 a group by a.g) m "
                            "on m.g = a.g"),)),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_join_with_group_by_matches_oracle(shape, data):
    check_drawn_stream(shape, data)


def test_first_use_is_one_keyed_recompute_reading_its_input_once():
    plan = explain_view(FIRST_USE)
    assert plan.count("Keyed recompute") == 1, plan
    assert "a relation joined with a GROUP BY on its key (the GROUP BY's input, read once)" \
        in plan, plan
    # no min/max state, no arrangement of its output, no delta join: the recompute's state
    # and one arrangement of the input by (g, v)
    assert "Min/max" not in plan and "Join" not in plan, plan
    assert plan.count("state u") == 2, plan


@pytest.mark.parametrize("sql", [
    # the join is not on a group key: planned as before
    "select t2.id, s.n from t2 join (select g, count(*) as n from t1 group by g) s "
    "on t2.id = s.n",
    # two grouped items: eddy.sql.plan_group's rule
    "select a.g, a.n, b.s from (select g, count(*) as n from t1 group by g) a "
    "join (select g, sum(w) as s from t2 group by g) b on a.g = b.g",
])
def test_other_shapes_are_not_this_rule(sql):
    assert "joined with a GROUP BY" not in explain_view(sql)
