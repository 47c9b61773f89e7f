"""Committing a scored batch: its decisions and the consumer offsets in one Kafka transaction.

Called on the thread that polls the consumer: librdkafka's `send_offsets_to_transaction` waits
while another thread polls the same consumer (measured: blocked for as long as the polling went
on, 5 s in a 5 s loop; 0.5 s against `poll(0)` every 20 ms; 10 ms alone), so consuming and
committing take turns on one thread and only feature reads and scoring run beside them.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition


def offsets(messages: list) -> list[TopicPartition]:
    """The consumer offsets just past `messages`, per topic partition."""
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic(), m.partition())
        last[key] = max(last.get(key, -1), m.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def commit(producer: Producer, consumer: Consumer, topic: str,
           decisions: list[tuple[str, bytes]], positions: list[TopicPartition]) -> None:
    """One Kafka transaction: `decisions` (key, value) to `topic` and the consumer `positions`;
    a scorer killed before it ends has committed neither."""
    producer.begin_transaction()
    for key, value in decisions:
        producer.produce(topic, value, key)
    producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata())
    producer.commit_transaction()
