"""The shared local Kafka carries data exactly: 100,000 messages in, the same 100,000 out."""

from __future__ import annotations

import json
import subprocess

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

N = 100_000

pytestmark = pytest.mark.integration


def test_produce_and_consume_100k_exactly(kafka_bootstrap, make_topic):
    topic = make_topic("roundtrip", partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5, "compression.type": "lz4"})
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for i in range(N):
        key = f"user-{i % 997}".encode()
        value = json.dumps({"seq": i, "user_id": key.decode()}).encode()
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert errors == []

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"g-{topic}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
    seen: dict[int, bytes] = {}
    dupes = 0
    partitions = set()
    idle = 0
    try:
        while len(seen) < N and idle < 20:
            batch = consumer.consume(num_messages=10_000, timeout=1.0)
            idle = 0 if batch else idle + 1
            for msg in batch:
                assert msg.error() is None, msg.error()
                seq = json.loads(msg.value())["seq"]
                dupes += seq in seen
                seen[seq] = msg.key()
                partitions.add(msg.partition())
        # nothing beyond the 100,000 arrives
        extra = consumer.consume(num_messages=100, timeout=1.0)
    finally:
        consumer.close()

    assert dupes == 0
    assert extra == []
    assert sorted(seen) == list(range(N))
    assert all(key == f"user-{seq % 997}".encode() for seq, key in seen.items())
    assert partitions == {0, 1, 2}


def test_kcat_lists_topics(kafka_bootstrap, make_topic):
    topic = make_topic("kcat", partitions=3)
    out = subprocess.run(["kcat", "-b", kafka_bootstrap, "-L", "-J"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    topics = {t["topic"]: len(t["partitions"]) for t in json.loads(out)["topics"]}
    assert topics[topic] == 3
