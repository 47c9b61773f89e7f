"""Gap sessions (eddy.sql.plan_sessions, eddy.dataflow.operators_sessions): equal to DuckDB's
batch evaluation after every step of random streams (late and out-of-order rows, rows at one
instant, gaps of exactly the interval, duplicates, deletes and updates, NULL times and keys),
and planned as a session merge; shapes off the rule keep the plain keyed recompute."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, check_drawn_stream, explain_view

from eddy.dataflow import keyed_state

BODY = ("with w as (select *, lag(ts) over (partition by g order by ts{o}) as prev from t1), "
        "s as (select *, {flag} as st from w), "
        "n as (select *, sum(st) over (partition by g order by ts{o}{frame}) as sn from s), "
        "a as (select g, min(ts) as s0, max(ts) as s1, count(*) as c, "
        "count(*) filter (where b) as cb, coalesce(sum(v), 0) as sv, sum(f) as sf, "
        "max(id) as mx, min(v) as mn from n group by g, sn) "
        "select g, s0, s1, extract(epoch from s1 - s0) as d, c, cb, sv, sf, mx, mn, "
        "cb > 0 as conv from a")
CASE = ("case when prev is null then 1 when ts - prev > interval '1 minute' then 1 "
        "else 0 end")
OR_GE = "case when prev is null or ts - prev >= interval '1 minute' then 1 else 0 end"
MODEL = BODY.format(o="", flag=CASE, frame="")
SHAPES = [
    Shape("model_shape", (("v1", MODEL),)),
    # ordered by every column but j: the streams may repeat an id, and two rows equal in
    # (ts, id) with NULL times, one after the other, would number sessions by the sort's
    # order of ties, in the batch query as in the view (rows equal in all but j aggregate
    # alike)
    Shape("or_ge_tiebreak_rows", (("v1", BODY.format(
        o=", id, v, f, b", flag=OR_GE, frame=" rows between unbounded preceding and current row")),)),
    Shape("over_a_view", (("v0", "select g, ts, b, v, f, id from t1 where id <> 3"),
                          ("v1", MODEL.replace("from t1", "from v0")))),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sessions_match_oracle(shape, data):
    check_drawn_stream(shape, data)


@pytest.mark.parametrize("shape", SHAPES[:2], ids=[s.name for s in SHAPES[:2]])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sessions_with_time_bounded_lookups_match_oracle(shape, data):
    """The merge's lookups bounded by the earliest new time less the gap (TimeBound: only
    for big state tables; here for every one) find every session a new row can join."""
    with mock.patch.object(keyed_state, "BOUND_MIN_ROWS", 0):
        check_drawn_stream(shape, data)


def test_model_shape_is_a_session_merge():
    plan = explain_view(MODEL)
    assert "Session merge of 5 fused levels" in plan, plan
    assert "Recompute and diff" not in plan, plan


@pytest.mark.parametrize("sql", [
    # the session number is an output column: not mergeable
    MODEL.replace("as mn from n group by", "as mn, sn from n group by")
         .replace("cb > 0 as conv", "cb > 0 as conv, sn"),
    # an aggregate that is not an output column of its own
    MODEL.replace("count(*) as c,", "count(*) + 1 as c,"),
    # the flag is not a gap rule
    BODY.format(o="", flag="case when prev is null then 1 else 0 end", frame=""),
    # ordered by something else than the gap's time
    BODY.format(o="", flag=CASE, frame="").replace("order by ts) as sn", "order by id) as sn"),
    # a row filter between the lag and the grouping
    MODEL.replace("as sn from s)", "as sn from s where v > 0)"),
])
def test_other_shapes_keep_the_keyed_recompute(sql):
    plan = explain_view(sql)
    assert "Session merge" not in plan, plan
    assert "Keyed recompute" in plan, plan


def _rows(session, sql):
    return sorted(session.execute(sql)[0].rows, key=repr)


@pytest.mark.parametrize("first_merges", [False, True])
def test_restart_across_the_plan_change(tmp_path, monkeypatch, first_merges):
    """Built by the keyed recompute and restarted as a session merge (or the reverse): the
    state is rebuilt for the new plan and later ticks stay equal to the batch result."""
    from oracle import create_table_sql

    from eddy.engine import Engine
    from eddy.sql import plan_sessions

    real = plan_sessions.recognize
    batches = [
        "(1, 'a', 1, 0.5, true, timestamptz '2026-01-01 10:00:00+00', null), "
        "(2, 'a', 2, 1.5, false, timestamptz '2026-01-01 10:01:00+00', null), "
        "(3, 'b', null, null, null, null, null), (4, 'b', 3, 2.0, true, "
        "timestamptz '2026-01-01 09:00:00+00', null)",
        "(5, 'a', 4, 0.25, true, timestamptz '2026-01-01 10:03:00+00', null), "
        "(6, 'a', 1, 1.0, false, timestamptz '2026-01-01 10:02:00+00', null), "
        "(7, null, 1, 1.0, true, timestamptz '2026-01-01 10:02:00+00', null)",
        "(8, 'a', 5, 3.0, true, timestamptz '2026-01-01 09:59:30+00', null), "
        "(9, 'b', 5, 3.0, false, timestamptz '2026-01-01 09:01:00+00', null)",
    ]
    for step, merges in enumerate([first_merges, not first_merges, not first_merges]):
        monkeypatch.setattr(plan_sessions, "recognize",
                            real if merges else (lambda body: None))
        engine = Engine(tmp_path, tick_interval=None)
        try:
            s = engine.session()
            if step == 0:
                s.execute(create_table_sql("t1"))
                s.execute(create_table_sql("t2"))
                s.execute(f"create materialized view v1 as {MODEL}")
            plan = s.execute("explain materialized view v1")[0].rows[0][0]
            assert ("Session merge" in plan) == merges, plan
            s.execute(f"insert into t1 values {batches[step]}")
            if step == 2:
                s.execute("delete from t1 where id = 3")
            assert _rows(s, "select * from v1") == _rows(s, MODEL)
        finally:
            engine.close()


def test_time_bounded_merge_keeps_every_session_a_new_row_can_join():
    """Deterministic cases of the bound: a row within the gap after a session's end, one
    within the gap before a session's start, one joining two sessions, late rows for old
    sessions, several keys at once: each step equals the batch query."""
    from eddy.engine import Engine

    steps = [
        [(1, "00:00:00"), (2, "00:00:00"), (1, "00:05:00")],
        [(1, "00:00:30")],                      # 30 s after session 1's end: joins it
        [(2, "00:00:50"), (1, "00:05:40")],     # within the gap after, each key
        [(1, "00:04:20")],                      # joins the two sessions of key 1
        [(2, "23:00:00"), (2, "00:01:30")],     # far later, and late within the gap
        [(1, "00:00:10"), (2, "22:59:10")],     # late inside a session; before a start
    ]
    with mock.patch.object(keyed_state, "BOUND_MIN_ROWS", 0):
        e = Engine(None, tick_interval=None)
        s = e.session()
        s.execute("create table t1 (g int, ts timestamptz, b bool, v int, f double, id int)")
        s.execute(f"create materialized view v1 as {MODEL}")
        assert "Session merge" in s.execute("explain materialized view v1")[0].rows[0][0]
        n = 0
        for step in steps:
            for g, hms in step:
                n += 1
                s.execute("insert into t1 values ($1, $2::timestamptz, true, 1, 1.0, $3)",
                          (g, f"2026-01-01 {hms}+00", n))
            got = sorted(s.execute("select * from v1")[0].rows, key=repr)
            assert got == sorted(s.execute(MODEL)[0].rows, key=repr), step
        e.close()


def test_sessions_deleting_by_rowid_match_oracle():
    """Lookups that scan the sessions keep the rows' rowids, and the merge deletes the old
    sessions by them (Sizes.delete_found): equal to the batch query, also in ticks that
    recompute some keys whole and merge others into rows that same tick wrote."""
    used: list[bool] = []
    real = keyed_state.Sizes.delete_found

    def spy(self, rt, table, found, *args, **kwargs):
        used.append(found.rowids)
        return real(self, rt, table, found, *args, **kwargs)

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def streams(data):
        check_drawn_stream(SHAPES[0], data)

    with mock.patch.object(keyed_state, "ROWS_PER_PROBE", 10**9), \
            mock.patch.object(keyed_state.Sizes, "delete_found", spy):
        streams()
    assert used and all(used)
