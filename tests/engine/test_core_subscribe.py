"""SUBSCRIBE: snapshot then per-tick changes; options; slow subscribers fail, ticks go on."""

from __future__ import annotations

import pytest

from eddy.engine import Engine
from eddy.errors import EddyError
from eddy.sql import subscribe as subscribe_module


@pytest.fixture
def s():
    engine = Engine(None, tick_interval=None)
    session = engine.session()
    session.execute("CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, 'x')")
    session.execute("CREATE MATERIALIZED VIEW mv AS SELECT b, count(*) AS n FROM t GROUP BY b")
    yield session
    engine.close()


def test_snapshot_then_changes_with_progress(s):
    engine = s.engine
    engine.tick(100)
    res = s.execute("SUBSCRIBE mv WITH (PROGRESS)")[0]
    assert [c.name for c in res.columns] == ["mz_timestamp", "mz_progressed", "mz_diff", "b", "n"]
    sub = res.subscription
    assert sub.fetch(timeout=1) == [(100, False, 1, "x", 1), (101, True, None, None, None)]
    engine.tick(200)
    s.execute("INSERT INTO t VALUES (2, 'x')")
    rows = sub.fetch(timeout=1)
    data = sorted(r for r in rows if not r[1])
    assert data == [(200, False, -1, "x", 1), (200, False, 1, "x", 2)]
    assert any(r[1] for r in rows)
    sub.close()
    assert sub not in engine.subscriptions


def test_query_subscription_without_snapshot_and_up_to(s):
    engine = s.engine
    engine.tick(10)
    sub = s.execute("SUBSCRIBE (SELECT a FROM t WHERE a > 1) WITH (SNAPSHOT = false) "
                    "UP TO 30")[0].subscription
    transient = sub.object_id
    assert transient in engine.dataflows
    s.execute("INSERT INTO t VALUES (5, 'y'), (0, 'z')")
    assert sub.fetch(timeout=1) == [(10, 1, 5)]
    engine.tick(30)
    assert sub.fetch(timeout=0.1) == [] and sub.done
    assert transient not in engine.dataflows


def test_envelope_upsert(s):
    sub = s.execute("SUBSCRIBE mv ENVELOPE UPSERT (KEY (b))")[0].subscription
    assert [c.name for c in sub.columns] == ["mz_timestamp", "mz_state", "b", "n"]
    assert [r[1:] for r in sub.fetch(timeout=1)] == [("upsert", "x", 1)]
    s.execute("INSERT INTO t VALUES (3, 'x')")
    assert [r[1:] for r in sub.fetch(timeout=1)] == [("upsert", "x", 2)]
    s.execute("DELETE FROM t")
    assert [r[1:] for r in sub.fetch(timeout=1)] == [("delete", "x", None)]


def test_slow_subscriber_overflows_without_stalling_ticks(s, monkeypatch):
    monkeypatch.setattr(subscribe_module, "MAX_BUFFER", 5)
    sub = s.execute("SUBSCRIBE t")[0].subscription
    s.execute("INSERT INTO t SELECT g, 'q' FROM generate_series(1, 10) AS g")
    s.execute("INSERT INTO t VALUES (99, 'w')")         # ticks keep committing
    assert s.execute("SELECT count(*) FROM t")[0].rows == [(12,)]
    with pytest.raises(EddyError) as e:
        sub.fetch(timeout=1)
    assert "behind" in e.value.message
