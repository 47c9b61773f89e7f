"""The dbt project's marts against a real `eddy serve` and real Kafka topics.

`dbt build` (models, data tests, unit tests) and `dbt docs generate` must pass; messages with
impossible calendar dates must land in `stg_malformed_events` without breaking any view; old
events must leave the marts and be counted; every mart must have its contract column types.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from eddyproc import EddyProcess, dbt_env

from loadgen.model import TOPICS, validate
from stack.topics import create_topics, delete_topics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MARTS = ["page_views_per_minute", "user_sessions", "funnel_conversion",
         "account_takeover_alerts", "error_alerts"]

# CONTRACTS.md: times timestamptz, counts bigint, money numeric.
CONTRACT_TYPES = {
    "page_views_per_minute": {"window_start": "timestamp with time zone", "page_url": "text",
                              "views": "bigint", "unique_users": "bigint"},
    "user_sessions": {"user_id": "text", "session_start": "timestamp with time zone",
                      "session_end": "timestamp with time zone", "duration_seconds": "numeric",
                      "event_count": "bigint", "page_views": "bigint", "product_views": "bigint",
                      "cart_adds": "bigint", "purchases": "bigint", "revenue": "numeric",
                      "converted": "boolean"},
    "funnel_conversion": {"step_order": "integer", "step": "text", "sessions": "bigint",
                          "conversion_from_previous": "double precision",
                          "conversion_from_start": "double precision",
                          "drop_off": "double precision"},
    "account_takeover_alerts": {"transaction_id": "text", "user_id": "text", "amount": "numeric",
                                "transaction_time": "timestamp with time zone",
                                "trigger_event_id": "text", "trigger_reason": "text",
                                "trigger_time": "timestamp with time zone",
                                "seconds_after_trigger": "numeric"},
    "error_alerts": {"window_start": "timestamp with time zone", "service": "text",
                     "error_count": "bigint", "total_count": "bigint",
                     "error_rate": "double precision"},
}

# Event times that match the RFC 3339 pattern but name no instant: malformed, with this reason.
BAD_DATES = ["2026-02-30T10:00:00.000Z", "2026-02-29T10:00:00.000Z", "1900-02-29T10:00:00.000Z",
             "2026-04-31T10:00:00.000Z", "0000-01-01T10:00:00.000Z"]
BAD_FORMATS = ["2026-03-01T24:00:00.000Z", "2026-03-01T10:60:00.000Z"]
# Real calendar dates far in the past: well-formed, but older than the retention horizon.
OLD_DATES = ["2000-02-29T10:00:00.000Z", "2024-02-29T23:59:59.999Z"]


def _click(event_id: str, event_time: str) -> dict:
    return {"event_id": event_id, "event_time": event_time, "user_id": "cal-user",
            "event_type": "page_view", "page_url": "/calendar", "product_id": None,
            "referrer": None, "user_agent": "pytest", "country": "DE"}


@pytest.fixture(scope="module")
def project(kafka_bootstrap, tmp_path_factory):
    """Own topics holding a seeded load-generator run plus calendar edge cases, an `eddy serve`,
    and `dbt build` of the whole project against both (its output is `project.build`)."""
    work = tmp_path_factory.mktemp("marts")
    prefix = f"mrt{uuid.uuid4().hex[:8]}_"
    names = [prefix + t for t in TOPICS]
    create_topics(kafka_bootstrap, names)
    eddy = EddyProcess(work / "eddy")
    env = dbt_env(eddy.port, kafka_bootstrap, work)

    def dbt(*args: str) -> str:
        r = subprocess.run([str(BIN / "dbt"), *args, "--project-dir", str(REPO),
                            "--vars", json.dumps({"topic_prefix": prefix})],
                           capture_output=True, text=True, env=env, timeout=900)
        assert r.returncode == 0, f"dbt {' '.join(args)} failed:\n{r.stdout[-8000:]}"
        return r.stdout

    try:
        out = work / "events.jsonl"
        gen = subprocess.run(
            [str(BIN / "loadgen"), "run", "--events", "3000", "--seed", "7",
             "--scenario", "mixed", "--duplicate-fraction", "0.05",
             "--malformed-fraction", "0.03", "--late-fraction", "0.1",
             "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "--out", str(out)],
            capture_output=True, text=True, timeout=300)
        assert gen.returncode == 0, gen.stderr[-4000:]
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        for i, when in enumerate(BAD_DATES + BAD_FORMATS + OLD_DATES + [now]):
            producer.produce(prefix + "clicks", key=b"cal-user",
                             value=json.dumps(_click(f"cal-{i}", when)).encode())
        assert producer.flush(30) == 0

        project = type("Project", (), {})()
        project.eddy, project.dbt, project.work, project.events = eddy, dbt, work, out
        project.bootstrap, project.prefix = kafka_bootstrap, prefix
        project.build = dbt("build")
        yield project
    finally:
        eddy.stop()
        delete_topics(kafka_bootstrap, names)


def expected_staging(out_file: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Per topic: the distinct well-formed event ids inside the retention horizon, and the
    well-formed messages older than it, as the load generator's own contract validator judges
    them (plus the calendar cases)."""
    horizon = datetime.now(UTC) - timedelta(hours=24)
    ids = {t: set() for t in TOPICS}
    expired = dict.fromkeys(TOPICS, 0)
    for line in out_file.read_text().splitlines():
        record = json.loads(line)
        value = record.get("value")
        if "raw" in record:
            try:
                value = json.loads(record["raw"])
            except ValueError:
                continue
        if validate(record["topic"], value) is None:
            when = datetime.fromisoformat(value["event_time"])
            if when >= horizon:
                ids[record["topic"]].add(value["event_id"])
            else:
                expired[record["topic"]] += 1
    counts = {t: len(v) for t, v in ids.items()}
    counts["clicks"] += 1                                     # the one at `now`
    expired["clicks"] += len(OLD_DATES)
    return counts, expired


def wait_for_staging(conn, wanted: dict[str, int], timeout: float = 120) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        seen = {t: conn.execute(f"select count(*) from stg_{t}").fetchone()[0] for t in TOPICS}
        if seen == wanted or time.monotonic() > deadline:
            return seen
        time.sleep(1)


def test_dbt_build_runs_models_data_tests_and_unit_tests(project):
    out = project.build
    for unit_test in ["user_sessions_gap_of_exactly_30_minutes",
                      "user_sessions_late_event_merges_two_sessions",
                      "account_takeover_window_and_amount", "int_risky_events_new_and_known_devices",
                      "error_alerts_threshold_and_exceptions", "funnel_conversion_without_sessions"]:
        assert any(unit_test in line and "PASS" in line for line in out.splitlines()), unit_test
    for mart in MARTS:
        assert any(f"model public.{mart}" in line and " OK " in line
                   for line in out.splitlines()), mart
    assert "ERROR=0" in out and "SKIP=0" in out


def test_marts_hold_the_caught_up_events_and_data_tests_pass_on_them(project):
    with project.eddy.connect() as conn:
        wanted, _ = expected_staging(project.events)
        assert wait_for_staging(conn, wanted) == wanted
        counts = {m: conn.execute(f"select count(*) from {m}").fetchone()[0] for m in MARTS}
        funnel = conn.execute("select step from funnel_conversion order by step_order").fetchall()
    assert counts["page_views_per_minute"] > 0 and counts["user_sessions"] > 0
    assert funnel == [("visit",), ("product_view",), ("add_to_cart",), ("purchase",)]
    out = project.dbt("test", "--exclude", "test_type:unit")
    assert "ERROR=0" in out and "PASS=" in out


def test_impossible_calendar_dates_are_malformed_and_break_no_view(project):
    with project.eddy.connect() as conn:
        wanted, wanted_expired = expected_staging(project.events)
        wait_for_staging(conn, wanted)
        reasons = dict(conn.execute(
            "select data ->> 'event_time', reason from stg_malformed_events "
            "where topic = 'clicks' and data ->> 'user_id' = 'cal-user'").fetchall())
        kept = conn.execute("select event_time from stg_clicks "
                            "where user_id = 'cal-user'").fetchall()
        expired = dict(conn.execute(
            "select topic, expired_messages from stg_expired_events").fetchall())
        for relation in [*MARTS, "stg_malformed_events", "stg_expired_events",
                         "int_user_activity", "int_risky_events", *(f"stg_{t}" for t in TOPICS)]:
            conn.execute(f"select * from {relation}").fetchall()      # no view errors
    assert {d: reasons.get(d) for d in BAD_DATES} == dict.fromkeys(
        BAD_DATES, "event_time: not a calendar date")
    assert {d: reasons.get(d, "")[:11] for d in BAD_FORMATS} == dict.fromkeys(
        BAD_FORMATS, "event_time:")
    assert not set(OLD_DATES) & set(reasons)
    assert len(kept) == 1                                 # only the event at `now`
    assert expired == wanted_expired


def test_marts_have_the_contract_columns_and_types(project):
    with project.eddy.connect() as conn:
        rows = conn.execute(
            "select r.name, c.name, c.type from mz_columns c "
            "join mz_relations r on c.id = r.id join mz_schemas s on r.schema_id = s.id "
            "where s.name = 'public' and r.name in (%s, %s, %s, %s, %s) "
            "order by r.name, c.position", MARTS).fetchall()
    found: dict[str, dict[str, str]] = {}
    for relation, column, type_name in rows:
        found.setdefault(relation, {})[column] = type_name
    assert found == CONTRACT_TYPES


def test_docs_generate_documents_every_mart(project):
    project.dbt("docs", "generate")
    catalog = json.loads((project.work / "target" / "catalog.json").read_text())
    nodes = {key.split(".")[-1]: node for key, node in catalog["nodes"].items()}
    for mart in MARTS:
        assert set(nodes[mart]["columns"]) == set(CONTRACT_TYPES[mart]), mart
    manifest = json.loads((project.work / "target" / "manifest.json").read_text())
    undocumented = [
        (node["name"], column) for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and not node["name"].startswith("src_")
        for column in nodes.get(node["name"], {}).get("columns", {})
        if not node["columns"].get(column, {}).get("description")]
    assert not undocumented


@pytest.mark.parametrize("mart", MARTS)
def test_each_mart_is_maintained_incrementally(project, mart):
    with project.eddy.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(
            f"explain materialized view {mart}").fetchall())
    assert "Recompute and diff" not in plan, plan


def _produce_clicks(project, clicks: list[dict]) -> None:
    producer = Producer({"bootstrap.servers": project.bootstrap, "enable.idempotence": True})
    for click in clicks:
        producer.produce(project.prefix + "clicks", key=click["user_id"].encode(),
                         value=json.dumps(click).encode())
    assert producer.flush(30) == 0


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _poll(conn, sql: str, params, wanted, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while True:
        got = conn.execute(sql, params).fetchall()
        if got == wanted or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_a_late_event_merges_two_maintained_sessions(project):
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    user = f"late-{uuid.uuid4().hex[:6]}"
    sessions = "select session_start, event_count from user_sessions where user_id = %s order by 1"
    with project.eddy.connect() as conn:
        _produce_clicks(project, [{**_click(f"{user}-1", _rfc3339(base)), "user_id": user},
                                  {**_click(f"{user}-2", _rfc3339(base + timedelta(hours=1))),
                                   "user_id": user}])
        two = [(base, 1), (base + timedelta(hours=1), 1)]
        assert _poll(conn, sessions, (user,), two) == two
        late = base + timedelta(minutes=30)
        _produce_clicks(project, [{**_click(f"{user}-3", _rfc3339(late)), "user_id": user}])
        assert _poll(conn, sessions, (user,), [(base, 3)]) == [(base, 3)]


def test_an_event_leaves_the_marts_when_it_passes_the_retention_horizon(project):
    user = f"old-{uuid.uuid4().hex[:6]}"
    expired = "select expired_messages from stg_expired_events where topic = 'clicks'"
    in_staging = "select count(*) from stg_clicks where user_id = %s"
    with project.eddy.connect() as conn:
        before = conn.execute(expired).fetchone()[0]
        when = datetime.now(UTC) - timedelta(hours=24) + timedelta(seconds=60)
        _produce_clicks(project, [{**_click(f"{user}-1", _rfc3339(when)), "user_id": user}])
        assert _poll(conn, in_staging, (user,), [(1,)], timeout=55) == [(1,)]
        assert _poll(conn, in_staging, (user,), [(0,)], timeout=90) == [(0,)]
        assert _poll(conn, expired, (), [(before + 1,)]) == [(before + 1,)]
        sessions = conn.execute("select count(*) from user_sessions where user_id = %s",
                                (user,)).fetchone()[0]
    assert sessions == 0
