"""Helpers for the load generator tests: generating streams and an independent ATO reference."""

from __future__ import annotations

import itertools
import json
import socket
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from loadgen.faults import FaultConfig
from loadgen.model import TOPICS
from loadgen.runner import RunOptions, messages

START = "2026-11-20T10:00:00Z"
START_MS = int(datetime.fromisoformat(START).timestamp() * 1000)


def generate(n: int, seed: int = 3, scenario: str = "steady", rate: float = 1000.0,
             faults: FaultConfig | None = None, **kw) -> list[tuple[str, str, str, str | None]]:
    """The first `n` messages a run of `n` events with these options sends."""
    opts = RunOptions(seed=seed, events=n, rate=rate, scenario=scenario, start_ms=START_MS,
                      faults=faults or FaultConfig(), via=None, **kw)
    return list(itertools.islice(messages(opts), n))


def events_by_topic(msgs) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for topic, _, value, mark in msgs:
        if mark is None or not mark.startswith("malformed"):
            out[topic].append(json.loads(value))
    return out


def ts(event: dict) -> datetime:
    return datetime.fromisoformat(event["event_time"])


def ato_alerts(by_topic: dict[str, list[dict]]) -> list[tuple[str, str, str]]:
    """(transaction_id, trigger_event_id, reason) per CONTRACTS.md `account_takeover_alerts`,
    computed independently of the simulator from the events alone."""
    risky: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    seen: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    logins = sorted((e for e in by_topic["logins"] if e["success"]), key=ts)
    for e in logins:
        earlier = [d for t, d in seen[e["user_id"]] if t < ts(e)]
        if e["device_id"] not in earlier:
            risky[e["user_id"]].append((ts(e), e["event_id"], "new_device_login"))
        seen[e["user_id"]].append((ts(e), e["device_id"]))
    for e in by_topic["device_changes"]:
        risky[e["user_id"]].append((ts(e), e["event_id"], e["change_type"]))
    alerts = []
    for tx in by_topic["transactions"]:
        if tx["amount"] < 100:
            continue
        for t, trigger, reason in risky.get(tx["user_id"], ()):
            if t <= ts(tx) <= t + timedelta(minutes=10):
                alerts.append((tx["transaction_id"], trigger, reason))
    return sorted(set(alerts))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


def consume(bootstrap: str, prefix: str, expected: int, timeout: float = 60):
    """All messages of the prefixed contract topics: (topic, key, value, timestamp_ms)."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([prefix + t for t in TOPICS])
    out = []
    deadline = time.monotonic() + timeout
    idle_since = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(10_000, 1.0)
            batch = [m for m in batch if m.error() is None]
            out += [(m.topic()[len(prefix):], m.key().decode(), m.value(), m.timestamp()[1])
                    for m in batch]
            if len(out) >= expected:
                if not batch and idle_since and time.monotonic() - idle_since > 2:
                    break  # nothing more arrives
                idle_since = idle_since or time.monotonic()
    finally:
        consumer.close()
    return out
