"""Kafka sinks: every change of a relation, exactly once, as JSON (ENVELOPE UPSERT | DEBEZIUM).

Why nothing is lost or doubled, also across a crash of the engine or of the broker:

1. Each engine tick's changes (`engine.on_commit`, after the tick's DuckDB commit) are written in
   one Kafka transaction of a transactional producer, together with a progress record
   (`{"sink": id, "tick": ts}` keyed by the sink id, on the connection's PROGRESS TOPIC or
   `_eddy-progress`) and an `eddy.tick` header on every message. A read_committed consumer
   sees a tick completely or not at all.
2. The producer's `transactional.id` is stable per sink, so `init_transactions()` on restart
   fences any zombie and aborts the transaction a crash left open.
3. On (re)start the sink does not trust its memory: it replays its own topic (read_committed)
   into `SinkState`, the state a consumer holds, takes a consistent snapshot of the relation
   at some tick T, and writes exactly the difference (plus progress T) in one transaction.
   Ticks committed by the engine while no transaction recorded them (the crash window between
   the DuckDB commit and the Kafka commit) are thus folded into that difference: they are
   neither lost nor emitted twice, and later ticks are applied only when newer than T.
   The state after replay equals the relation after every committed transaction (induction
   over transactions), which is what the sink test checks across `kill -9`.
4. Any failed transaction (broker down, abortable error) is aborted and the sink re-runs step 3
   once Kafka answers again; status shows `stalled` meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid

import pyarrow as pa
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from eddy.catalog import status as status_relations
from eddy.kafka_client import SourceStatus, client_config
from eddy.sinks.ddl import SinkSpec
from eddy.sinks.encode import DIFF, Encoder, SinkState, changes_to_messages, diff
from eddy.thread_names import name_os_thread

log = logging.getLogger(__name__)

DEFAULT_PROGRESS_TOPIC = "_eddy-progress"
RETRY_SECONDS = 1.0


class KafkaSinkDriver:
    def __init__(self, ctx, spec: SinkSpec, connection: dict, columns: list[tuple[str, str]]):
        self.ctx = ctx
        self.spec = spec
        self.connection = connection
        self._config = client_config(connection, ctx)  # secrets resolved now: errors at CREATE
        self.sink_id = ctx.sink_id
        self.from_id = ctx.from_id
        self.columns = columns
        self.encoder = Encoder(columns, spec.key)
        self.progress_topic = connection.get("progress_topic") or DEFAULT_PROGRESS_TOPIC
        self.transactional_id = (spec.transactional_id_prefix or "eddy-sink-") + str(self.sink_id)
        self._status = SourceStatus()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle = None
        self._seen = 0  # on_commit callbacks received
        self.state = SinkState(spec.envelope)
        self.stats = {"messages_produced": 0, "transactions_committed": 0, "ticks_skipped": 0,
                      "bytes_produced": 0, "last_tick": None, "restarts": 0, "warnings": 0}

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        with contextlib.suppress(Exception):  # engines without the live status relations
            status_relations.attach(self.ctx.engine)
        self._stop.clear()
        self._handle = self.ctx.engine.on_commit(self._on_commit)
        self._thread = threading.Thread(target=self._run, name=f"kafka-sink-{self.sink_id}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self.ctx.engine.remove_callback(self._handle)
            self._handle = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._status.set("dropped")

    def status(self) -> dict:
        """Keys: `type` ("kafka"), `status` (starting | running | stalled | dropped), `error`,
        `last_status_change_at` (epoch ms), `history`, `messages_produced`,
        `transactions_committed`, `last_tick` (tick of the last committed transaction),
        `restarts` (re-syncs after errors), `warnings`, `pending_ticks` (ticks queued, not yet
        written), `topic`, `progress_topic`."""
        with self._status.lock:
            st = {"type": "kafka", "status": self._status.state, "error": self._status.error,
                  "last_status_change_at": self._status.changed_at,
                  "history": list(self._status.history)}
        return {**st, **self.stats, "pending_ticks": self._queue.qsize(), "topic": self.spec.topic,
                "progress_topic": self.progress_topic}

    def _on_commit(self, tick_ts: int, changes: dict) -> None:
        self._seen += 1  # runs in the engine's tick, under its lock (see _snapshot)
        table = changes.get(self.from_id)
        if table is not None and table.num_rows:
            self._queue.put((self._seen, tick_ts, table))

    # -- the sink loop --------------------------------------------------------------------
    def _run(self) -> None:
        name_os_thread(f"sink-{self.sink_id}")
        producer = None
        while not self._stop.is_set():
            try:
                if producer is None:
                    producer = self._producer()
                since = self._sync(producer)
                self._status.set("running")
                self._follow(producer, since)
            except Exception as e:  # Kafka down, transaction aborted, ...: re-sync when back
                log.warning("kafka sink %s: %s; re-syncing", self.sink_id, e)
                self._status.set("stalled", f"{type(e).__name__}: {e}")
                self.stats["restarts"] += 1
                if producer is not None and _fatal(e):
                    producer = None
                self._stop.wait(RETRY_SECONDS)
        if producer is not None:
            producer.flush(10)

    def _producer(self) -> Producer:
        config = self._config
        self._ensure_topics(config)
        p = Producer({**config, "transactional.id": self.transactional_id,
                      "enable.idempotence": True, "linger.ms": 5,
                      "transaction.timeout.ms": 60_000,
                      **({"compression.type": self.spec.compression} if self.spec.compression else {})})
        p.init_transactions(30)  # fences older instances, aborts their open transaction
        return p

    def _ensure_topics(self, config: dict) -> None:
        admin = AdminClient({k: v for k, v in config.items() if k != "logger"})
        partitions = self.spec.partition_count or 1
        wanted = [NewTopic(self.spec.topic, num_partitions=partitions, replication_factor=1),
                  NewTopic(self.progress_topic, num_partitions=1, replication_factor=1,
                           config={"cleanup.policy": "compact"})]
        existing = admin.list_topics(timeout=10).topics
        todo = [t for t in wanted if t.topic not in existing]
        for name, fut in (admin.create_topics(todo, operation_timeout=30).items() if todo else []):
            try:
                fut.result()
            except KafkaException as e:
                if "already exists" not in str(e).lower() and "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise
            log.info("created topic %s", name)

    def _sync(self, producer: Producer) -> int:
        """Bring the topic to the relation's state at a snapshot; return the number of
        on_commit callbacks that snapshot includes."""
        self.state = SinkState(self.spec.envelope)
        for key, value in self._replay():
            self.state.apply(key, value)
        seen, ts, snapshot = self._snapshot()
        msgs = diff(self.state, self.encoder.rows(snapshot), self.encoder.key_of)
        self._transaction(producer, ts, msgs)
        return seen

    def _replay(self):
        """The topic's messages as the state replays them (hook: eddy.sinks.avro_sink)."""
        return read_topic(self._config, self.spec.topic)

    def _wire(self, key, value):
        """A message as produced (hook: eddy.sinks.avro_sink encodes Avro)."""
        return key, value

    def _follow(self, producer: Producer, since: int) -> None:
        while not self._stop.is_set():
            try:
                seq, ts, table = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if seq <= since:  # already inside the snapshot
                self.stats["ticks_skipped"] += 1
                continue
            msgs, warnings = changes_to_messages(self.state, self.encoder.rows(table))
            for w in warnings:
                self.stats["warnings"] += 1
                log.warning("kafka sink %s: %s", self.sink_id, w)
            self._transaction(producer, ts, msgs)

    def _transaction(self, producer: Producer, ts: int, msgs: list) -> None:
        headers = [("eddy.tick", str(ts))]
        producer.begin_transaction()
        try:
            for key, value in msgs:
                key, value = self._wire(key, value)
                _produce(producer, self.spec.topic, key, value, headers)
            _produce(producer, self.progress_topic, str(self.sink_id).encode(),
                     json.dumps({"sink": str(self.sink_id), "tick": ts}).encode(), headers)
            producer.commit_transaction(30)
        except Exception:
            with contextlib.suppress(Exception):  # the re-sync after this handles any state
                producer.abort_transaction(30)
            raise
        self.stats["messages_produced"] += len(msgs)
        self.stats["bytes_produced"] += sum(len(k or b"") + len(v or b"") for k, v in msgs)
        self.stats["transactions_committed"] += 1
        self.stats["last_tick"] = ts

    def _snapshot(self) -> tuple[int, int, pa.Table]:
        """(callbacks seen, tick, rows with mz_diff) of the relation, consistently: the engine
        runs on_commit callbacks under the lock read_snapshot takes, so when no callback
        arrived across the read, exactly the first `seen` callbacks are inside the snapshot."""
        for _ in range(1000):
            seen = self._seen
            ts, table = self.ctx.engine.read_snapshot(self.from_id)
            if self._seen == seen:
                names = table.column_names
                return seen, ts, table.rename_columns(names[:-1] + [DIFF])
            time.sleep(0.01)
        raise TimeoutError("the engine ticks too often to take a consistent snapshot")


def _produce(producer: Producer, topic: str, key, value, headers) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value, headers=headers)
            return
        except BufferError:
            producer.poll(0.1)


def _fatal(e: Exception) -> bool:
    err = e.args[0] if e.args and hasattr(e.args[0], "fatal") else None
    return err is None or err.fatal() or not err.retriable()


def read_topic(config: dict, topic: str, timeout: float = 60.0):
    """Every committed message of `topic` as (key, value) in partition order; `config` are
    librdkafka settings (`client_config`)."""
    consumer = Consumer({**config, "group.id": f"eddy-read-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    try:
        md = consumer.list_topics(topic, timeout=10)
        parts = sorted(md.topics[topic].partitions) if topic in md.topics else []
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading topic {topic} did not reach its end")
            for m in consumer.consume(1000, 0.5):
                err = m.error()
                if err is None:
                    yield m.key(), m.value()
                elif err.code() == KafkaError._PARTITION_EOF and m.offset() >= ends.get(m.partition(), 0):
                    ends.pop(m.partition(), None)  # read_committed EOF is the stable offset
    finally:
        consumer.close()
