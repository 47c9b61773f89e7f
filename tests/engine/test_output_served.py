"""A view whose root operator keeps its whole output in its own state (keyed recompute, first
row per key, under projections) is served from that state (eddy.dataflow.dataflow.served_sql):
its relation `_eddy.<id>` is a DuckDB view, not a second copy. It must equal the batch query
at every tick, across restarts, for downstream views, snapshots and SUBSCRIBE, and a state
laid out by an earlier build (an output table) is taken over."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, base_ms, check_drawn_stream, run_stream
from served import as_earlier_build, relation_kind

from eddy.engine import Engine

S = Shape
SHAPES = [
    # window functions per key (user_sessions' shape): keyed recompute at the root
    S("sessions", (("v1", "with p as (select id, g, v, lag(v) over (partition by id order by "
                          "v, g) as pv from t1) select id, count(*) as n, min(v) as lo, "
                          "max(pv) as hi from p group by id, (pv is null)"),)),
    # first row per key whose projection drops the key: rows of two keys may be equal, and
    # a key's new winner may equal its old one (the delta must cancel)
    S("first_row_merging", (("v1", "select distinct on (id) g, b from t1 "
                                   "order by id, v, g, b"),)),
    # a projection over a keyed recompute (feat_user_logins' shape), read by a join
    S("map_over_keyed", (("k", "select id, max(v) as hi, count(*) as n from t1 group by id"),
                         ("v1", "with x as (select t1.id, t1.v, t2.w from t1 left join t2 "
                                "on t1.id = t2.id) select id, v is null as nv, w from x"),
                         ("v2", "select k.id, k.hi, t2.w from k join t2 on k.id = t2.id"))),
    # no key: the whole input recomputed, served from its state
    S("top_n", (("v1", "select id, v from t1 order by v desc nulls last, id, g limit 3"),
                ("v2", "select g, sum(v) over (partition by g order by id, v) as rs "
                       "from t1"))),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_served_views_match_oracle(shape, data):
    check_drawn_stream(shape, data)


def test_plans_are_served_where_the_root_holds_the_output():
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t1 (id int, g text, v int)")
        s.execute("create materialized view kr as select id, g, sum(v) over (partition by id "
                  "order by v) as rs from t1")
        s.execute("create materialized view fr as select distinct on (id) id, g from t1 "
                  "order by id, v")
        s.execute("create materialized view agg as select g, count(*) as n from t1 group by g")
        s.execute("create materialized view f as select id, v from t1 where v > 1")
        assert (relation_kind(engine, "kr"), relation_kind(engine, "fr")) == ("VIEW", "VIEW")
        # a grouped aggregate is served from its accumulators (test_output_served_agg.py)
        assert (relation_kind(engine, "agg"), relation_kind(engine, "f")) == ("VIEW", "BASE TABLE")
    finally:
        engine.close()


def test_changes_are_consolidated():
    """A first-row view dropping its key: a winner replaced by an equal output row changes
    nothing, so SUBSCRIBE and sinks see no change at all."""
    engine = Engine(None, tick_interval=None)
    seen = []
    try:
        s = engine.session()
        s.execute("create table t (k int, o int, x text)")
        s.execute("create materialized view m as select distinct on (k) x from t order by k, o")
        oid = next(o.id for o in engine.catalog if o.name == "m")
        engine.on_commit(lambda ts, changes: seen.append(changes.get(oid)))
        s.execute("insert into t values (1, 5, 'a'), (2, 1, 'b')")
        s.execute("begin; delete from t where k = 1; insert into t values (1, 3, 'a'); commit")
        assert seen[-1] is None or seen[-1].num_rows == 0, seen[-1]
        s.execute("insert into t values (1, 1, 'c')")
        got = sorted((r["x"], r["mz_diff"]) for r in seen[-1].to_pylist())
        assert got == [("a", -1), ("c", 1)]
        assert sorted(s.execute("select * from m")[0].rows) == [("b",), ("c",)]
        _, snap = engine.read_snapshot(oid)
        assert sorted(snap.to_pylist(), key=str) == [{"x": "b", "__w": 1}, {"x": "c", "__w": 1}]
    finally:
        engine.close()


QUERY = ("select k, o, sum(o) over (partition by k order by o) as rs, "
         "lag(x) over (partition by k order by o) as px from t")


def _check(s, view: str = "m") -> None:
    got = sorted(s.execute(f"select * from {view}")[0].rows, key=repr)
    assert got == sorted(s.execute(QUERY)[0].rows, key=repr)


def test_restart_and_a_view_created_over_a_served_view(tmp_path):
    engine = Engine(tmp_path, tick_interval=None)
    s = engine.session()
    s.execute("create table t (k int, o int, x text)")
    s.execute(f"create materialized view m as {QUERY}")
    s.execute("insert into t values (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c'), (2, 1, 'c')")
    engine.close()
    engine = Engine(tmp_path, tick_interval=None)
    try:
        s = engine.session()
        assert relation_kind(engine, "m") == "VIEW"
        _check(s)
        # a downstream view built from the served relation, then maintained from its deltas
        s.execute("create materialized view d as select k, sum(rs) as s, count(*) as n "
                  "from m group by k")
        s.execute("insert into t values (1, 0, 'z'); delete from t where k = 2")
        _check(s)
        assert sorted(s.execute("select * from d")[0].rows) == sorted(s.execute(
            f"select k, sum(rs), count(*) from ({QUERY}) group by k")[0].rows)
        s.execute("drop materialized view d; drop materialized view m")
        s.execute(f"create materialized view m as {QUERY}")
        _check(s)
    finally:
        engine.close()


def test_an_output_table_of_an_earlier_build_is_taken_over(tmp_path):
    """State from a build that kept the output as a table: the table is dropped, the root's
    state (still current) serves the view, and it goes on being maintained."""
    engine = Engine(tmp_path, tick_interval=None)
    s = engine.session()
    s.execute("create table t (k int, o int, x text)")
    s.execute(f"create materialized view m as {QUERY}")
    s.execute("insert into t values (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c')")
    as_earlier_build(engine, "m")
    engine.close()
    engine = Engine(tmp_path, tick_interval=None)
    try:
        s = engine.session()
        assert relation_kind(engine, "m") == "VIEW"
        _check(s)
        s.execute("insert into t values (1, 3, 'd'), (3, 1, 'e')")
        _check(s)
    finally:
        engine.close()


def test_a_served_view_whose_plan_changes_gets_an_output_table(tmp_path):
    """The other way: a relation served by an earlier build's plan, for a plan that keeps an
    output table (its plan record lost, so it is rebuilt)."""
    query = "select k, o from t where o > 1"
    engine = Engine(tmp_path, tick_interval=None)
    s = engine.session()
    s.execute("create table t (k int, o int, x text)")
    s.execute(f"create materialized view m as {query}")
    s.execute("insert into t values (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c')")
    oid = next(o.id for o in engine.catalog if o.name == "m")
    conn = engine.state.conn
    conn.execute(f'DROP TABLE "_eddy"."{oid}"')
    conn.execute(f'CREATE VIEW "_eddy"."{oid}" AS SELECT 9 AS k, 9 AS o, 1::BIGINT AS __w')
    conn.execute("DELETE FROM _eddy.__plans")
    engine.close()
    engine = Engine(tmp_path, tick_interval=None)
    try:
        s = engine.session()
        assert relation_kind(engine, "m") == "BASE TABLE"
        assert sorted(s.execute("select * from m")[0].rows) == [(1, 2)]
        s.execute("insert into t values (2, 5, 'x')")
        assert sorted(s.execute("select * from m")[0].rows) == [(1, 2), (2, 5)]
    finally:
        engine.close()


def test_first_row_served_with_retractions_and_late_rows():
    stream = [("insert", "t1", [(1, "a", 2, None, True, 0, None), (1, "b", 1, None, True, 0,
                                                                     None)], "cast", False),
              ("delete", "t1", 1), ("insert", "t1", [(2, "a", 2, None, None, 1, None)],
                                    "cast", False)]
    engine = Engine(None, tick_interval=None)
    try:
        run_stream(engine, SHAPES[1], stream, base_ms())
    finally:
        engine.close()
