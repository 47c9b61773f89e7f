"""Crash test: kill -9 the engine at random moments while it ingests 200,000 events from three
partitions (and a sink publishes the view); after a restart it catches up and the view equals
the oracle exactly, and the sink topic replays to the same rows."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter

import pytest
from kafka_harness import EngineProcess, create_topic, produce, topic_state

N_EVENTS = 200_000
USERS = 500


def _events(seed: int):
    rng = random.Random(seed)
    return [(f"u{rng.randrange(USERS)}", i) for i in range(N_EVENTS)]


# The state in memory (eddy.storage.snapshots): a snapshot every 0.5 s in the background, so
# that most kills land between two and the restart re-reads Kafka from the last one's offsets.
MEMORY = {"EDDY_STATE_STORAGE": "memory", "EDDY_SNAPSHOT_INTERVAL": "0.5"}


def _run(tmp_path, bootstrap, kills: int, seed: int, env: dict | None = None):
    rng = random.Random(seed)
    topic, sink_topic = f"crash-{seed}-{time.time_ns()}", f"crash-sink-{seed}-{time.time_ns()}"
    create_topic(bootstrap, topic, partitions=3)
    events = _events(seed)
    oracle = Counter(u for u, _ in events)
    statements = [
        f"CREATE CONNECTION kc TO KAFKA (BROKER '{bootstrap}')",
        f"CREATE SOURCE src FROM KAFKA CONNECTION kc (TOPIC '{topic}') FORMAT JSON",
        "CREATE MATERIALIZED VIEW counts AS "
        "SELECT data->>'user_id' AS user_id, count(*) AS n FROM src GROUP BY data->>'user_id'",
        f"CREATE SINK counts_sink FROM counts INTO KAFKA CONNECTION kc (TOPIC '{sink_topic}') "
        "KEY (user_id) FORMAT JSON ENVELOPE UPSERT",
    ]
    proc = EngineProcess(tmp_path / "eddy", statements, bootstrap, env)
    proc.start()

    def feed():  # produce while the engine consumes and gets killed
        chunk = N_EVENTS // 20
        for i in range(0, N_EVENTS, chunk):
            produce(bootstrap, topic, ((u.encode(), json.dumps({"user_id": u, "seq": s}).encode())
                                       for u, s in events[i:i + chunk]))

    producer = threading.Thread(target=feed)
    producer.start()
    for k in range(kills):
        time.sleep(rng.uniform(0.5, 3.0))
        proc.kill()
        if k < kills - 1:
            proc.start()
    producer.join()
    got = proc.check("src", N_EVENTS, {
        "counts": "SELECT user_id, n FROM counts",
        "total": "SELECT count(*) FROM src",
        "dead": "SELECT count(*) FROM src_dead_letters",
    })
    assert got["total"] == [[N_EVENTS]], "events lost or doubled in the source"
    assert got["dead"] == [[0]]
    assert {u: n for u, n in got["counts"]} == dict(oracle)
    replay = topic_state(bootstrap, sink_topic, "UPSERT")
    assert {r["user_id"]: r["n"] for r in replay} == dict(oracle), "sink topic differs from the view"


@pytest.mark.integration
@pytest.mark.parametrize("storage", ["file", "memory"])
def test_kill_9_at_three_random_moments(tmp_path, kafka_bootstrap, storage):
    _run(tmp_path, kafka_bootstrap, kills=3, seed=random.randrange(1 << 30),
         env=MEMORY if storage == "memory" else None)


@pytest.mark.integration
@pytest.mark.slow
def test_kill_9_at_twenty_random_moments(tmp_path, kafka_bootstrap):
    _run(tmp_path, kafka_bootstrap, kills=20, seed=random.randrange(1 << 30))
