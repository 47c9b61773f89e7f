"""Soak: many stop/start cycles of a private broker lose nothing and leak nothing."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from helpers import our_processes, private_env, stack_cli

import stack

CYCLES = 8
PER_CYCLE = 50_000


@pytest.mark.slow
@pytest.mark.integration
def test_restart_cycles_keep_every_message(tmp_path):
    state_dir = tmp_path / "state"
    env = private_env(state_dir)
    bootstrap = f"127.0.0.1:{env['STACK_KAFKA_PORT']}"
    try:
        for cycle in range(CYCLES):
            up = stack_cli(env, "up", "--kafka-only")
            assert up.returncode == 0, up.stderr
            stack.create_topics(bootstrap, ["soak"], partitions=3)
            producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                 "enable.idempotence": True, "linger.ms": 5})
            for i in range(PER_CYCLE):
                while True:
                    try:
                        producer.produce("soak", key=f"{cycle}-{i}".encode(), value=b"x" * 100)
                        break
                    except BufferError:
                        producer.poll(0.1)
            assert producer.flush(60) == 0
            down = stack_cli(env, "down")
            assert down.returncode == 0, down.stderr
            assert our_processes(state_dir) == []

        assert stack_cli(env, "up", "--kafka-only").returncode == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "soak",
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition("soak", p, 0) for p in range(3)])
        keys: set[bytes] = set()
        count = idle = 0
        while count < CYCLES * PER_CYCLE and idle < 20:
            batch = consumer.consume(num_messages=10_000, timeout=1.0)
            idle = 0 if batch else idle + 1
            count += len(batch)
            keys.update(m.key() for m in batch)
        consumer.close()
        assert count == CYCLES * PER_CYCLE
        assert keys == {f"{c}-{i}".encode() for c in range(CYCLES) for i in range(PER_CYCLE)}
    finally:
        stack_cli(env, "down")
    assert our_processes(state_dir) == []
