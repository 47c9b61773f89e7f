"""Broker restart: stop and start Kafka while the engine consumes (and a producer keeps going).
The source reconnects by itself, its status shows the stall and the recovery, and no event is
lost or doubled; a sink of the view replays to exactly the view afterwards. The status is
read as a client would, through SQL over the PostgreSQL protocol (mz_internal relations).

The broker restarted is one of this test's own (free ports, data under tmp_path): restarting
the shared one cut off the tests running meanwhile on the other pytest-xdist worker."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter

import pytest
from kafka_harness import driver_of, kafka_engine, produce, query, topic_state, wait_until, wire

import stack
from stack import kafka

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_kafka(tmp_path):
    """Settings of a broker of this test's own, running; stopped at the end."""
    s = stack.Settings.from_env(state_dir=tmp_path / "stack", kafka_port=_free_port(),
                                controller_port=_free_port())
    kafka.start(s, quiet=True)
    try:
        yield s
    finally:
        kafka.stop(s)


def test_broker_restart_reconnects_without_loss_or_duplicates(private_kafka):
    stack_settings, kafka_bootstrap = private_kafka, private_kafka.bootstrap
    kafka_topic = "restart-src"
    stack.create_topics(kafka_bootstrap, [kafka_topic], partitions=3)
    sent: Counter = Counter()
    sink_topic = f"{kafka_topic}-out"
    stop = threading.Event()

    def feed():
        i = 0
        while not stop.is_set():
            batch = [(f"u{(i + j) % 17}", i + j) for j in range(500)]
            produce(kafka_bootstrap, kafka_topic,
                    ((u.encode(), json.dumps({"user_id": u, "seq": s}).encode()) for u, s in batch))
            sent.update(u for u, _ in batch)  # acknowledged (acks=all, idempotent) only
            i += 500
            time.sleep(0.05)

    status_sql = ("SELECT s.status, s.error, s.last_status_change_at FROM "
                  "mz_internal.mz_source_statuses s JOIN mz_sources o ON o.id = s.id "
                  "WHERE o.name = 'src'")

    with kafka_engine() as engine, wire(engine) as sql:
        session = engine.session()
        session.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{kafka_bootstrap}')")
        session.execute(f"CREATE SOURCE src FROM KAFKA CONNECTION kc (TOPIC '{kafka_topic}') FORMAT JSON")
        session.execute("CREATE MATERIALIZED VIEW counts AS SELECT data->>'user_id' AS user_id, "
                        "count(*) AS n FROM src GROUP BY 1")
        session.execute(f"CREATE SINK counts_out FROM counts INTO KAFKA CONNECTION kc "
                        f"(TOPIC '{sink_topic}') KEY (user_id) FORMAT JSON ENVELOPE UPSERT")
        session.close()
        src = driver_of(engine, "src")
        producer = threading.Thread(target=feed)
        producer.start()
        try:
            wait_until(lambda: sql("SELECT s.updates_committed FROM mz_internal.mz_source_statistics"
                                   " s JOIN mz_sources o USING (id) WHERE o.name = 'src'")[0][0]
                       > 2000, what="ingestion under way")
            assert sql(status_sql)[0][:2] == ("running", None)
            assert kafka.stop(stack_settings), "the broker was not running"
            stalled = wait_until(lambda: (r := sql(status_sql)[0])[0] == "stalled" and r,
                                 timeout=60, what="status stalled")
            assert stalled[1] and "kafka" in stalled[1].lower(), stalled
            kafka.start(stack_settings, quiet=True)
            running = wait_until(lambda: (r := sql(status_sql)[0])[0] == "running" and r,
                                 timeout=90, what="running again")
            assert running[1] is None and running[2] > stalled[2]
            time.sleep(2)
        finally:
            stop.set()
            producer.join(120)
        total = sum(sent.values())
        wait_until(lambda: src.status()["offset_committed"] >= total, timeout=90, what="caught up")
        time.sleep(0.5)
        assert query(engine, "SELECT count(*) FROM src")[0][0] == total
        assert dict(query(engine, "SELECT user_id, n FROM counts")) == dict(sent)
        history = sql("SELECT h.status, h.error FROM mz_internal.mz_source_status_history h "
                      "JOIN mz_sources o ON o.id = h.source_id WHERE o.name = 'src' "
                      "ORDER BY h.occurred_at")
        states = [st for st, _ in history]
        i = states.index("stalled")
        assert "running" in states[:i] and "running" in states[i:], states
        assert history[i][1], "the stall is recorded with its error"
        assert sql(status_sql)[0][:2] == ("running", None)
        lag = sql("SELECT p.partition, p.lag, p.offset_committed FROM "
                  "mz_internal.mz_source_partition_statistics p JOIN mz_sources o "
                  "ON o.id = p.source_id WHERE o.name = 'src' ORDER BY 1")
        assert [p for p, *_ in lag] == [0, 1, 2] and all(n == 0 for _, n, _ in lag), lag
        assert sum(c for *_, c in lag) == total
        sink = driver_of(engine, "counts_out")
        wait_until(lambda: (st := sink.status())["status"] == "running" and st["pending_ticks"] == 0,
                   timeout=60, what="sink settled")
        # a fresh broker's first watermark answers can come back empty: read again for 30 s
        deadline = time.monotonic() + 30
        while (replay := {r["user_id"]: r["n"] for r in topic_state(
                kafka_bootstrap, sink_topic, "UPSERT")}) != dict(sent) and time.monotonic() < deadline:
            time.sleep(1)
        assert replay == dict(sent), "the sink topic differs from the view"
    assert stack.list_topics(kafka_bootstrap).get(kafka_topic) == 3
