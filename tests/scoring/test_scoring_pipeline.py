"""The scorer end to end: real Kafka, `eddy serve` with the dbt feature views, `python -m app.scoring`.

- Point in time: every decision's features equal the same features computed in plain Python
  (app/scoring/reference.py) from the events strictly before the transaction, both on the
  online path (the views, before the engine has the transaction) and on the exact path (the
  engine already counts the transaction and a later login: replay after a restart).
- Exactly once: the scorer killed with SIGKILL mid-stream, then restarted: every transaction has
  exactly one committed decision in `transaction_decisions` (topic and engine relation).
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from eddyproc import EddyProcess, dbt_env

from app.scoring.reference import USER_FEATURES, History, parse_time
from loadgen.model import TOPICS
from stack.topics import create_topics, delete_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _time(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def platform(kafka_bootstrap, tmp_path_factory):
    """Own topics, an `eddy serve`, and the feature views (dbt run of their lineage)."""
    work = tmp_path_factory.mktemp("scoring")
    prefix = f"fs{uuid.uuid4().hex[:8]}_"
    topics = [prefix + t for t in TOPICS] + [prefix + "transaction_decisions"]
    create_topics(kafka_bootstrap, topics)
    eddy = EddyProcess(work / "eddy")
    env = dbt_env(eddy.port, kafka_bootstrap, work)
    run = subprocess.run(
        [str(BIN / "dbt"), "run", "--select", "+feat_user_transactions", "+feat_user_logins",
         "--vars", json.dumps({"topic_prefix": prefix})],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:]
    try:
        yield {"eddy": eddy, "prefix": prefix, "bootstrap": kafka_bootstrap, "work": work}
    finally:
        eddy.stop()
        delete_topics(kafka_bootstrap, topics)


class Scorer:
    """`python -m app.scoring` as a subprocess with its own group and transactional id."""

    def __init__(self, platform, name: str, max_messages: int = 1000):
        self.platform = platform
        self.config = platform["work"] / f"{name}.toml"
        self.config.write_text(
            f'[kafka]\ngroup_id = "{name}"\ntransactional_id = "{name}-tx"\n'
            f"[batch]\nmax_messages = {max_messages}\npoll_timeout_ms = 20\n")
        self.log = platform["work"] / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        p = self.platform
        env = {**os.environ, "EDDY_PORT": str(p["eddy"].port), "EDDY_SSLMODE": "disable"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.scoring", "--config", str(self.config),
             "--topic-prefix", p["prefix"], "--bootstrap", p["bootstrap"]],
            cwd=REPO, env=env, stdout=open(self.log, "a"), stderr=subprocess.STDOUT)  # noqa: SIM115

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def output(self) -> str:
        return self.log.read_text()[-3000:]


def produce(platform, events: list[tuple[str, dict]]) -> None:
    producer = Producer({"bootstrap.servers": platform["bootstrap"], "enable.idempotence": True})
    for topic, event in events:
        producer.produce(platform["prefix"] + topic, json.dumps(event).encode(),
                         event["user_id"].encode())
    assert producer.flush(30) == 0


def decisions(platform, timeout: float = 5.0) -> list[dict]:
    """Every committed decision in the topic (read_committed, from the start)."""
    topic = platform["prefix"] + "transaction_decisions"
    consumer = Consumer({"bootstrap.servers": platform["bootstrap"], "group.id": uuid.uuid4().hex,
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in parts]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out, pos = [], dict.fromkeys(parts, 0)
        deadline = time.monotonic() + timeout
        while any(pos[p] < ends[p] for p in parts) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    out.append(json.loads(msg.value()))
                    pos[msg.partition()] = msg.offset() + 1
                else:
                    continue
            # transaction markers take offsets too: the position says how far we got
            for tp in consumer.position([TopicPartition(topic, p) for p in parts]):
                if tp.offset >= 0:
                    pos[tp.partition] = max(pos[tp.partition], tp.offset)
        return out
    finally:
        consumer.close()


def wait_for_decisions(platform, ids: set[str], scorer: Scorer, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {d["transaction_id"]: d for d in decisions(platform)}
        if ids <= got.keys():
            return got
        assert scorer.proc.poll() is None, scorer.output()
        time.sleep(1)
    raise AssertionError(f"{len(ids - got.keys())} transactions undecided\n{scorer.output()}")


def wait_until(conn, sql: str, params, expected, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(sql, params).fetchone()
        if row is not None and tuple(row) == tuple(expected):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{sql} {params}: {row} != {expected}")
        time.sleep(0.5)


class Events:
    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    def _head(self, t: datetime, user: str) -> dict:
        return {"event_id": str(uuid.uuid4()), "event_time": _time(t), "user_id": user}

    def tx(self, t, user, amount, merchant="m0001", country="US", device="d1") -> dict:
        e = {**self._head(t, user), "transaction_id": f"tx-{uuid.uuid4().hex[:16]}",
             "amount": amount, "currency": "USD", "merchant_id": merchant, "country": country,
             "device_id": device}
        self.sent.append(("transactions", e))
        return e

    def login(self, t, user, device, success=True) -> dict:
        e = {**self._head(t, user), "device_id": device, "ip": "10.0.0.1", "country": "US",
             "success": success}
        self.sent.append(("logins", e))
        return e

    def change(self, t, user, kind, device=None) -> dict:
        e = {**self._head(t, user), "change_type": kind, "device_id": device}
        self.sent.append(("device_changes", e))
        return e

    def history(self) -> History:
        h = History()
        for topic, e in self.sent:
            h.add(topic, e)
        return h


def assert_point_in_time(decision: dict, expected: dict) -> None:
    got = decision["features"]
    assert set(got) == set(USER_FEATURES), got
    for name in USER_FEATURES:
        want, have = expected[name], got[name]
        if want is None or have is None:
            assert want == have or (name.startswith("tx_") and not want and not have), \
                (decision["transaction_id"], name, want, have)
        elif isinstance(want, datetime):
            assert parse_time(have) == want, (name, want, have)
        elif isinstance(want, Decimal):
            assert Decimal(str(have)).quantize(Decimal("0.01")) == want, (name, want, have)
        elif isinstance(want, float):
            assert math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-9), (name, want, have)
        else:
            assert have == want, (decision["transaction_id"], name, want, have)


def test_features_are_point_in_time_on_both_paths(platform):
    eddy = platform["eddy"]
    ev = Events()
    base = datetime.now(UTC).replace(microsecond=0)
    m = timedelta(minutes=1)
    # A: three payments (one outside the 10-minute window), a login, a failed login, a reset
    ev.tx(base - 12 * m, "pit-a", 20.00, "m0001", "US")
    ev.tx(base - 7 * m, "pit-a", 35.50, "m0002", "US")
    ev.tx(base - 2 * m, "pit-a", 12.25, "m0001", "DE")
    ev.login(base - 5 * m, "pit-a", "dA1")
    ev.login(base - 4 * m, "pit-a", "dX", success=False)
    ev.change(base - 3 * m, "pit-a", "password_reset")
    # B: a known device, then a new one; one payment a while ago
    ev.tx(base - 30 * m, "pit-b", 50.00, "m0003", "GB")
    ev.login(base - 20 * m, "pit-b", "dB1")
    ev.login(base - 60 * m, "pit-b", "dB1")
    ev.login(base - 1 * m, "pit-b", "dB2")
    produce(platform, ev.sent)
    with eddy.connect() as conn:
        wait_until(conn, "select tx_count_24h, tx_count_10m from feat_user_transactions "
                   "where user_id = %s", ("pit-a",), (3, 2))
        wait_until(conn, "select last_login_device, last_login_new_device from "
                   "feat_user_logins where user_id = %s", ("pit-b",), ("dB2", True))
        wait_until(conn, "select last_risky_reason from feat_user_logins where user_id = %s",
                   ("pit-a",), ("password_reset",))

    scorer = Scorer(platform, f"pit-{uuid.uuid4().hex[:6]}")
    scorer.start()
    try:
        # the scorer is consuming once a probe is decided (else the engine may get the
        # transactions first, and they take the exact path, tested below)
        probe = Events().tx(datetime.now(UTC), f"probe-{uuid.uuid4().hex[:6]}", 1.00)
        produce(platform, [("transactions", probe)])
        wait_for_decisions(platform, {probe["transaction_id"]}, scorer)
        # online path: scored before the engine has them
        now = datetime.now(UTC)
        first = [ev.tx(now, "pit-a", 250.00, "m0100", "RU", "dZ"),
                 ev.tx(now, "pit-b", 18.40, "m0003", "GB", "dB2"),
                 ev.tx(now, "pit-c", 9.99, "m0004", "FR", "dC")]
        produce(platform, [("transactions", e) for e in first])
        got = wait_for_decisions(platform, {e["transaction_id"] for e in first}, scorer)
        with eddy.connect() as conn:  # the next one counts the first
            wait_until(conn, "select tx_count_24h from feat_user_transactions where user_id = %s",
                       ("pit-a",), (4,))
        second = ev.tx(datetime.now(UTC), "pit-a", 40.00, "m0002", "US", "dA1")
        produce(platform, [("transactions", second)])
        got = wait_for_decisions(platform, {second["transaction_id"]}, scorer)
        history = ev.history()
        for tx in [*first, second]:
            d = got[tx["transaction_id"]]
            assert d["feature_source"] == "view", d
            assert_point_in_time(d, history.features(tx))
        assert got[second["transaction_id"]]["features"]["tx_count_10m"] == 3

        # exact path: the engine already has the transaction and a later login when it is scored
        scorer.stop()
        t = datetime.now(UTC)
        late = ev.tx(t, "pit-a", 60.00, "m0005", "US", "dA1")
        ev.login(t + timedelta(seconds=1), "pit-a", "dA9")
        produce(platform, ev.sent[-2:])
        with eddy.connect() as conn:
            wait_until(conn, "select last_login_device from feat_user_logins where user_id = %s",
                       ("pit-a",), ("dA9",))
            wait_until(conn, "select tx_count_24h from feat_user_transactions where user_id = %s",
                       ("pit-a",), (6,))
        scorer.start()
        got = wait_for_decisions(platform, {late["transaction_id"]}, scorer)
        d = got[late["transaction_id"]]
        assert d["feature_source"] == "exact", d
        expected = ev.history().features(late)
        assert expected["tx_count_24h"] == 5 and expected["last_login_device"] == "dA1"
        assert_point_in_time(d, expected)
    finally:
        scorer.stop()


def test_kill_9_mid_stream_leaves_exactly_one_decision_per_transaction(platform):
    rnd = random.Random(13)
    ev = Events()
    now = datetime.now(UTC)
    txs = [ev.tx(now - timedelta(milliseconds=rnd.randrange(60_000)), f"k9-{rnd.randrange(300)}",
                 round(rnd.uniform(1, 400), 2), f"m{rnd.randrange(500):04d}", "US", "d1")
           for _ in range(3000)]
    before = {d["transaction_id"] for d in decisions(platform)}
    scorer = Scorer(platform, f"k9-{uuid.uuid4().hex[:6]}", max_messages=40)
    scorer.start()
    # the transactions arrive over about 6 s (50 every 0.1 s), so the kill lands while they
    # stream in: sent all at once, a fast scorer had decided all 3,000 before the kill
    sender = threading.Thread(target=lambda: [
        (produce(platform, ev.sent[i:i + 50]), time.sleep(0.1))
        for i in range(0, len(ev.sent), 50)])
    try:
        sender.start()
        ids = {tx["transaction_id"] for tx in txs}
        deadline = time.monotonic() + 120
        while len({d["transaction_id"] for d in decisions(platform)} & ids) < 400:
            assert time.monotonic() < deadline, scorer.output()
            time.sleep(0.2)
        scorer.stop(signal.SIGKILL)
        partial = len({d["transaction_id"] for d in decisions(platform)} & ids)
        sender.join(120)
        assert partial < len(ids), "killed after the end: nothing was mid-stream"
        scorer.start()
        wait_for_decisions(platform, ids, scorer, timeout=300)
        mine = [d for d in decisions(platform) if d["transaction_id"] not in before]
        counts = Counter(d["transaction_id"] for d in mine)
        assert set(counts) == ids
        assert max(counts.values()) == 1, counts.most_common(3)
        print(f"killed after {partial} of {len(ids)} decisions; every one decided once")
        with platform["eddy"].connect() as conn:
            wait_until(conn, "select count(*), count(distinct transaction_id) from "
                       "transaction_decisions where transaction_id like 'tx-%%' and user_id like "
                       "'k9-%%'", (), (len(ids), len(ids)), timeout=300)
    finally:
        scorer.stop()
