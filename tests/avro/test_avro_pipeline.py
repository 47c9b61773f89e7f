"""End to end in Avro: `loadgen --format avro --schema-evolution` -> Kafka -> Avro sources (dbt
variable event_format=avro) -> staging -> the five marts, which must equal, row for row, the
marts the JSON pipeline computes from the same seed (same events; late, duplicated and
malformed ones included). The Avro sources are created before the run, with schema version 1;
halfway the generator switches to version 2 (an added optional field)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # eddyproc
from eddyproc import EddyProcess, dbt_env  # noqa: E402

from loadgen.avro import ContractEncoder  # noqa: E402
from loadgen.model import TOPICS  # noqa: E402
from stack.topics import create_topics, delete_topics  # noqa: E402

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MARTS = ("page_views_per_minute", "user_sessions", "funnel_conversion",
         "account_takeover_alerts", "error_alerts")
EVENTS = 3000


def loadgen(bootstrap: str, prefix: str, start: str, *extra: str) -> None:
    # --sim-rate 5: the events span 10 minutes of event time, so takeovers reach their payments
    cmd = [str(BIN / "loadgen"), "run", "--events", str(EVENTS), "--seed", "23", "--users", "300",
           "--sim-rate", "5", "--scenario", "mixed", "--late-fraction", "0.1", "--max-lateness", "600",
           "--duplicate-fraction", "0.05", "--malformed-fraction", "0.03", "--start-time", start,
           "--bootstrap", bootstrap, "--topic-prefix", prefix, "--no-progress", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def dbt_run(eddy: EddyProcess, bootstrap: str, work: Path, prefix: str, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "dbt"), "run", "--project-dir", str(REPO), "--select", "+path:models/marts", "stg_malformed_events",
         "--vars", json.dumps({"topic_prefix": prefix})],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**dbt_env(eddy.port, bootstrap, work), **env})


def _key(v):
    if isinstance(v, Decimal):
        return ("n", float(v))
    if isinstance(v, float):
        return ("n", round(v, 9))
    return (type(v).__name__, v)


def rows(conn, relation: str) -> list[tuple]:
    got = conn.execute(f"select * from {relation}").fetchall()
    return sorted((tuple(_key(v) for v in r) for r in got), key=repr)


def counts(conn) -> tuple:
    staged = tuple(conn.execute(f"select count(*) from stg_{t}").fetchone()[0] for t in TOPICS)
    bad = conn.execute("select count(*) from stg_malformed_events").fetchone()[0]
    dead = sum(conn.execute(f"select count(*) from src_{t}_dead_letters").fetchone()[0] for t in TOPICS)
    return staged, bad + dead


@pytest.mark.timeout(1800)  # two engines and two `dbt run`s of the marts
def test_avro_marts_equal_json_marts(schema_registry, kafka_bootstrap, tmp_path):
    start = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:00.000Z")
    pj, pa = f"pj{uuid.uuid4().hex[:6]}_", f"pa{uuid.uuid4().hex[:6]}_"
    names = [p + t for p in (pj, pa) for t in TOPICS]
    create_topics(kafka_bootstrap, names)
    ContractEncoder(schema_registry.url, pa)  # version 1 of every subject, before the sources
    eddy_j, eddy_a = EddyProcess(tmp_path / "json"), EddyProcess(tmp_path / "avro")
    try:
        loadgen(kafka_bootstrap, pj, start, "--format", "json")
        runs = [dbt_run(eddy_j, kafka_bootstrap, tmp_path / "dbt_json", pj),
                dbt_run(eddy_a, kafka_bootstrap, tmp_path / "dbt_avro", pa, EVENT_FORMAT="avro",
                        SCHEMA_REGISTRY_URL=schema_registry.url)]
        for run in runs:
            out, _ = run.communicate(timeout=900)
            assert run.returncode == 0, out[-4000:]
        loadgen(kafka_bootstrap, pa, start, "--format", "avro", "--schema-evolution",
                "--registry-url", schema_registry.url)
        with eddy_j.connect() as cj, eddy_a.connect() as ca:
            # the Avro sources kept the columns of version 1; the registry has version 2 too
            cols = [r[0] for r in ca.execute("show columns from src_clicks").fetchall()]
            assert "client_version" not in cols and "event_time" in cols
            from confluent_kafka.schema_registry import SchemaRegistryClient
            client = SchemaRegistryClient({"url": schema_registry.url})
            assert all(client.get_versions(f"{pa}{t}-value") == [1, 2] for t in TOPICS)
            deadline, last = time.monotonic() + 600, None
            while True:
                seen = (counts(cj), counts(ca))
                if seen[0] == seen[1] and seen == last and sum(seen[0][0]) > 0:
                    break
                assert time.monotonic() < deadline, f"pipelines did not agree: json, avro = {seen}"
                last = seen
                time.sleep(3)
            assert sum(seen[0][0]) > 0.8 * EVENTS and seen[0][1] > 0  # events and bad ones
            for mart in MARTS:
                want, got = rows(cj, mart), rows(ca, mart)
                assert want, f"{mart} is empty"
                assert got == want, f"{mart}: avro differs from json"
    finally:
        eddy_j.stop()
        eddy_a.stop()
        delete_topics(kafka_bootstrap, names)
