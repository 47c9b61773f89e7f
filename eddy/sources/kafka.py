"""Kafka sources: the consumer driver (`eddy.kafka_connector` is the connector that creates
it). The engine core never imports this module; `eddy serve` registers the connector.

Exactly-once ingestion. The driver never relies on Kafka consumer-group commits. It assigns
every partition explicitly, starting at the offsets the engine recorded in its last committed
tick (`engine.committed_offsets`), and hands each decoded batch to `engine.ingest` together with
the cumulative next-offset of every partition. A tick commits the view state and those offsets
in one DuckDB transaction, so after a crash the state and the resume position agree: batches of
an uncommitted tick are lost with the state they would have produced and are read again.
Dead letters go through the same `ingest` call (subsource `dead_letters`), so they too are
recorded exactly once; republishing them to a dead-letter topic is at least once (each copy
carries its origin in headers: `eddy.topic`, `eddy.partition`, `eddy.offset`, `eddy.error`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from eddy.catalog import status as status_relations
from eddy.kafka_client import SourceStatus, client_config, now_ms
from eddy.sources.ddl import DEAD_LETTER_COLUMNS, SourceSpec
from eddy.sources.decode import Decoded, JsonChecker, RawBatch, decode
from eddy.thread_names import name_os_thread

log = logging.getLogger(__name__)

BATCH_MESSAGES = 10_000
POLL_TIMEOUT = 0.2
MAX_INFLIGHT = 500_000  # messages handed to the engine but not committed by a tick yet
RETRY_SECONDS = 1.0
PROBE_INTERVAL = 1.0  # seconds between broker probes while stalled
# a connection problem: probe the broker at once, stalled only if the probe fails too
_SUSPECT = {KafkaError._TRANSPORT, KafkaError._RESOLVE, KafkaError._TIMED_OUT,
            KafkaError.NETWORK_EXCEPTION}


class KafkaSourceDriver:
    """Consumes one topic into one source relation (+ the `dead_letters` subsource)."""

    def __init__(self, ctx, spec: SourceSpec, connection: dict):
        self.ctx = ctx
        self.spec = spec
        self.connection = connection
        self._config = client_config(connection, ctx)  # secrets resolved now: errors at CREATE
        self.columns = spec.columns
        self.upsert_key = spec.upsert_key
        self.subsources = {"dead_letters": list(DEAD_LETTER_COLUMNS)}
        self.source_id = ctx.source_id
        self._status = SourceStatus()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._dlq: Producer | None = None
        self._positions: dict[int, int] = {}  # partition -> next offset handed to the engine
        self._partitions: list[int] = []
        self._high: dict[int, int] = {}
        self._pending: deque = deque()  # (offsets, rows, dead, messages) of uncommitted batches
        self._inflight = 0  # messages handed to the engine and not yet committed
        self._count_lock = threading.Lock()
        self.stats = dict.fromkeys(("messages_received", "bytes_received", "updates_staged",
                                    "updates_committed", "dead_letters", "dead_letters_committed",
                                    "batches"), 0)
        self._last_probe = 0.0
        self._probe_now = False
        self._last_refresh = 0.0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        with contextlib.suppress(Exception):  # engines without the live status relations
            status_relations.attach(self.ctx.engine)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"kafka-source-{self.source_id}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._status.set("dropped")

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        """Status and statistics, for mz_internal.mz_source_statuses / mz_source_statistics.

        Keys: `type` ("kafka"); `status` ("starting" | "running" | "stalled" | "dropped");
        `error` (str or None: why it is stalled); `details` (dict or None, e.g.
        {"topic": ..., "hint": ...}); `last_status_change_at` (epoch ms); `history` (up to 100
        dicts {"occurred_at" epoch ms, "status", "error"}, oldest first, for
        mz_source_status_history); counters since this process started: `messages_received`,
        `bytes_received` (key + value bytes), `updates_staged` (rows handed to the engine),
        `updates_committed` (rows the engine has committed), `dead_letters` (staged),
        `dead_letters_committed`; `offset_known` (sum over partitions of the high watermark),
        `offset_committed` (sum of committed next offsets); `snapshot_committed` (bool: the data
        present at start has been committed); `partitions`: list of dicts {"partition",
        "offset_known" (high watermark or None), "offset_consumed" (next offset handed to the
        engine), "offset_committed" (next offset in the last committed tick), "lag"
        (offset_known - offset_committed, or None)}.
        """
        committed = self._fold_committed()
        parts = []
        for p in sorted(set(self._partitions) | set(self._positions) | set(committed)):
            high = self._high.get(p)
            done = committed.get(p, 0)
            parts.append({"partition": p, "offset_known": high,
                          "offset_consumed": self._positions.get(p, done), "offset_committed": done,
                          "lag": None if high is None else max(high - done, 0)})
        known = sum(x["offset_known"] or 0 for x in parts)
        with self._status.lock:
            state, error, changed = self._status.state, self._status.error, self._status.changed_at
            history = list(self._status.history)
        return {
            "type": "kafka", "status": state, "error": error,
            "details": {"topic": self.spec.topic} if error is None else
                       {"topic": self.spec.topic, "hint": "the source retries by itself"},
            "last_status_change_at": changed, "history": history,
            **self.stats,
            "offset_known": known, "offset_committed": sum(committed.values()),
            "snapshot_committed": self._snapshot_done(parts),
            "partitions": parts,
        }

    def _fold_committed(self) -> dict[int, int]:
        """Count the batches the engine has committed since the last call."""
        committed = self._committed()
        with self._count_lock:  # status() runs on other threads too
            while self._pending and all(committed.get(p, 0) >= o for p, o in self._pending[0][0].items()):
                _, rows, dead, messages = self._pending.popleft()
                self.stats["updates_committed"] += rows
                self.stats["dead_letters_committed"] += dead
                self._inflight -= messages
        return committed

    def _snapshot_done(self, parts: list[dict]) -> bool:
        target = getattr(self, "_snapshot_target", None)
        if not target:
            return False
        by_p = {x["partition"]: x["offset_committed"] for x in parts}
        return all(by_p.get(p, 0) >= o for p, o in target.items())

    def _committed(self) -> dict[int, int]:
        """Offsets of the last committed tick, read through a cursor of its own: status()
        also runs inside queries of mz_internal relations (eddy.catalog.status), where the
        engine's main connection may be busy with that very query."""
        try:
            cur = self.ctx.engine.state.cursor()
            try:
                raw = self.ctx.engine.state.get_offsets(self.source_id, cur) or {}
            finally:
                cur.close()
        except Exception:  # the engine may be closing
            return {}
        return {int(p): int(o) for p, o in raw.items()}

    # -- the consumer loop ----------------------------------------------------------------
    def _run(self) -> None:
        name_os_thread(f"src-{self.source_id}")
        checker = JsonChecker()
        self._positions = self._committed()
        while not self._stop.is_set():
            try:
                if self._consumer is None:
                    self._consumer = self._make_consumer()
                    self._partitions = []  # (re)assign from the positions handed to the engine
                if self.spec.dead_letter_topic and self._dlq is None:
                    self._dlq = Producer({**self._config,
                                          "enable.idempotence": True, "linger.ms": 20})
                if not self._step(checker):
                    self._stop.wait(POLL_TIMEOUT)
            except Exception as e:  # a bug or a fatal client error: show it, retry afresh
                log.exception("kafka source %s failed; retrying", self.source_id)
                self._status.set("stalled", f"{type(e).__name__}: {e}")
                if self._consumer is not None:
                    with contextlib.suppress(Exception):
                        self._consumer.close()
                    self._consumer = None
                self._stop.wait(RETRY_SECONDS)
        if self._dlq is not None:
            self._dlq.flush(10)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _make_consumer(self) -> Consumer:
        prefix = self.spec.group_id_prefix or "eddy-"
        return Consumer({
            **self._config,
            "group.id": f"{prefix}{self.source_id}",  # required by the client; never committed to
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            "topic.metadata.refresh.interval.ms": self.spec.metadata_refresh_ms,
            "error_cb": self._on_error,
        })

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN or err.fatal():
            self._status.set("stalled", f"kafka: {err.str()}")
        elif err.code() in _SUSPECT:
            self._probe_now = True  # e.g. an idle connection closed by the broker: check first
            log.info("kafka source %s: %s", self.source_id, err.str())
        else:
            log.warning("kafka source %s: %s", self.source_id, err.str())

    def _step(self, checker: JsonChecker) -> bool:
        """One round: refresh partitions when due, consume one batch. False if idle."""
        now = time.monotonic()
        stalled = self._status.state == "stalled"
        if not self._partitions or now - self._last_refresh > self.spec.metadata_refresh_ms / 1000 \
                or ((stalled or self._probe_now) and now - self._last_probe > PROBE_INTERVAL):
            self._last_probe = self._last_refresh = now
            self._probe_now = False
            if not self._refresh_partitions():
                return False
        if self._inflight > MAX_INFLIGHT and self._fold_committed() is not None \
                and self._inflight > MAX_INFLIGHT:
            return False  # backpressure: the engine has not committed what it was given yet
        msgs = self._consumer.consume(num_messages=BATCH_MESSAGES, timeout=POLL_TIMEOUT)
        good = []
        for m in msgs:
            err = m.error()
            if err is None:
                good.append(m)
            elif err.code() != KafkaError._PARTITION_EOF:
                self._on_error(err)
        if not good:
            return bool(msgs)
        if self._status.state != "running":
            self._status.set("running")
        self._ingest(RawBatch.from_messages(self.spec.topic, good), checker)
        return True

    def _refresh_partitions(self) -> bool:
        """(Re)assign when the topic has partitions we do not read yet. False if unknown."""
        try:
            md = self._consumer.list_topics(self.spec.topic, timeout=5)
        except Exception as e:
            self._status.set("stalled", f"kafka: metadata request failed: {e}")
            return False
        topic = md.topics.get(self.spec.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            why = topic.error.str() if topic is not None and topic.error is not None else "no partitions"
            self._status.set("stalled", f"kafka: topic {self.spec.topic!r}: {why}")
            return False
        if not md.brokers:
            return False
        if self._status.state in ("starting", "stalled"):
            self._status.set("running")
        found = sorted(topic.partitions)
        if found != self._partitions:
            self._assign(found)
        self._refresh_watermarks()
        return True

    def _assign(self, partitions: list[int]) -> None:
        new = [p for p in partitions if p not in self._positions]
        starts = self._start_offsets(new) if new else {}
        tps = []
        for p in partitions:
            offset = self._positions.get(p, starts.get(p, OFFSET_BEGINNING))
            tps.append(TopicPartition(self.spec.topic, p, offset))
        self._consumer.assign(tps)
        self._partitions = partitions
        log.info("kafka source %s reads %s partitions %s", self.source_id, self.spec.topic,
                 {tp.partition: tp.offset for tp in tps})
        if not hasattr(self, "_snapshot_target"):
            self._refresh_watermarks(fresh=True)
            self._snapshot_target = dict(self._high)

    def _start_offsets(self, partitions: list[int]) -> dict[int, int]:
        """Where partitions without committed offsets begin: START OFFSET / TIMESTAMP / earliest."""
        if self.spec.start_offsets is not None:
            offs = self.spec.start_offsets
            return {p: offs[p] if p < len(offs) else OFFSET_BEGINNING for p in partitions}
        if self.spec.start_timestamp is not None:
            ts = self.spec.start_timestamp
            ts = now_ms() + ts if ts < 0 else ts
            found = self._consumer.offsets_for_times(
                [TopicPartition(self.spec.topic, p, ts) for p in partitions], timeout=10)
            failed = [tp for tp in found if tp.error is not None]
            if failed:  # e.g. no leader yet: retry rather than guess
                raise KafkaException(failed[0].error)
            return {tp.partition: tp.offset if tp.offset >= 0 else OFFSET_END for tp in found}
        return {}

    def _refresh_watermarks(self, fresh: bool = False) -> None:
        for p in self._partitions:
            try:
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self.spec.topic, p), timeout=2, cached=not fresh)
            except Exception:
                continue
            if high is not None and high >= 0:
                self._high[p] = high

    def _ingest(self, batch: RawBatch, checker: JsonChecker) -> None:
        decoded: Decoded = self._decode(batch, checker)
        positions = dict(self._positions)
        positions.update((p, o + 1) for p, o in zip(batch.partitions, batch.offsets, strict=True))
        offsets = {str(p): o for p, o in sorted(positions.items())}
        extra = {"dead_letters": decoded.dead} if decoded.dead.num_rows else None
        self.ctx.engine.ingest(self.source_id, decoded.rows, offsets, extra)
        self._positions = positions  # only once the engine has the batch
        n_dead = decoded.dead.num_rows
        st = self.stats
        st["messages_received"] += len(batch)
        st["bytes_received"] += sum(map(len, filter(None, batch.values))) + \
            sum(map(len, filter(None, batch.keys)))
        st["updates_staged"] += decoded.rows.num_rows
        st["dead_letters"] += n_dead
        st["batches"] += 1
        with self._count_lock:
            self._pending.append((dict(self._positions), decoded.rows.num_rows, n_dead, len(batch)))
            self._inflight += len(batch)
        self._refresh_watermarks()  # cached: the high watermark of the last fetch response
        if n_dead and self._dlq is not None:
            self._republish(batch, decoded)

    def _decode(self, batch: RawBatch, checker: JsonChecker) -> Decoded:
        return decode(self.spec, batch, checker)

    def _republish(self, batch: RawBatch, decoded: Decoded) -> None:
        for i, key, value, error in decoded.dead_raw:
            headers = [("eddy.topic", batch.topic), ("eddy.partition", str(batch.partitions[i])),
                       ("eddy.offset", str(batch.offsets[i])), ("eddy.error", error)]
            while True:
                try:
                    self._dlq.produce(self.spec.dead_letter_topic, value=value, key=key, headers=headers)
                    break
                except BufferError:
                    self._dlq.poll(0.1)
        self._dlq.poll(0)
