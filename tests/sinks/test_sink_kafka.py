"""Kafka sinks on a real broker: replaying the sink topic (read_committed) gives exactly the
view's rows, for UPSERT and DEBEZIUM, while the view changes, and after the engine restarts.
(The kill -9 case is part of tests/sources/test_source_crash.py.)"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sources"))
from kafka_harness import driver_of, kafka_engine, query, topic_state, wait_until  # noqa: E402

import stack  # noqa: E402

pytestmark = pytest.mark.integration


def _view(engine):
    return sorted(query(engine, "SELECT k, total, n FROM mv"))


def _replayed(bootstrap, topic, envelope):
    return sorted((r["k"], r["total"], r["n"]) for r in topic_state(bootstrap, topic, envelope))


def _settled(engine, sink):
    st = driver_of(engine, sink).status()
    return st["status"] == "running" and st["pending_ticks"] == 0 and st["last_tick"] is not None


@pytest.mark.parametrize("envelope", ["UPSERT", "DEBEZIUM"])
def test_sink_topic_replays_to_the_view_while_it_changes_and_after_restart(
        kafka_bootstrap, tmp_path, envelope):
    topic = f"sink-{envelope.lower()}-{random.randrange(1 << 40):x}"
    rng = random.Random(3)
    try:
        with kafka_engine(tmp_path / "eddy") as engine:
            s = engine.session()
            s.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{kafka_bootstrap}')")
            s.execute("CREATE TABLE t (k text, v integer)")
            s.execute("INSERT INTO t VALUES ('pre', 1)")
            s.execute("CREATE MATERIALIZED VIEW mv AS SELECT k, sum(v) AS total, count(*) AS n "
                      "FROM t GROUP BY k")
            s.execute(f"CREATE SINK mv_sink FROM mv INTO KAFKA CONNECTION kc (TOPIC '{topic}') "
                      f"KEY (k) FORMAT JSON ENVELOPE {envelope}")
            for step in range(60):
                k = f"k{rng.randrange(8)}"
                if rng.random() < 0.25:
                    s.execute("DELETE FROM t WHERE k = $1", [k])
                else:
                    s.execute("INSERT INTO t VALUES ($1, $2)", [k, rng.randrange(1, 100)])
                if step % 20 == 19:
                    wait_until(lambda: _settled(engine, "mv_sink"), what="sink settled")
                    assert _replayed(kafka_bootstrap, topic, envelope) == _view(engine)
            s.close()
            wait_until(lambda: _settled(engine, "mv_sink"), what="sink settled")
            before = _view(engine)
            assert _replayed(kafka_bootstrap, topic, envelope) == before
            produced = driver_of(engine, "mv_sink").status()["messages_produced"]
            assert produced >= len(before)
        with kafka_engine(tmp_path / "eddy") as engine:  # restart: the sink re-syncs, emits nothing twice
            wait_until(lambda: _settled(engine, "mv_sink"), what="sink settled after restart")
            assert driver_of(engine, "mv_sink").status()["messages_produced"] == 0
            engine.session().execute("INSERT INTO t VALUES ('after', 5)")
            wait_until(lambda: _settled(engine, "mv_sink")
                       and driver_of(engine, "mv_sink").status()["messages_produced"] == 1,
                       what="one more message")
            assert _replayed(kafka_bootstrap, topic, envelope) == _view(engine) == \
                sorted([*before, ("after", 5, 1)])
    finally:
        stack.delete_topics(kafka_bootstrap, [topic])


def test_debezium_messages_carry_before_and_after(kafka_bootstrap, tmp_path):
    from confluent_kafka import Consumer, TopicPartition

    topic = f"sink-dbz-{random.randrange(1 << 40):x}"
    try:
        with kafka_engine() as engine:
            s = engine.session()
            s.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{kafka_bootstrap}')")
            s.execute("CREATE TABLE t (k text, v integer)")
            s.execute("CREATE MATERIALIZED VIEW mv AS SELECT k, sum(v) AS total, count(*) AS n FROM t GROUP BY k")
            s.execute(f"CREATE SINK mv_sink FROM mv INTO KAFKA CONNECTION kc (TOPIC '{topic}') "
                      "KEY (k) FORMAT JSON ENVELOPE DEBEZIUM")
            wait_until(lambda: _settled(engine, "mv_sink"), what="sink settled")
            s.execute("INSERT INTO t VALUES ('a', 1)")
            s.execute("INSERT INTO t VALUES ('a', 2)")
            s.execute("DELETE FROM t WHERE k = 'a'")
            wait_until(lambda: driver_of(engine, "mv_sink").status()["messages_produced"] == 3,
                       what="three changes")
        c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "dbz",
                      "isolation.level": "read_committed"})
        c.assign([TopicPartition(topic, 0, 0)])
        msgs = []
        wait_until(lambda: msgs.extend(m for m in c.consume(10, 0.5) if m.error() is None)
                   or len(msgs) >= 3, what="messages")
        c.close()
        assert [json.loads(m.key()) for m in msgs] == [{"k": "a"}] * 3
        assert [json.loads(m.value()) for m in msgs] == [
            {"before": None, "after": {"k": "a", "total": 1, "n": 1}},
            {"before": {"k": "a", "total": 1, "n": 1}, "after": {"k": "a", "total": 3, "n": 2}},
            {"before": {"k": "a", "total": 3, "n": 2}, "after": None},
        ]
        assert all(dict(m.headers())["eddy.tick"].isdigit() for m in msgs)
    finally:
        stack.delete_topics(kafka_bootstrap, [topic])
