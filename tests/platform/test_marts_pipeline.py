"""End to end: load generator -> real Kafka -> eddy -> the dbt marts, against the reference.

Every mart must equal, row for row, the plain-Python reference of `marts_reference` computed
from the same messages (late, out-of-order, duplicate and malformed ones included), once the
engine has caught up; a second case sends adversarial events by hand on top of that stream
(one engine and one `dbt run` per module) and checks that the affected rows change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from eddyproc import EddyProcess, dbt_env
from marts_reference import (
    DEFAULT_RETENTION,
    DEFAULT_THRESHOLD,
    MART_COLUMNS,
    Received,
    compare,
    marts,
    parse_time,
    receive,
)

from loadgen.model import TOPICS, validate
from loadgen.producer import KafkaSink
from stack.topics import create_topics, delete_topics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
Message = tuple[str, str, str, None]  # (topic, key, value as sent, mark)


@pytest.fixture(scope="module")
def platform(kafka_bootstrap, tmp_path_factory):
    """Own topics, an `eddy serve`, and `dbt run` of the project's marts and everything under
    them against both (one per module: the second case adds its events to the first one's).
    The fraud-scoring features are left out: nothing here reads them."""
    tmp_path = tmp_path_factory.mktemp("marts")
    prefix = f"mrt{uuid.uuid4().hex[:8]}_"
    names = [prefix + t for t in TOPICS]
    create_topics(kafka_bootstrap, names)
    eddy = EddyProcess(tmp_path / "eddy")
    env = dbt_env(eddy.port, kafka_bootstrap, tmp_path)
    dbt_vars = {"topic_prefix": prefix, "error_alert_threshold": DEFAULT_THRESHOLD,
                "retention_hours": DEFAULT_RETENTION // timedelta(hours=1)}
    try:
        dbt = subprocess.run(
            [str(BIN / "dbt"), "run", "--project-dir", str(REPO), "--exclude", "path:models/features",
             "--vars", json.dumps(dbt_vars)],
            capture_output=True, text=True, env=env, timeout=900)
        assert dbt.returncode == 0, dbt.stdout[-4000:]
        yield eddy, prefix
    finally:
        eddy.stop()
        delete_topics(kafka_bootstrap, names)


def send(bootstrap: str, prefix: str, messages: list[Message]) -> None:
    """Produce with the load generator's own producer (acks=all, idempotence), in order."""
    sink = KafkaSink(bootstrap, prefix, delivery_timeout_s=30)
    sink.send(messages)
    sink.close()
    assert not sink.failed, sink.describe_failure()


def out_messages(out_file: Path) -> list[Message]:
    """The messages of a `loadgen run --out` file, byte for byte as the generator made them."""
    messages = []
    for line in out_file.read_text().splitlines():
        record = json.loads(line)
        if "raw" in record:                      # not JSON: kept as a JSON string
            value = record["raw"]
        else:                                    # the value is written verbatim, last
            value = line[line.index(',"value":') + len(',"value":'):-1]
        messages.append((record["topic"], record["key"], value, None))
    return messages


def expired_messages(messages: list[Message], now: datetime) -> Counter[str]:
    """Per topic, the well-formed messages older than the retention horizon at `now`."""
    expired: Counter[str] = Counter()
    for topic, _, value, _ in messages:
        try:
            event = json.loads(value)
        except ValueError:
            continue
        if validate(topic, event) is None and \
                parse_time(event["event_time"]) < now - DEFAULT_RETENTION:
            expired[topic] += 1
    return expired


# -- observing the engine ---------------------------------------------------------------------

def staging_counts(conn) -> dict[str, tuple[int, int, int, int]]:
    """Per topic: events in staging, malformed, dead letters, expired."""
    malformed = Counter(dict(conn.execute(
        "select topic, count(*) from stg_malformed_events group by topic").fetchall()))
    expired = Counter(dict(conn.execute(
        "select topic, sum(expired_messages) from stg_expired_events group by topic")
        .fetchall()))
    return {t: (conn.execute(f"select count(*) from stg_{t}").fetchone()[0], malformed[t],
                conn.execute(f"select count(*) from src_{t}_dead_letters").fetchone()[0],
                int(expired[t] or 0))
            for t in TOPICS}


def wanted_counts(received: Received, expired: Counter[str],
                  now: datetime) -> dict[str, tuple[int, int, int, int]]:
    oldest = now - DEFAULT_RETENTION
    return {t: (sum(e["event_time"] >= oldest for e in received.events[t]),
                received.malformed[t], received.undecodable[t], expired[t])
            for t in TOPICS}


def wait_for_staging(conn, received: Received, messages: list[Message],
                     timeout: float = 180) -> None:
    """Poll until staging holds exactly what was sent (the engine has caught up)."""
    deadline = time.monotonic() + timeout
    while True:
        now = datetime.now(UTC)
        wanted = wanted_counts(received, expired_messages(messages, now), now)
        seen = staging_counts(conn)
        if seen == wanted:
            return
        if time.monotonic() > deadline:
            pytest.fail("staging did not catch up: (events, malformed, dead letters, expired)"
                        f"\nwanted {wanted}\nseen   {seen}")
        time.sleep(0.5)


def read_mart(conn, mart: str) -> list[dict]:
    columns = MART_COLUMNS[mart][1]
    rows = conn.execute(f"select {', '.join(columns)} from {mart}").fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def assert_marts_equal_reference(conn, received: Received, timeout: float = 30) -> dict:
    """Every mart equals the reference of `received`; returns the reference."""
    deadline = time.monotonic() + timeout
    while True:
        expected = marts(received, now=datetime.now(UTC), retention=DEFAULT_RETENTION,
                         threshold=DEFAULT_THRESHOLD)
        problems = [p for mart, rows in expected.items()
                    for p in compare(mart, rows, read_mart(conn, mart))]
        if not problems:
            return expected
        if time.monotonic() > deadline:
            pytest.fail("marts differ from the reference:\n" + "\n".join(problems))
        time.sleep(0.5)


# -- the load generator's stream --------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(kafka_bootstrap, platform, tmp_path_factory) -> list[Message]:
    """The load generator's stream (fixed seed, with faults), produced to the topics."""
    _, prefix = platform
    # Simulated time runs at --rate events/s: 5000 events at 1/s span ~80 minutes (revisits
    # after > 30 min, takeovers, an outage), written at once by a dry run, then produced.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    out = tmp_path_factory.mktemp("loadgen") / "events.jsonl"
    gen = subprocess.run(
        [str(BIN / "loadgen"), "run", "--dry-run", "--no-progress", "--seed", "7",
         "--events", "5000", "--rate", "1", "--users", "2000", "--scenario", "mixed",
         "--late-fraction", "0.1", "--max-lateness", "1800", "--duplicate-fraction", "0.05",
         "--malformed-fraction", "0.03", "--start-time", start.isoformat(),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr[-4000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    marks = Counter(next((m for m in ("late", "duplicate", "malformed") if m in r), "plain")
                    for r in records)
    assert min(marks.values()) > 100, marks
    messages = out_messages(out)
    send(kafka_bootstrap, prefix, messages)
    return messages


def test_every_mart_equals_the_reference_for_a_faulty_generated_stream(platform, generated):
    eddy, _ = platform
    received = receive((topic, value) for topic, _, value, _ in generated)
    with eddy.connect() as conn:
        wait_for_staging(conn, received, generated)
        expected = assert_marts_equal_reference(conn, received)

    # The stream exercises what the marts are about (else the comparison proves little).
    sessions = Counter(r["user_id"] for r in expected["user_sessions"])
    reasons = Counter(r["trigger_reason"] for r in expected["account_takeover_alerts"])
    funnel = {r["step"]: r["sessions"] for r in expected["funnel_conversion"]}
    assert sum(n > 1 for n in sessions.values()) >= 5, "users with several sessions"
    assert reasons["new_device_login"] and len(reasons) >= 2, reasons
    assert funnel["purchase"] > 0 and funnel["visit"] > funnel["purchase"], funnel
    assert len(expected["error_alerts"]) >= 2
    assert len(expected["page_views_per_minute"]) > 100


# -- adversarial events by hand ---------------------------------------------------------------

class Events:
    """Hand-made contract events at minutes after `base` (ids unique per test run)."""

    def __init__(self, base: datetime):
        self.base = base
        self.n = 0

    def _make(self, topic: str, key: str, minutes: float | timedelta, **fields) -> Message:
        self.n += 1
        when = self.base + (minutes if isinstance(minutes, timedelta)
                            else timedelta(minutes=minutes))
        event = {"event_id": f"adv-{uuid.uuid4().hex[:8]}-{self.n}",
                 "event_time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 **fields}
        assert validate(topic, event) is None, validate(topic, event)
        return topic, key, json.dumps(event), None

    def click(self, user: str, minutes: float, kind: str = "page_view") -> Message:
        return self._make("clicks", user, minutes, user_id=user, event_type=kind,
                          page_url="/p" if kind == "product_view" else "/",
                          product_id="p1" if kind == "product_view" else None,
                          referrer=None, user_agent="test", country="DE")

    def cart(self, user: str, minutes: float) -> Message:
        return self._make("cart_events", user, minutes, user_id=user, event_type="add_to_cart",
                          product_id="p1", quantity=2, unit_price=19.99)

    def purchase(self, user: str, minutes: float, amount: float) -> Message:
        return self._make("purchases", user, minutes, user_id=user, order_id=f"o{self.n}",
                          amount=amount, currency="EUR", item_count=2)

    def login(self, user: str, minutes: float, device: str, success: bool = True) -> Message:
        return self._make("logins", user, minutes, user_id=user, device_id=device,
                          ip="10.1.2.3", country="DE", success=success)

    def transaction(self, user: str, minutes: float | timedelta, amount: float) -> Message:
        return self._make("transactions", user, minutes, transaction_id=f"tx{self.n}",
                          user_id=user, amount=amount, currency="EUR", merchant_id="m1",
                          country="DE", device_id="d1")

    def log(self, service: str, minutes: float, level: str, message: str) -> Message:
        return self._make("app_logs", service, minutes, service=service, level=level,
                          message=message, trace_id=None)


def malformed(topic: str, key: str, value: str) -> Message:
    return topic, key, value, None


def test_adversarial_events_update_the_rows_they_belong_to(kafka_bootstrap, platform,
                                                           generated):
    eddy, prefix = platform
    # hours before the generated stream, with their own users and services
    ev = Events(datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=6))
    buy = ev.purchase("u2", 1, 39.98)
    first = [
        ev.click("u1", 0), ev.click("u1", 50, "product_view"),             # two sessions
        ev.click("u2", 0, "product_view"), ev.cart("u2", 0.5), buy,
        malformed("clicks", "u3", '{"event_id": "bad-1", "event_time": '),
        ev.click("u3", 2),
        malformed("clicks", "u3", json.dumps({"event_id": "bad-2", "user_id": "u3",
                                              "event_time": "2026-02-30T10:00:00.000Z"})),
        ev.login("u4", 0, "d-new"), alert := ev.transaction("u4", 10, 100.00),
        ev.transaction("u4", timedelta(minutes=10, milliseconds=1), 500.00),
        *[ev.log("adv-search", 5, "ERROR", f"failure {i}") for i in range(5)],  # at the threshold
        *[ev.log("adv-auth", 7, "ERROR", f"failure {i}") for i in range(3)],
        *[ev.log("adv-auth", 7, "WARN", f"Upstream EXCEPTION {i}") for i in range(3)],
        ev.click("u9", -25 * 60),                                         # past the horizon
        # a gap of exactly 30 minutes, then one of 30 minutes and 1 ms
        ev.click("u5", 0), ev.click("u5", 30),
        ev.click("u5", timedelta(minutes=60, milliseconds=1)),
        # two first logins from a device at the same instant; 99.99 is below the amount
        ev.login("u6", 0, "d6"), ev.login("u6", 0, "d6"), ev.transaction("u6", 5, 150.00),
        ev.transaction("u6", 5, 99.99),
        # a failed login from a new device is not risky
        ev.login("u7", 0, "d7", success=False), ev.transaction("u7", 1, 200.00),
    ]
    late = ev.cart("u1", 25)                                              # merges the sessions
    second = [
        buy,                                                              # delivered again
        late,
        malformed("purchases", "u2", "not json at all"),
        ev.log("adv-search", 5.5, "INFO", "java.lang.NullPointerException in handler"),
        ev.login("u4", -1, "d-new"),                                      # d-new was known
        ev.click("u3", 3),
    ]
    with eddy.connect() as conn:
        send(kafka_bootstrap, prefix, first)
        before_received = receive((t, v) for t, _, v, _ in generated + first)
        wait_for_staging(conn, before_received, generated + first)
        before = assert_marts_equal_reference(conn, before_received)

        send(kafka_bootstrap, prefix, second)
        after_received = receive((t, v) for t, _, v, _ in generated + first + second)
        wait_for_staging(conn, after_received, generated + first + second)
        after = assert_marts_equal_reference(conn, after_received)

    def sessions_of(result: dict, user: str) -> list[tuple]:
        return sorted((r["event_count"], r["purchases"], r["revenue"])
                      for r in result["user_sessions"] if r["user_id"] == user)

    assert sessions_of(before, "u1") == [(1, 0, 0), (1, 0, 0)]
    assert sessions_of(after, "u1") == [(3, 0, 0)]
    assert sessions_of(before, "u2") == sessions_of(after, "u2") == [(3, 1, Decimal("39.98"))]
    assert sessions_of(after, "u5") == [(1, 0, 0), (2, 0, 0)]
    def error_alerts(result: dict) -> list[tuple]:
        return sorted((r["service"], r["error_count"]) for r in result["error_alerts"]
                      if r["service"].startswith("adv-"))

    assert error_alerts(before) == [("adv-auth", 6)]
    assert error_alerts(after) == [("adv-auth", 6), ("adv-search", 6)]

    def alerted(result: dict) -> Counter:
        return Counter(r["user_id"] for r in result["account_takeover_alerts"]
                       if r["user_id"] in ("u4", "u6", "u7"))

    assert alerted(before) == {"u4": 1, "u6": 2}
    assert [r["transaction_id"] for r in before["account_takeover_alerts"]
            if r["user_id"] == "u4"] == [json.loads(alert[2])["transaction_id"]]
    assert alerted(after) == {"u6": 2}
    assert not any(r["user_id"] == "u9" for r in after["user_sessions"])
