"""Producing to Kafka: acks=all, idempotence, batching and compression for throughput.

`producer_config` is shared by `loadgen run --via kafka` (`KafkaSink`) and the mock API.
Delivery failures are counted per topic; the first one stops a run (Kafka down).
"""

from __future__ import annotations

import time
from collections import Counter

from confluent_kafka import KafkaError, Producer

from loadgen.model import TOPICS


def producer_config(bootstrap: str, delivery_timeout_s: float, **extra) -> dict:
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "batch.num.messages": 10_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "message.timeout.ms": max(1000, int(delivery_timeout_s * 1000)),
        "socket.connection.setup.timeout.ms": max(1000, int(delivery_timeout_s * 1000)),
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "retry.backoff.ms": 100,
        "log_level": 2,  # connection errors reach error_cb and are reported once, not logged
    }
    conf.update(extra)
    return conf


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge some messages within the delivery timeout."""


class KafkaSink:
    """Sends messages to Kafka; `failed` counts messages Kafka never acknowledged."""

    def __init__(self, bootstrap: str, topic_prefix: str = "", delivery_timeout_s: float = 30.0):
        self.bootstrap = bootstrap
        self.prefix = topic_prefix
        self.timeout = delivery_timeout_s
        self.failed: Counter[str] = Counter()
        self._names = {topic: topic_prefix + topic for topic in TOPICS}
        self.last_error: str | None = None
        self.broker_errors: dict[str, None] = {}  # distinct, in order of first appearance
        conf = producer_config(bootstrap, delivery_timeout_s,
                               **{"delivery.report.only.error": True})
        conf["error_cb"] = self._on_error
        conf["on_delivery"] = self._on_delivery
        self._producer = Producer(conf)

    def _on_error(self, err: KafkaError) -> None:
        if len(self.broker_errors) < 3:
            self.broker_errors[err.str()] = None

    def _on_delivery(self, err: KafkaError | None, msg) -> None:
        if err is not None:
            self.failed[msg.topic()[len(self.prefix):]] += 1
            if err.code() not in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT):
                self.last_error = err.str()

    def send(self, messages: list[tuple[str, str, str, str | None]]) -> None:
        """Queue `messages` ((topic, key, value, mark)); blocks while the local queue is full."""
        produce, names = self._producer.produce, self._names
        for topic, key, value, _ in messages:
            try:
                produce(names[topic], value, key)
            except BufferError:
                while True:
                    self._producer.poll(0.05)
                    if self.failed:
                        raise DeliveryError(self.describe_failure()) from None
                    try:
                        produce(names[topic], value, key)
                        break
                    except BufferError:
                        pass
        self._producer.poll(0)
        if self.failed:
            raise DeliveryError(self.describe_failure())

    def describe_failure(self) -> str:
        why = "; ".join([*([self.last_error] if self.last_error else []), *self.broker_errors])
        return (f"Kafka at {self.bootstrap} did not acknowledge messages within "
                f"{self.timeout:g} s ({why or 'no error reported'})")

    def pending(self) -> int:
        return len(self._producer)

    def close(self, abort: bool = False) -> None:
        """Wait for every queued message (up to the delivery timeout), or drop them (`abort`)."""
        if abort:
            self._producer.purge()
            self._producer.flush(5)
            return
        deadline = time.monotonic() + self.timeout + 5
        while len(self._producer) and time.monotonic() < deadline:
            self._producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        if len(self._producer):
            self._producer.purge()
            self._producer.flush(5)

    def delivered(self, handed: Counter[str]) -> Counter[str]:
        """Per topic, the messages of `handed` (all that were sent) that Kafka acknowledged."""
        return handed - self.failed
