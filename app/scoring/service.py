"""The scoring loop: consume `transactions`, read features, score, commit decisions exactly once.

Each batch: the transactions waiting (at most `max_messages`; a batch waits at most
`poll_timeout_ms` for its first one, never for more), the batch's user features read with one
statement (app/scoring/features.py), scored, then in one Kafka transaction a decision per
transaction (key `transaction_id`) produced to `transaction_decisions` together with the
consumer offsets just past the batch's messages (app/scoring/committer.py). The stages overlap,
in batch order: batch n+1's features are read (a reader thread) while batch n is scored (a
model thread) and batch n-1 committed (the polling thread); a new batch is taken when the
previous read ends, so batches stay as small as that cycle is short instead of growing with a
backlog. A scorer killed at any point has either committed a batch's decisions and offsets or
neither: the next one (same `transactional_id`) aborts the open transaction and re-scores from
the committed offsets, and `read_committed` readers (the engine's source for the
`transaction_decisions` relation included) never see the aborted decisions. A transaction redelivered by Kafka (the same `transaction_id` again) is
decided once per scorer run; the relation deduplicates the rest.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import psycopg
from confluent_kafka import Consumer, KafkaException, Producer
from threadpoolctl import threadpool_limits

from app.scoring import features as feats_mod
from app.scoring.committer import commit, offsets
from app.scoring.config import Config
from app.scoring.model import Model, inputs
from app.scoring.reference import USER_FEATURES, parse_time
from loadgen.model import validate

log = logging.getLogger("app.scoring")
SEEN_LIMIT = 1_000_000  # transaction ids remembered against redelivery


def _json_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return float(value)
    return value


def _now_text(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


class Scorer:
    """One scorer process: `run(should_stop)` until `should_stop()` is true."""

    def __init__(self, config: Config, model: Model, conninfo: dict, bootstrap: str) -> None:
        self.config, self.model, self.conninfo, self.bootstrap = config, model, conninfo, bootstrap
        self.conn: psycopg.Connection | None = None
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.decided = 0
        self.malformed = 0
        self.latencies: list[float] = []
        # seconds spent per phase since the last report: feature read, model, Kafka commit
        self.phases = {"features": 0.0, "model": 0.0, "commit": 0.0, "batches": 0, "rows": 0,
                       "exact": 0}

    # -- engine -----------------------------------------------------------------------------

    def _engine(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(**self.conninfo, autocommit=True)
        return self.conn

    def features(self, txs: list[dict], should_stop: Callable[[], bool]) -> list[tuple[dict, str]]:
        """(features, source) per transaction; retries while the engine is unreachable."""
        delay = 0.2
        while True:
            try:
                conn = self._engine()
                online = feats_mod.online(conn, [tx["user_id"] for tx in txs])
                out: list = []
                stale = []
                for i, tx in enumerate(txs):
                    f = online.get(tx["user_id"])
                    if f is None:
                        f = dict.fromkeys(USER_FEATURES)
                        f.update(feats_mod._EMPTY)
                    if feats_mod.valid_for(f, tx["event_time"]):
                        out.append((f, "view"))
                    else:
                        out.append(None)
                        stale.append(i)
                if stale:
                    self.phases["exact"] += len(stale)
                    exact = feats_mod.exact(conn, [txs[i] for i in stale])
                    for i, f in zip(stale, exact, strict=True):
                        out[i] = (f, "exact")
                return out
            except psycopg.Error as exc:
                if should_stop():
                    raise
                log.warning("feature read failed (%s); retrying in %.1f s", exc, delay)
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                time.sleep(delay)
                delay = min(5.0, delay * 2)

    # -- one batch --------------------------------------------------------------------------

    def prepare(self, messages: list, reader: ThreadPoolExecutor, scorer: ThreadPoolExecutor,
                should_stop: Callable[[], bool]) -> Batch:
        """A batch of Kafka messages: its well-formed, not yet decided transactions, whose
        features are read on `reader` and then scored on `scorer` (one thread each, so batches
        pass both in order)."""
        txs, stamps = [], []
        for msg in messages:
            try:
                event = orjson.loads(msg.value())
            except orjson.JSONDecodeError:
                event = None
            if not isinstance(event, dict) or validate("transactions", event) is not None:
                self.malformed += 1
                continue
            tid = event["transaction_id"]
            if tid in self.seen:
                continue
            self.seen[tid] = None
            event["event_time"] = parse_time(event["event_time"])
            txs.append(event)
            stamps.append(msg.timestamp()[1])
        while len(self.seen) > SEEN_LIMIT:
            self.seen.popitem(last=False)
        found = reader.submit(self._timed_features, txs, should_stop) if txs else _done([])
        decided = scorer.submit(self.finish, txs, stamps, found) if txs else _done([])
        return Batch(offsets(messages), found, decided)

    def _timed_features(self, txs: list[dict], should_stop: Callable[[], bool]) -> list:
        started = time.perf_counter()
        try:
            return self.features(txs, should_stop)
        finally:
            self.phases["features"] += time.perf_counter() - started

    def finish(self, txs: list[dict], stamps: list[int], found: Future) -> list[tuple[str, bytes]]:
        """The decisions (key, JSON) of a batch's transactions, once their features are read."""
        found = found.result()
        started = time.perf_counter()
        scores = self.model.scores([inputs(tx, f) for tx, (f, _) in zip(txs, found, strict=True)])
        self.phases["model"] += time.perf_counter() - started
        self.phases["rows"] += len(txs)
        out = []
        now_ms = time.time() * 1000
        decided_at = _now_text(now_ms)
        encoded: dict[int, orjson.Fragment] = {}   # a user's features, serialized once a batch
        for tx, (f, source), score, stamp in zip(txs, found, scores, stamps, strict=True):
            latency = max(0.0, now_ms - stamp)
            self.latencies.append(latency)
            if (features := encoded.get(id(f))) is None:
                features = encoded[id(f)] = orjson.Fragment(orjson.dumps(
                    {k: _json_value(v) for k, v in f.items()}))
            decision = {
                "transaction_id": tx["transaction_id"], "user_id": tx["user_id"],
                "amount": tx["amount"], "transaction_time": _json_value(tx["event_time"]),
                "decision": self.config.decide(score), "score": round(score, 6),
                "model_version": self.model.version, "features": features,
                "feature_source": source, "decided_at": decided_at,
                "latency_ms": round(latency, 3),
            }
            out.append((tx["transaction_id"], orjson.dumps(decision)))
        return out

    # -- the loop ---------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool]) -> None:
        cfg = self.config
        # One thread for the model: a batch is small, and OpenMP workers spinning on a loaded
        # machine cost seconds per batch (measured: 4-8 s at load average 30, vs ms).
        threadpool_limits(1)
        self.model.scores([inputs({"event_time": "2026-01-01T00:00:00.000Z", "amount": 1},
                                  dict.fromkeys(USER_FEATURES))])  # warm up
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": cfg.group_id,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "isolation.level": "read_committed", "fetch.wait.max.ms": 10})
        producer = Producer({
            "bootstrap.servers": self.bootstrap, "transactional.id": cfg.transactional_id,
            "enable.idempotence": True, "linger.ms": 1})
        producer.init_transactions(60)
        consumer.subscribe([cfg.transactions_topic])
        log.info("scoring %s -> %s with model %s", cfg.transactions_topic, cfg.decisions_topic,
                 self.model.version)
        reader = ThreadPoolExecutor(1, thread_name_prefix="features")
        scorer = ThreadPoolExecutor(1, thread_name_prefix="model")
        inflight: deque[Batch] = deque()   # prepared, not yet committed, oldest first
        timeout = cfg.poll_timeout_ms / 1000
        next_report = time.monotonic() + 10
        try:
            while not should_stop():
                # Commit what is scored, in order. A new batch is taken only while no feature
                # read is running (one read at a time, the next batch being all that arrived
                # meanwhile), so reading batch n+1 overlaps scoring batch n and committing
                # batch n-1, and batches stay as small as that cycle is short.
                while inflight and inflight[0].decided.done():
                    self._commit(producer, consumer, inflight.popleft())
                if inflight and not inflight[-1].found.done():
                    wait([inflight[0].decided, inflight[-1].found], timeout,
                         return_when=FIRST_COMPLETED)
                else:
                    messages = poll(consumer, cfg.max_messages,
                                    0.005 if inflight else timeout)
                    if messages:
                        inflight.append(self.prepare(messages, reader, scorer, should_stop))
                if time.monotonic() >= next_report:
                    self._report()
                    next_report = time.monotonic() + 10
            while inflight:     # stopping: what is prepared is committed
                self._commit(producer, consumer, inflight.popleft())
        except KafkaException as exc:
            log.error("kafka: %s", exc)
            raise
        finally:
            reader.shutdown(wait=True, cancel_futures=True)
            scorer.shutdown(wait=True, cancel_futures=True)
            consumer.close()
            if self.conn is not None:
                self.conn.close()

    def _commit(self, producer: Producer, consumer: Consumer, batch: Batch) -> None:
        decisions = batch.decided.result()
        started = time.perf_counter()
        commit(producer, consumer, self.config.decisions_topic, decisions, batch.offsets)
        self.phases["commit"] += time.perf_counter() - started
        self.phases["batches"] += 1
        self.decided += len(decisions)

    def _report(self) -> None:
        lat = sorted(self.latencies)
        self.latencies.clear()
        ph, n = self.phases, max(1, self.phases["batches"])
        self.phases = dict.fromkeys(ph, 0.0) | {"batches": 0, "rows": 0, "exact": 0}
        if lat:
            p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            log.info("%d decisions so far; last 10 s: %d in %d batches (%.0f rows each, %d on "
                     "the exact path), latency to scored p50 %.0f ms p99 %.0f ms; per batch: "
                     "feature read %.1f ms, model %.1f ms, Kafka commit %.1f ms; %d malformed "
                     "skipped", self.decided, len(lat), ph["batches"], ph["rows"] / n,
                     ph["exact"], p50, p99, 1000 * ph["features"] / n, 1000 * ph["model"] / n,
                     1000 * ph["commit"] / n, self.malformed)


@dataclass
class Batch:
    """One poll's messages on their way: the offsets past them, their transactions' features
    (future) and decisions (future; key and JSON per transaction)."""
    offsets: list
    found: Future
    decided: Future


def _done(value) -> Future:
    f: Future = Future()
    f.set_result(value)
    return f


def poll(consumer: Consumer, max_messages: int, timeout: float) -> list:
    """The messages waiting now (at most `max_messages`), after waiting up to `timeout` seconds
    for the first: a batch never waits to fill up."""
    first = consumer.poll(timeout)
    if first is None:
        return []
    rest = consumer.consume(max_messages - 1, 0) if max_messages > 1 else []
    return [m for m in [first, *rest] if m.error() is None]
