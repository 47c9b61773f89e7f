"""A keyed recompute over a union of inputs (user_sessions over int_user_activity): the union's
delta is known insert-only (every weight 1) when each part is, and its arrangement then
appends it as it is; with a retraction in any part it is merged. Either way the view equals
the batch query after every step (duplicates, late rows, deletes and updates of either side)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, base_ms, check_drawn_stream, run_stream

from eddy.engine import Engine

S = Shape
SHAPES = [
    S("sessions_over_union", (("v1", "with u as (select id, ts, v, 'a' as src from t1 union all "
                                     "select id, null::timestamptz, w, 'b' from t2 union all "
                                     "select id, ts, null::int, 'c' from t1 where b), "
                                     "p as (select *, lag(ts) over (partition by id order by "
                                     "ts, src, v) as pts from u) select id, count(*) as n, "
                                     "count(pts) as np, sum(v) as s from p group by id"),)),
    S("union_of_dedups", (("v1", "with a as (select distinct on (id) id, g from t1 order by "
                                 "id, g), b as (select distinct on (id) id, g from t2 order by "
                                 "id, g), u as (select * from a union all select * from b) "
                                 "select id, count(*) as n, min(g) as lo from u group by id"),)),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_keyed_recompute_over_union_matches_oracle(shape, data):
    check_drawn_stream(shape, data)


def _ins(table: str, *rows) -> tuple:
    return ("insert", table, list(rows), "cast", False)


ROW1 = (1, "a", 2, None, True, 0, None)
ROW2 = (1, "b", 3)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_inserts_then_a_retraction_through_the_union(shape):
    """Insert-only ticks (appended), then a tick retracting through one part only."""
    stream = [_ins("t1", ROW1, ROW1), _ins("t2", ROW2), ("txn", [_ins("t1", ROW1),
                                                                 _ins("t2", ROW2)]),
              ("delete", "t2", 1), _ins("t2", ROW2), ("update", "t1", 1, "g", "z")]
    engine = Engine(None, tick_interval=None)
    try:
        run_stream(engine, shape, stream, base_ms())
    finally:
        engine.close()
