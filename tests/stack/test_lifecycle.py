"""`python -m stack up/down` on a private stack: idempotent up, restart keeps data, clean down."""

from __future__ import annotations

import json
import subprocess

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from helpers import our_processes, private_env, stack_cli

import stack
from stack import kafka, shared

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def private(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("stack")
    env = private_env(state_dir)
    yield env, state_dir
    stack_cli(env, "down")
    assert our_processes(state_dir) == []


def _bootstrap(env) -> str:
    return f"127.0.0.1:{env['STACK_KAFKA_PORT']}"


def _brokers(state_dir) -> list[int]:
    return [pid for pid, args in our_processes(state_dir) if "kafka.Kafka" in args]


def test_up_twice_runs_one_broker(private):
    env, state_dir = private
    first = stack_cli(env, "up", "--kafka-only")
    assert first.returncode == 0, first.stderr
    pid = int((state_dir / "run" / "kafka.pid").read_text())
    second = stack_cli(env, "up", "--kafka-only")
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stdout
    assert _brokers(state_dir) == [pid]
    assert int((state_dir / "run" / "kafka.pid").read_text()) == pid

    (state_dir / "run" / "kafka.pid").unlink()  # a lost pid file: the broker is found again
    third = stack_cli(env, "up", "--kafka-only")
    assert third.returncode == 0, third.stderr
    assert _brokers(state_dir) == [pid]
    assert int((state_dir / "run" / "kafka.pid").read_text()) == pid


def test_up_creates_contract_topics_seen_by_kcat(private):
    env, _ = private
    assert stack_cli(env, "up", "--kafka-only").returncode == 0
    out = subprocess.run(["kcat", "-b", _bootstrap(env), "-L", "-J"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    topics = {t["topic"]: len(t["partitions"]) for t in json.loads(out)["topics"]}
    assert {name: topics.get(name) for name in stack.CONTRACT_TOPICS} == {
        name: 3 for name in stack.CONTRACT_TOPICS}


def test_data_survives_broker_restart(private):
    env, state_dir = private
    assert stack_cli(env, "up", "--kafka-only").returncode == 0
    bootstrap = _bootstrap(env)
    stack.create_topics(bootstrap, ["durable"], partitions=3)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(1000):
        producer.produce("durable", key=str(i).encode(), value=f"v{i}".encode())
    assert producer.flush(30) == 0
    meta = (state_dir / "kafka" / "data" / "meta.properties").read_text()

    down = stack_cli(env, "down")
    assert down.returncode == 0, down.stderr
    assert _brokers(state_dir) == []
    up = stack_cli(env, "up", "--kafka-only")
    assert up.returncode == 0, up.stderr
    assert (state_dir / "kafka" / "data" / "meta.properties").read_text() == meta  # not reformatted

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "restart-check",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition("durable", p, 0) for p in range(3)])
    got = {}
    for _ in range(30):
        for msg in consumer.consume(num_messages=1000, timeout=1.0):
            got[msg.key().decode()] = msg.value().decode()
        if len(got) == 1000:
            break
    consumer.close()
    assert got == {str(i): f"v{i}" for i in range(1000)}


def test_up_then_down_leaves_no_process(private):
    """The full stack (Kafka and the engine) comes up answering and goes down without a trace."""
    env, state_dir = private
    up = stack_cli(env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "eddy engine" in up.stdout and "not available" not in up.stdout
    st = stack_cli(env, "status")
    assert "answering" in st.stdout and "accepting" in st.stdout, st.stdout
    assert len(our_processes(state_dir)) == 2

    down = stack_cli(env, "down")
    assert down.returncode == 0, down.stderr
    assert our_processes(state_dir) == []
    assert not (state_dir / "run" / "kafka.pid").exists()
    assert not (state_dir / "run" / "eddy.pid").exists()


def test_shared_broker_outlives_the_starter_while_another_session_uses_it(private):
    """conftest's kafka_bootstrap: the session that started Kafka stops it only when no other
    live session holds a lease on it."""
    env, state_dir = private
    assert stack_cli(env, "down").returncode == 0
    s = stack.Settings(state_dir=state_dir, kafka_port=int(env["STACK_KAFKA_PORT"]),
                       controller_port=int(env["STACK_CONTROLLER_PORT"]),
                       eddy_port=int(env["STACK_EDDY_PORT"]))
    assert shared.acquire(s) is True
    other = subprocess.Popen(["sleep", "60"])  # stands in for a second live test session
    try:
        (state_dir / "run" / "users" / str(other.pid)).touch()
        assert shared.acquire(s) is False  # already running: a second acquire does not start it
        shared.release(s, started=True)
        assert len(_brokers(state_dir)) == 1 and kafka.answers(s)
    finally:
        other.kill()
        other.wait()
    assert shared.acquire(s) is False
    shared.release(s, started=True)  # the other session is gone: the starter stops Kafka
    assert _brokers(state_dir) == []
