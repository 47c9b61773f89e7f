"""The whole path: loadgen -> real Kafka -> eddy sources -> the platform's dbt staging models.

The oracle is the load generator's own record of what it sent (`--out`), judged by the
contract validator of `loadgen.model`, which shares no code with the SQL of the models.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Producer
from eddyproc import EddyProcess, dbt_env

from loadgen.model import TOPICS, validate
from stack.topics import create_topics, delete_topics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# What these tests read: the sources and the staging models (not the expired-events count).
STAGING = ["--select", "path:sources", "path:models/staging", "--exclude", "stg_expired_events"]


def expected_from(out_file: Path) -> dict[str, dict]:
    """Per topic: the event_ids that must reach staging, and how many messages must not."""
    expected = defaultdict(lambda: {"ids": set(), "malformed": 0, "undecodable": 0})
    for line in out_file.read_text().splitlines():
        record = json.loads(line)
        topic = record["topic"]
        if "raw" in record:
            try:
                value = json.loads(record["raw"])
            except ValueError:
                expected[topic]["undecodable"] += 1
                continue
        else:
            value = record["value"]
        if not isinstance(value, dict):
            expected[topic]["undecodable"] += 1
        elif validate(topic, value) is None:
            expected[topic]["ids"].add(value["event_id"])
        else:
            expected[topic]["malformed"] += 1
    return expected


def observed(conn) -> dict[str, dict]:
    seen = {}
    malformed = Counter(dict(conn.execute(
        "select topic, count(*) from stg_malformed_events group by topic").fetchall()))
    for topic in TOPICS:
        ids = [r[0] for r in conn.execute(f"select event_id from stg_{topic}").fetchall()]
        dead = conn.execute(f"select count(*) from src_{topic}_dead_letters").fetchone()[0]
        seen[topic] = {"ids": ids, "malformed": malformed[topic], "undecodable": dead}
    return seen


@pytest.fixture
def platform(kafka_bootstrap, tmp_path):
    """Own topics, an `eddy serve`, and the platform's sources and staging models (the layer
    under test: the marts' planning is test_marts_pipeline's) run against both."""
    prefix = f"stg{uuid.uuid4().hex[:8]}_"
    names = [prefix + t for t in TOPICS]
    create_topics(kafka_bootstrap, names)
    eddy = EddyProcess(tmp_path / "eddy")
    env = dbt_env(eddy.port, kafka_bootstrap, tmp_path)
    try:
        dbt = subprocess.run(
            [str(BIN / "dbt"), "run", "--project-dir", str(REPO), *STAGING,
             "--vars", json.dumps({"topic_prefix": prefix})],
            capture_output=True, text=True, env=env, timeout=900)
        assert dbt.returncode == 0, dbt.stdout[-4000:]
        yield eddy, prefix
    finally:
        eddy.stop()
        delete_topics(kafka_bootstrap, names)


def wait_for(conn, wanted: dict, timeout: float = 90) -> dict:
    """Poll the staging layer until its counts equal `wanted` (or time runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = observed(conn)
        totals = {t: (len(s["ids"]), s["malformed"], s["undecodable"]) for t, s in seen.items()}
        if totals == wanted or time.monotonic() > deadline:
            assert totals == wanted
            return seen
        time.sleep(1)


def test_staging_models_equal_the_contract_oracle(kafka_bootstrap, platform, tmp_path):
    eddy, prefix = platform
    out = tmp_path / "events.jsonl"
    gen = subprocess.run(
        [str(BIN / "loadgen"), "run", "--events", "6000", "--seed", "11",
         "--scenario", "mixed", "--duplicate-fraction", "0.05",
         "--malformed-fraction", "0.03", "--late-fraction", "0.1",
         "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert gen.returncode == 0, gen.stderr[-4000:]
    expected = expected_from(out)
    wanted = {t: (len(expected[t]["ids"]), expected[t]["malformed"], expected[t]["undecodable"])
              for t in TOPICS}
    with eddy.connect() as conn:
        seen = wait_for(conn, wanted)
    for topic in TOPICS:
        ids = seen[topic]["ids"]
        assert len(ids) == len(set(ids)), f"stg_{topic} counts a duplicate twice"
        assert set(ids) == expected[topic]["ids"], f"stg_{topic} holds other events"
    assert sum(e["malformed"] + e["undecodable"] for e in expected.values()) > 0


# Well-formed times are recent: staging keeps events inside the retention horizon (24 h) only.
RECENT = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _transaction(n: int, **changes) -> dict:
    event = {"event_id": f"adv-{n}", "event_time": RECENT,
             "transaction_id": f"t{n}", "user_id": "u1", "amount": 120.5, "currency": "EUR",
             "merchant_id": "m1", "country": "DE", "device_id": "d1"}
    return {**event, **changes}


ADVERSARIAL = [  # (value, expected reason prefix or None when well-formed)
    (_transaction(1), None),
    (_transaction(2, amount=1.005), "amount:"),
    (_transaction(3, amount=1e12), "amount:"),
    (_transaction(4, country="usa"), "country:"),
    (_transaction(5, currency=None), "currency:"),
    (_transaction(6, event_time="2026-13-20T10:11:12.345Z"), "event_time:"),
    (_transaction(7, event_time="2026-11-20T10:11:12Z"), "event_time:"),
    (_transaction(8, event_time=1700000000), "event_time:"),
    (_transaction(9, amount="12.00"), "amount:"),
    (_transaction(10, device_id=None), "device_id:"),
    ({k: v for k, v in _transaction(11).items() if k != "merchant_id"}, "merchant_id:"),
    (_transaction(12, amount=99999.99), None),
]


def test_adversarial_events_are_kept_with_a_reason_and_never_break_the_view(
        kafka_bootstrap, platform):
    eddy, prefix = platform
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    topic = prefix + "transactions"
    for value, _ in ADVERSARIAL + ADVERSARIAL[:1]:          # the first one delivered twice
        producer.produce(topic, key=b"u1", value=json.dumps(value).encode())
    for raw in (b'{"event_id": "adv-x", "amount": ', b"[1, 2]", b"\xff\xfe", b""):
        producer.produce(topic, key=b"u1", value=raw)
    assert producer.flush(30) == 0

    good = {v["event_id"] for v, reason in ADVERSARIAL if reason is None}
    bad = {v["event_id"]: reason for v, reason in ADVERSARIAL if reason is not None}
    wanted = {t: (0, 0, 0) for t in TOPICS}
    wanted["transactions"] = (len(good), len(bad), 4)
    with eddy.connect() as conn:
        seen = wait_for(conn, wanted)
        assert set(seen["transactions"]["ids"]) == good
        reasons = dict(conn.execute(
            "select data ->> 'event_id', reason from stg_malformed_events").fetchall())
        total = conn.execute("select count(*), sum(amount) from stg_transactions").fetchone()
    assert {eid: reasons[eid].split(" ")[0] for eid in bad} == bad
    assert total == (2, Decimal("100120.49"))
