"""Helpers for the Kafka connector tests: producing, an engine with the Kafka connector,
waiting, and an engine process that can be killed with SIGKILL (engine_proc.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from eddy.sinks.encode import SinkState
from eddy.sinks.kafka import read_topic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def producer(bootstrap: str, **extra) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 20, "message.max.bytes": 4 << 20, **extra})


def produce(bootstrap: str, topic: str, messages, partition: int | None = None) -> int:
    """Produce (key, value) pairs (bytes or None) and wait for every acknowledgement."""
    p = producer(bootstrap)
    failed: list = []
    n = 0
    for key, value in messages:
        kwargs = {"partition": partition} if partition is not None else {}
        while True:
            try:
                p.produce(topic, key=key, value=value, **kwargs,
                          on_delivery=lambda err, _m: err and failed.append(err))
                break
            except BufferError:
                p.poll(0.1)
        n += 1
        p.poll(0)
    assert p.flush(60) == 0, "messages left unacknowledged"
    assert not failed, failed[:3]
    return n


def create_topic(bootstrap: str, name: str, partitions: int = 3, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                        config=config or {})])[name]
    fut.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t = admin.list_topics(name, timeout=10).topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and \
                all(p.leader >= 0 for p in t.partitions.values()):
            return
        time.sleep(0.1)


def wait_until(pred, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def kafka_engine(data_dir=None, tick_interval: float = 0.1):
    """An in-process Engine with the Kafka connector registered and its tick loop running."""
    from eddy.engine import Engine
    from eddy.kafka_connector import KafkaConnector

    engine = Engine(data_dir, tick_interval=tick_interval)
    engine.register_connector(KafkaConnector())
    engine.start()
    try:
        yield engine
    finally:
        engine.close()


@contextlib.contextmanager
def wire(engine):
    """Serve `engine` over the PostgreSQL protocol on a free loopback port (a thread of its
    own); yields a function running one SQL query through psycopg, returning its rows."""
    import asyncio
    import threading

    import psycopg

    from eddy.pgwire.server import PgServer

    loop = asyncio.new_event_loop()
    server = PgServer(engine, "127.0.0.1", 0)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    conn = psycopg.connect(host="127.0.0.1", port=server.port, user="materialize",
                           dbname="materialize", autocommit=True)

    def run(sql: str, params=None) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    try:
        yield run
    finally:
        conn.close()
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def query(engine, sql: str, params=None) -> list[tuple]:
    session = engine.session()
    try:
        return session.execute(sql, params)[-1].rows
    finally:
        session.close()


def driver_of(engine, name: str):
    """The connector driver of the source or sink called `name`."""
    for obj in engine.catalog:
        if obj.name == name and obj.kind in ("source", "sink"):
            return engine.drivers[obj.id]
    raise KeyError(name)


def topic_state(bootstrap: str, topic: str, envelope: str) -> list[dict]:
    """What a read_committed consumer holds after replaying a sink topic."""
    state = SinkState(envelope)
    for key, value in read_topic({"bootstrap.servers": bootstrap}, topic):
        state.apply(key, value)
    return state.rows()


class EngineProcess:
    """`engine_proc.py` in a subprocess: an Engine with the Kafka connector over `data_dir`."""

    def __init__(self, data_dir: Path, statements: list[str], bootstrap: str,
                 env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.statements = statements
        self.bootstrap = bootstrap
        self.env = env or {}     # e.g. EDDY_STATE_STORAGE
        self.proc: subprocess.Popen | None = None

    def _spawn(self, mode: str, *args: str) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        return subprocess.Popen(
            [sys.executable, str(HERE / "engine_proc.py"), mode, str(self.data_dir),
             json.dumps(self.statements), *args],
            stdout=subprocess.PIPE, stderr=open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab"),
            text=True, env=env, cwd=ROOT)

    def start(self) -> None:
        self.proc = self._spawn("run")
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"engine process did not start: {line!r}"

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def check(self, source: str, expected_offsets: int, queries: dict[str, str],
              timeout: float = 180.0) -> dict:
        """Restart, wait until `source` committed `expected_offsets` (sum over partitions),
        settle, run `queries`, and return their rows (JSON-decoded)."""
        proc = self._spawn("check", source, str(expected_offsets), json.dumps(queries))
        out, _ = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            log = self.data_dir.parent / f"{self.data_dir.name}.log"
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if not ln.startswith("%")]
            raise AssertionError(f"check failed ({proc.returncode}): {out[-2000:]}\n"
                                 + "\n".join(lines[-60:]))
        return json.loads(out.strip().splitlines()[-1])
