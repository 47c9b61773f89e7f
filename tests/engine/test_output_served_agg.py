"""Grouped aggregates served from their accumulators (eddy.dataflow.dataflow.served_sql): the
view's relation `_eddy.<id>` is a DuckDB view over the aggregate's state (groups whose count
is not zero; HAVING and the final casts as a filter/projection; unions of projections over
it), not a second copy. It must equal the batch query after every step, for downstream views,
snapshots and SUBSCRIBE (the tick's change, consolidated), across restarts, and take over (or
hand back) the output table of another build."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, check_drawn_stream
from served import as_earlier_build, relation_kind

from eddy.engine import Engine

S = Shape
ERRORS = ("select date_trunc('minute', ts) as w, g, count(*) filter (where b) as errs, "
          "count(*) as n, (count(*) filter (where b))::double precision / count(*) as rate "
          "from t1 group by date_trunc('minute', ts), g having count(*) filter (where b) > 0")
FUNNEL = ("with c as (select count(*) filter (where v > 0) as a, count(*) filter (where v > 2) "
          "as b from t1) select 1 as o, 'a' as step, a as n, null::bigint as prev from c "
          "union all select 2, 'b', b, a from c")
SHAPES = [
    # error_alerts' shape: HAVING and a ratio of accumulators, served through a filter
    S("having_and_ratio", (("v1", ERRORS),)),
    # page_views_per_minute's shape: count(DISTINCT) from its pairs' count
    S("distinct_count", (("v1", "select date_trunc('minute', ts) as w, g, count(*) as views, "
                                "count(distinct v) as users from t1 "
                                "group by date_trunc('minute', ts), g"),)),
    # funnel_conversion's shape: a global aggregate under a union of projections
    S("union_over_global", (("v1", FUNNEL),)),
    # sums and averages (NULL when no value), min/max at the root, read by a later view
    S("sums_and_reader", (("v1", "select g, sum(v) as s, avg(f) as af, count(v) as nv "
                                 "from t1 group by g"),
                          ("v2", "select g, max(v) as mx from t1 group by g"),
                          ("v3", "select v1.g, v1.s, v2.mx from v1 join v2 on v1.g = v2.g"))),
    # a temporal filter below: groups leave as their rows expire
    S("temporal", (("v1", "select g, count(*) as n, sum(v) as s from t1 "
                          "where mz_now() <= ts + interval '2 minutes' group by g "
                          "having count(*) > 1"),), temporal=True),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_served_aggregates_match_oracle(shape, data):
    check_drawn_stream(shape, data)


def _rows(s, sql: str) -> list:
    return sorted(s.execute(sql)[0].rows, key=repr)


def test_aggregates_are_served():
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t1 (id int, g text, v int, f double precision, b boolean, "
                  "ts timestamptz)")
        s.execute(f"create materialized view e as {ERRORS}")
        s.execute(f"create materialized view fu as {FUNNEL}")
        s.execute("create materialized view mm as select g, min(v) as lo from t1 group by g")
        s.execute("create materialized view j as select g, count(*) as n, max(v) as hi "
                  "from t1 group by g")
        for name in ("e", "fu", "mm"):
            assert relation_kind(engine, name) == "VIEW", name
        assert relation_kind(engine, "j") == "BASE TABLE"      # a join of two aggregates: a table
    finally:
        engine.close()


def test_changes_are_consolidated():
    """A group whose output row does not change (a row added and one removed) shows no
    change; one that leaves HAVING shows a retraction only."""
    engine = Engine(None, tick_interval=None)
    seen = []
    try:
        s = engine.session()
        s.execute("create table t (k int, v int)")
        s.execute("create materialized view m as select k, count(*) as n, max(v) as hi "
                  "from t group by k having count(*) > 1")
        s.execute("create materialized view c as select k, count(*) as n from t group by k")
        ids = {o.name: o.id for o in engine.catalog}
        engine.on_commit(lambda ts, changes: seen.append(
            {n: changes.get(ids[n]) for n in ("c",)}))
        s.execute("insert into t values (1, 5), (1, 6), (2, 1)")
        s.execute("begin; delete from t where k = 2; insert into t values (2, 9); commit")
        assert seen[-1]["c"] is None or seen[-1]["c"].num_rows == 0, seen[-1]
        s.execute("delete from t where k = 1 and v = 5")
        got = sorted((r["k"], r["n"], r["mz_diff"]) for r in seen[-1]["c"].to_pylist())
        assert got == [(1, 1, 1), (1, 2, -1)]
        assert _rows(s, "select * from m") == []
        assert _rows(s, "select * from c") == [(1, 1), (2, 1)]
        _, snap = engine.read_snapshot(ids["c"])
        assert sorted(snap.to_pylist(), key=str) == [{"k": 1, "n": 1, "__w": 1},
                                                     {"k": 2, "n": 1, "__w": 1}]
    finally:
        engine.close()


def test_subscribe_sees_the_served_rows():
    """SUBSCRIBE: the snapshot read from the accumulators (HAVING applied), then changes."""
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t (k int, v int)")
        s.execute("create materialized view m as select k, count(*) as n from t group by k "
                  "having count(*) > 1")
        s.execute("insert into t values (1, 1), (1, 2), (2, 3)")
        assert relation_kind(engine, "m") == "VIEW"
        sub = s.execute("SUBSCRIBE m")[0].subscription
        assert [r[1:] for r in sub.fetch(timeout=1)] == [(1, 1, 2)]
        s.execute("insert into t values (2, 4), (1, 5)")
        assert sorted(r[1:] for r in sub.fetch(timeout=1)) == [(-1, 1, 2), (1, 1, 3), (1, 2, 2)]
        s.execute("delete from t where k = 2")
        assert [r[1:] for r in sub.fetch(timeout=1)] == [(-1, 2, 2)]
        sub.close()
    finally:
        engine.close()


QUERY = ("select k, count(*) as n, count(distinct v) as dv, sum(v) as s from t group by k "
         "having count(*) > 1")


def _check(s) -> None:
    assert _rows(s, "select * from m") == _rows(s, QUERY)


def test_restart_keeps_serving(tmp_path):
    engine = Engine(tmp_path, tick_interval=None)
    s = engine.session()
    s.execute("create table t (k int, v int)")
    s.execute(f"create materialized view m as {QUERY}")
    s.execute("insert into t values (1, 1), (1, 2), (1, 2), (2, 3), (2, null), (3, 1)")
    engine.close()
    engine = Engine(tmp_path, tick_interval=None)
    try:
        s = engine.session()
        assert relation_kind(engine, "m") == "VIEW"
        _check(s)
        s.execute("create materialized view d as select sum(n) as total from m")
        s.execute("insert into t values (3, 4); delete from t where k = 1 and v = 2")
        _check(s)
        assert _rows(s, "select * from d") == _rows(s, f"select sum(n) from ({QUERY})")
    finally:
        engine.close()


def test_an_output_table_of_an_earlier_build_is_taken_over(tmp_path):
    """State of a build that kept the aggregate's output as a table: the table is dropped,
    the accumulators (still current) serve the view and go on being maintained."""
    engine = Engine(tmp_path, tick_interval=None)
    s = engine.session()
    s.execute("create table t (k int, v int)")
    s.execute(f"create materialized view m as {QUERY}")
    s.execute("insert into t values (1, 1), (1, 2), (2, 3), (2, 4)")
    as_earlier_build(engine, "m")
    engine.close()
    engine = Engine(tmp_path, tick_interval=None)
    try:
        s = engine.session()
        assert relation_kind(engine, "m") == "VIEW"
        _check(s)
        s.execute("insert into t values (1, 3), (3, 1), (3, 1); delete from t where k = 2")
        _check(s)
    finally:
        engine.close()


def test_a_served_aggregate_whose_plan_keeps_a_table_is_rebuilt(tmp_path, monkeypatch):
    """The other way (a build that keeps an output table, over state served by this one):
    the view is replaced by a table built from the state, then maintained."""
    from eddy.dataflow import dataflow

    engine = Engine(tmp_path, tick_interval=None)
    s = engine.session()
    s.execute("create table t (k int, v int)")
    s.execute(f"create materialized view m as {QUERY}")
    s.execute("insert into t values (1, 1), (1, 2), (2, 3), (2, 4)")
    engine.close()
    monkeypatch.setattr(dataflow, "served_sql", lambda root, names: None)
    engine = Engine(tmp_path, tick_interval=None)
    try:
        s = engine.session()
        assert relation_kind(engine, "m") == "BASE TABLE"
        _check(s)
        s.execute("insert into t values (1, 3), (3, 1), (3, 1); delete from t where k = 2")
        _check(s)
    finally:
        engine.close()
