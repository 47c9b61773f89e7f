"""The keyed state's indexes go off under load and come back when the engine is calm, idle or
restarted; the views stay equal to their queries throughout (eddy.storage.key_indexes)."""

from __future__ import annotations

import random

from eddy.engine import Engine
from eddy.storage import key_indexes
from eddy.storage.state import SCHEMA

VIEW = "select k, count(*) as n, sum(v) as s from t group by k"


def index_count(engine: Engine) -> int:
    return engine.state.conn.execute(
        "SELECT count(*) FROM duckdb_indexes() WHERE schema_name = ?", [SCHEMA]).fetchone()[0]


def rows(session, sql: str) -> list:
    return sorted(session.execute(sql)[0].rows)


def load(engine: Engine, session, rng: random.Random, n: int) -> None:
    values = ", ".join(f"({rng.randrange(50)}, {rng.randrange(-5, 100)})" for _ in range(n))
    session.execute(f"insert into t values {values}")
    engine.tick()


def test_indexes_off_under_load_on_when_calm_views_equal_their_query(tmp_path):
    rng = random.Random(7)
    engine = Engine(tmp_path, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t (k int, v int)")
        s.execute(f"create materialized view g as {VIEW}")
        s.execute("create materialized view d as select distinct on (k) k, v from t "
                  "order by k, v desc")
        load(engine, s, rng, 200)
        assert index_count(engine) > 0
        policy = engine.indexes
        for _ in range(key_indexes.LOAD_TICKS - 1):
            policy.after_tick(key_indexes.LOAD_ROWS, idle=False)
        assert policy.on and index_count(engine) > 0      # not yet: load must last
        policy.after_tick(key_indexes.LOAD_ROWS, idle=False)
        assert not policy.on and index_count(engine) == 0
        for _ in range(5):      # inserts and deletes while the indexes are off
            load(engine, s, rng, 300)
            s.execute(f"delete from t where k = {rng.randrange(50)}")
            engine.tick()
            assert rows(s, "select * from g") == rows(s, VIEW)
            assert rows(s, "select * from d") == rows(
                s, "select distinct on (k) k, v from t order by k, v desc")
        for _ in range(key_indexes.CALM_TICKS - 1):
            policy.after_tick(0, idle=False)
        assert not policy.on
        policy.after_tick(0, idle=False)       # calm long enough
        assert policy.on and index_count(engine) > 0
        load(engine, s, rng, 10)
        assert rows(s, "select * from g") == rows(s, VIEW)
        for _ in range(key_indexes.LOAD_TICKS):
            policy.after_tick(key_indexes.LOAD_ROWS, idle=False)
        assert index_count(engine) == 0
        policy.after_tick(0, idle=True)       # idle: at once
        assert policy.on and index_count(engine) > 0
        for _ in range(key_indexes.LOAD_TICKS):
            policy.after_tick(key_indexes.LOAD_ROWS, idle=False)
        assert index_count(engine) == 0
    finally:
        engine.close()
    again = Engine(tmp_path, tick_interval=None)     # dropped under load, then a restart
    try:
        assert again.state.indexes_on and index_count(again) > 0
        s = again.session()
        load(again, s, rng, 50)
        assert rows(s, "select * from g") == rows(s, VIEW)
    finally:
        again.close()


def test_the_background_loop_drops_the_indexes_under_load(monkeypatch):
    monkeypatch.setattr(key_indexes, "LOAD_ROWS", 3)
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t (k int, v int)")
        s.execute(f"create materialized view g as {VIEW}")
        for _ in range(key_indexes.LOAD_TICKS):
            s.execute("insert into t values (1, 1), (2, 2), (3, 3)")
            engine.tick()
            engine._tick_rows = 3       # what a tick of 3 source rows leaves for the policy
            engine._index_policy()
        assert not engine.state.indexes_on and index_count(engine) == 0
        assert rows(s, "select * from g") == rows(s, VIEW)
    finally:
        engine.close()


def indexed_tables(engine: Engine) -> set[str]:
    return {t for (t,) in engine.state.conn.execute(
        "SELECT table_name FROM duckdb_indexes() WHERE schema_name = ?", [SCHEMA]).fetchall()}


def keyed_engine(monkeypatch, v: int) -> tuple[Engine, object]:
    """An engine whose ticks of a few rows count as load, with `t` of 20,000 keys stored."""
    monkeypatch.setattr(key_indexes, "LOAD_ROWS", 3)
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    s.execute("create table t (k int, v int)")
    s.execute(f"insert into t select i, {int(v)} from generate_series(1, 20000) g(i)")
    return engine, s


def test_under_load_a_table_whose_lookups_read_its_index_keeps_it(monkeypatch):
    """Many groups touched a few at a time (`wide`: lookups by index) keep their index under
    load; a few groups touched all at once (`narrow`: its lookups scan) lose theirs; the views
    stay equal to their queries, and calm brings every index back."""
    rng = random.Random(11)
    engine, s = keyed_engine(monkeypatch, 1)
    try:
        s.execute("create materialized view wide as select k, count(*) as n from t group by k")
        s.execute("create materialized view narrow as select k % 3 as b, sum(v) as s "
                  "from t group by 1")
        ids = {o.name: o.id for o in engine.catalog}

        def of(view: str) -> set[str]:    # a view's indexed state tables
            return {t for t in indexed_tables(engine) if t.split("_")[0] == ids[view]}
        assert of("wide") and of("narrow")
        before = of("wide") | of("narrow")
        for _ in range(key_indexes.LOAD_TICKS + 2):
            values = ", ".join(f"({rng.randrange(1, 20000)}, {rng.randrange(5)})"
                               for _ in range(20))
            s.execute(f"insert into t values {values}")
            engine.tick()
            engine._tick_rows = 20      # what a tick of 20 source rows leaves for the policy
            engine._index_policy()
        assert of("wide") and not of("narrow")
        assert rows(s, "select * from wide") == rows(
            s, "select k, count(*) from t group by k")
        assert rows(s, "select * from narrow") == rows(
            s, "select k % 3, sum(v) from t group by 1")
        gone = before - of("wide")     # lookups that come to read it bring it back alone
        for _ in range(key_indexes.LOAD_TICKS):
            engine.indexes.after_tick(20, idle=False, wanted=gone)
        assert of("wide") | of("narrow") == before and not engine.state.unindexed
        engine.indexes.after_tick(0, idle=True)
        assert of("wide") | of("narrow") == before
    finally:
        engine.close()


def test_under_load_a_first_row_view_reads_its_few_touched_keys_by_index(monkeypatch):
    """DISTINCT ON (the staging dedup) over many stored keys, touched a few at a time by new
    keys, repeated keys and rows that outrank a stored winner: the stored winners' table keeps
    its index under load (its reads go by it), the losers' table (never read by key) loses
    its own, and the view equals its query at every tick."""
    rng = random.Random(5)
    engine, s = keyed_engine(monkeypatch, 0)
    try:
        s.execute("create materialized view d as select distinct on (k) k, v from t "
                  "order by k, v desc")
        d = next(o.id for o in engine.catalog if o.name == "d")
        tables = {t for t in indexed_tables(engine) if t.split("_")[0] == d}
        winners = {t for t in tables if not t.endswith("_l")}
        assert winners and tables - winners
        for i in range(key_indexes.LOAD_TICKS + 2):
            values = [(rng.randrange(1, 20000), rng.randrange(-3, 3)) for _ in range(20)]
            values += [(30000 + 10 * i + j, 1) for j in range(10)]      # new keys
            values += values[:3]                                        # repeated in the tick
            s.execute("insert into t values " + ", ".join(f"({k}, {v})" for k, v in values))
            engine.tick()
            engine._tick_rows = len(values)
            engine._index_policy()
            assert rows(s, "select * from d") == rows(
                s, "select distinct on (k) k, v from t order by k, v desc")
        assert engine.state.unindexed     # under load: some indexes went off ...
        assert {t for t in indexed_tables(engine) if t.split("_")[0] == d} == winners
    finally:
        engine.close()
