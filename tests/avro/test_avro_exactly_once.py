"""Exactly once through a crash and a registry outage: `eddy serve` reading an Avro topic is
killed with SIGKILL mid-stream, the schema registry is stopped and comes back only after the
engine restarted (so the restarted source cannot fetch writer schemas for a while), and the
writer's schema evolves halfway. Every event must be in the source exactly once, with no dead
letter: an unreachable registry stalls the source, it never drops or dead-letters messages."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from avro_helpers import register, wire

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # eddyproc
from eddyproc import EddyProcess  # noqa: E402
from kafka_harness import producer  # noqa: E402

pytestmark = pytest.mark.integration

V1 = {"type": "record", "name": "event", "fields": [
    {"name": "id", "type": "string"}, {"name": "n", "type": "long"},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
V2 = {**V1, "fields": V1["fields"] + [{"name": "note", "type": ["null", "string"], "default": None}]}
TOTAL = 20_000


def _count(eddy: EddyProcess, sql: str) -> int | None:
    try:
        with eddy.connect() as conn:
            return conn.execute(sql).fetchone()[0]
    except Exception:  # noqa: BLE001 - the engine may be starting
        return None


def _wait(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (got := pred()):
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out: {what}")


def test_kill_engine_and_restart_registry_exactly_once(schema_registry, kafka_bootstrap,
                                                       kafka_topic, tmp_path):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    client = SchemaRegistryClient({"url": schema_registry.url})
    id1 = register(client, f"{kafka_topic}-value", V1)
    data = tmp_path / "eddy"
    status = ("SELECT status || ': ' || coalesce(error, '') FROM mz_internal.mz_source_statuses "
              "WHERE name = 'ev'")
    eddy = EddyProcess(data)
    with eddy.connect() as conn:
        conn.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{kafka_bootstrap}')")
        conn.execute(f"CREATE CONNECTION csr TO CONFLUENT SCHEMA REGISTRY (URL '{schema_registry.url}')")
        conn.execute(f"CREATE SOURCE ev FROM KAFKA CONNECTION kc (TOPIC '{kafka_topic}') "
                     "FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr")
        conn.execute("CREATE MATERIALIZED VIEW per_id AS SELECT id, count(*) AS c FROM ev GROUP BY id")
    id2 = register(client, f"{kafka_topic}-value", V2)  # registered now: the engine has not seen it
    sent = threading.Event()

    def produce_all():
        p = producer(kafka_bootstrap)
        for i in range(TOTAL):
            rec = {"id": f"e{i}", "n": i, "at": 1_795_000_000_000 + i}
            value = wire(id1, V1, rec) if i < TOTAL // 2 else wire(id2, V2, {**rec, "note": "v2"})
            while True:
                try:
                    p.produce(kafka_topic, key=str(i % 97).encode(), value=value)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 500 == 0:
                p.poll(0)
                time.sleep(0.05)  # ~10k events/s: the crash lands mid-stream
        assert p.flush(60) == 0
        sent.set()

    t = threading.Thread(target=produce_all)
    t.start()
    try:
        _wait(lambda: (_count(eddy, "SELECT count(*) FROM ev") or 0) > 1000, 120, "first events in")
        eddy.proc.kill()  # SIGKILL: no shutdown, an uncommitted tick is lost with its offsets
        eddy.proc.wait(30)
        schema_registry.stop()
        t.join(120)
        assert sent.is_set()
        eddy = EddyProcess(data)  # restarts with the registry down: v2 ids cannot be resolved
        time.sleep(8)
        stalled = _count(eddy, "SELECT count(*) FROM ev")
        assert stalled is not None and stalled < TOTAL
        assert _count(eddy, "SELECT count(*) FROM ev_dead_letters") == 0
        assert "schema registry unreachable" in (_count(eddy, status) or "")
        schema_registry.start()
        try:
            _wait(lambda: _count(eddy, "SELECT count(*) FROM ev") == TOTAL, 600, "every event in")
        except AssertionError:
            pytest.fail(f"{_count(eddy, 'SELECT count(*) FROM ev')} of {TOTAL} events; status "
                        f"{_count(eddy, status)}")
        time.sleep(2)
        assert _count(eddy, "SELECT count(*) FROM ev") == TOTAL
        assert _count(eddy, "SELECT count(DISTINCT id) FROM ev") == TOTAL
        assert _count(eddy, "SELECT count(*) FROM per_id WHERE c <> 1") == 0
        assert _count(eddy, "SELECT sum(n) FROM ev") == TOTAL * (TOTAL - 1) // 2
        assert _count(eddy, "SELECT count(*) FROM ev_dead_letters") == 0
    finally:
        t.join(60)
        eddy.stop()
        if schema_registry.settings and not _alive(schema_registry):
            schema_registry.start()


def _alive(reg) -> bool:
    from stack import registry
    return registry.running_pid(reg.settings) is not None and registry.answers(reg.settings)
