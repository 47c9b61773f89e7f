"""The whole path: loadgen -> real Kafka -> eddy sources -> the platform's dbt staging models.

The oracle is the load generator's own record of what it sent (`--out`), judged by the
contract validator of `loadgen.model`, which shares no code with the SQL of the models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from eddyproc import EddyProcess

from loadgen.model import TOPICS, validate
from stack.topics import create_topics, delete_topics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


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
def topics(kafka_bootstrap):
    prefix = f"stg{uuid.uuid4().hex[:8]}_"
    names = [prefix + t for t in TOPICS]
    create_topics(kafka_bootstrap, names)
    yield prefix
    delete_topics(kafka_bootstrap, names)


def test_staging_models_equal_the_contract_oracle(kafka_bootstrap, topics, tmp_path):
    eddy = EddyProcess(tmp_path / "eddy")
    env = {**os.environ, "EDDY_PORT": str(eddy.port), "KAFKA_BOOTSTRAP": kafka_bootstrap,
           "DBT_PROFILES_DIR": str(REPO), "DBT_TARGET_PATH": str(tmp_path / "target"),
           "DBT_LOG_PATH": str(tmp_path / "logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    try:
        dbt = subprocess.run(
            [str(BIN / "dbt"), "run", "--project-dir", str(REPO),
             "--vars", json.dumps({"topic_prefix": topics})],
            capture_output=True, text=True, env=env, timeout=300)
        assert dbt.returncode == 0, dbt.stdout[-4000:]

        out = tmp_path / "events.jsonl"
        gen = subprocess.run(
            [str(BIN / "loadgen"), "run", "--events", "6000", "--seed", "11",
             "--scenario", "mixed", "--duplicate-fraction", "0.05",
             "--malformed-fraction", "0.03", "--late-fraction", "0.1",
             "--bootstrap", kafka_bootstrap, "--topic-prefix", topics, "--out", str(out)],
            capture_output=True, text=True, timeout=300)
        assert gen.returncode == 0, gen.stderr[-4000:]
        expected = expected_from(out)

        deadline = time.monotonic() + 90
        with eddy.connect() as conn:
            while True:
                seen = observed(conn)
                totals = {t: (len(s["ids"]), s["malformed"], s["undecodable"])
                          for t, s in seen.items()}
                wanted = {t: (len(e["ids"]), e["malformed"], e["undecodable"])
                          for t, e in ((t, expected[t]) for t in TOPICS)}
                if totals == wanted or time.monotonic() > deadline:
                    break
                time.sleep(1)
        assert totals == wanted
        for topic in TOPICS:
            ids = seen[topic]["ids"]
            assert len(ids) == len(set(ids)), f"stg_{topic} counts a duplicate twice"
            assert set(ids) == expected[topic]["ids"], f"stg_{topic} holds other events"
        assert sum(e["malformed"] + e["undecodable"] for e in expected.values()) > 0
    finally:
        eddy.stop()
