"""Temporal filters: rows enter and leave maintained views as mz_now() advances, the
state stays bounded, and the view equals the batch query at every tick."""

from __future__ import annotations

from served import tick_statements

from eddy.engine import Engine


def _state_rows(engine, object_id):
    df = engine.dataflows[object_id]
    total = 0
    for name in df.state_tables():
        total += engine.state.conn.execute(f'SELECT count(*) FROM "_eddy"."{name}"').fetchone()[0]
    return total


def test_window_of_validity_and_bounded_state():
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    engine.tick(1_000)
    s.execute("CREATE TABLE ev (id int, t bigint)")
    query = "SELECT id FROM ev WHERE mz_now() >= t AND mz_now() < t + 1000"
    s.execute(f"CREATE MATERIALIZED VIEW recent AS {query}")
    s.execute("INSERT INTO ev VALUES (1, 500), (2, 1500), (3, 2500), (4, 100)")
    obj = next(o for o in engine.catalog if o.name == "recent")
    seen = {}
    for now in (1_000, 1_499, 1_500, 2_000, 2_499, 2_500, 3_499, 3_500, 10_000):
        engine.tick(now)
        got = sorted(r[0] for r in s.execute("SELECT id FROM recent")[0].rows)
        want = sorted(r[0] for r in s.execute(query)[0].rows)
        assert got == want, now
        seen[now] = got
    assert seen[1_000] == [1, 4]
    assert seen[1_499] == [1]
    assert seen[1_500] == [2]
    assert seen[2_500] == [3]
    assert seen[10_000] == []
    assert _state_rows(engine, obj.id) == 0      # expired rows left the state
    engine.close()


def test_timestamp_temporal_filter_with_aggregate():
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    base = 1_700_000_000_000
    engine.tick(base)
    s.execute("CREATE TABLE clicks (user_id int, at timestamptz)")
    query = ("SELECT user_id, count(*) AS n FROM clicks "
             "WHERE mz_now() <= at + INTERVAL '1 minute' GROUP BY user_id")
    s.execute(f"CREATE MATERIALIZED VIEW last_minute AS {query}")
    s.execute("INSERT INTO clicks VALUES (1, to_timestamp(1700000000)), "
              "(1, to_timestamp(1700000030)), (2, to_timestamp(1700000050))")
    for offset in (0, 59_000, 60_000, 60_001, 80_000, 90_001, 110_001):
        engine.tick(base + offset)
        got = sorted(s.execute("SELECT * FROM last_minute")[0].rows)
        want = sorted(s.execute(query)[0].rows)
        assert got == want, offset
    assert got == []
    engine.close()


def test_temporal_filter_in_having_follows_time():
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    engine.tick(10_000)
    s.execute("CREATE TABLE ev (k int, t bigint)")
    query = "SELECT k, max(t) AS last FROM ev GROUP BY k HAVING mz_now() < max(t) + 1000"
    s.execute(f"CREATE MATERIALIZED VIEW live AS {query}")
    s.execute("INSERT INTO ev VALUES (1, 9500), (2, 10200), (1, 9000)")
    for now in (10_000, 10_499, 10_500, 11_199, 11_200, 20_000):
        engine.tick(now)
        assert sorted(s.execute("SELECT * FROM live")[0].rows) == \
            sorted(s.execute(query)[0].rows), now
    assert s.execute("SELECT * FROM live")[0].rows == []
    engine.close()


def test_counting_expired_rows_keeps_no_row_it_released(tmp_path):
    """`count(*) where mz_now() > at + interval` (stg_expired_events' shape): rows become valid
    for good once past the horizon. The count stays equal to the batch query at every tick,
    across a restart, while the state holds only rows still waiting to expire (it used to keep
    every expired row: state grew with every event ever expired)."""
    base = 1_700_000_000_000
    query = ("SELECT topic, count(*) AS n FROM ev "
             "WHERE mz_now() > at + INTERVAL '1 minute' GROUP BY topic")
    engine = Engine(tmp_path, tick_interval=None)
    s = engine.session()
    engine.tick(base)
    s.execute("CREATE TABLE ev (topic text, at timestamptz)")
    s.execute(f"CREATE MATERIALIZED VIEW expired AS {query}")
    # a second view reads the same filtered rows whole (a join): its filter must keep them
    s.execute("CREATE MATERIALIZED VIEW expired_pairs AS SELECT a.topic, count(*) AS n "
              "FROM ev a JOIN ev b ON a.topic = b.topic "
              "WHERE mz_now() > a.at + INTERVAL '1 minute' GROUP BY a.topic")
    pairs = ("SELECT a.topic, count(*) AS n FROM ev a JOIN ev b ON a.topic = b.topic "
             "WHERE mz_now() > a.at + INTERVAL '1 minute' GROUP BY a.topic")
    obj = next(o for o in engine.catalog if o.name == "expired")
    for sec in range(0, 400, 20):
        if sec == 200:      # restart on the persisted state halfway
            engine.close()
            engine = Engine(tmp_path, tick_interval=None)
            s = engine.session()
        rows = ", ".join(f"('t{i % 3}', to_timestamp({base // 1000 + sec - i % 7}))"
                         for i in range(30))
        s.execute(f"INSERT INTO ev VALUES {rows}")
        engine.tick(base + sec * 1000)
        for view, q in (("expired", query), ("expired_pairs", pairs)):
            got = sorted(s.execute(f"SELECT * FROM {view}")[0].rows)
            assert got == sorted(s.execute(q)[0].rows), (view, sec)
        # rows not yet expired: at most the last ~67 s of inserts (30 rows per 20 s)
        assert _state_rows(engine, obj.id) <= 3 * 30 + 30 + 3, sec
    assert sum(n for _, n in s.execute("SELECT * FROM expired")[0].rows) > 400
    engine.close()


def test_counting_expired_rows_stores_new_rows_due_later_in_one_statement():
    """stg_expired_events' common tick: every new row expires no earlier than the next expiry
    already scheduled. One guarded INSERT reads the input and stores them (no tick table of
    the rows first: a statement per topic and tick); the count stays the batch query's."""
    base = 1_700_000_000_000
    query = "SELECT count(*) AS n FROM ev WHERE mz_now() > at + INTERVAL '1 minute'"
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        engine.tick(base)
        s.execute("CREATE TABLE ev (at timestamptz)")
        s.execute(f"CREATE MATERIALIZED VIEW expired AS {query}")
        s.execute(f"INSERT INTO ev VALUES (to_timestamp({base // 1000}))")  # the next expiry
        sql = tick_statements(s, f"INSERT INTO ev SELECT to_timestamp({base // 1000 + 5} + i) "
                                 "FROM generate_series(1, 10) x(i)")
        bounded = [t for t in sql if "AS __from" in t]
        assert len(bounded) == 1 and bounded[0].startswith("INSERT INTO"), bounded
        for sec in (30, 61, 66, 70, 200):
            engine.tick(base + sec * 1000)
            assert s.execute("SELECT n FROM expired")[0].rows == s.execute(query)[0].rows, sec
        assert s.execute("SELECT n FROM expired")[0].rows == [(11,)]
    finally:
        engine.close()
