"""Fixtures for the dashboard and alerting tests: a private `eddy serve` on a fixed free port
(so it can be stopped and started again at the same address), the alerting process as a real
subprocess, and the Slack stand-in."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from eddyproc import EddyProcess, dbt_env
from receiver import Receiver

from loadgen.model import TOPICS
from stack.topics import create_topics, delete_topics

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """`eddy serve` that can be stopped and started again on the same port and data dir."""

    def __init__(self, data_dir: Path):
        self.data_dir, self.port, self.proc = data_dir, free_port(), None
        self.start()

    def start(self) -> None:
        self.proc = EddyProcess(self.data_dir, extra_args=["--port", str(self.port)])
        assert self.proc.port == self.port

    def stop(self) -> None:
        self.proc.stop()

    def connect(self):
        return self.proc.connect()

    @property
    def env(self) -> dict[str, str]:
        return {"EDDY_HOST": "127.0.0.1", "EDDY_PORT": str(self.port)}


class Platform:
    """`with Platform(bootstrap, tmp, name) as p`: own topics (prefix `p.prefix`), an Engine,
    and the platform's dbt project run against both; all removed on exit."""

    def __init__(self, bootstrap: str, tmp: Path, name: str):
        self.bootstrap, self.tmp = bootstrap, tmp
        self.prefix = f"{name}{uuid.uuid4().hex[:8]}_"

    def __enter__(self) -> Platform:
        create_topics(self.bootstrap, [self.prefix + t for t in TOPICS])
        self.engine = Engine(self.tmp / "eddy")
        env = {**dbt_env(self.engine.port, self.bootstrap, self.tmp), **self.engine.env}
        try:
            dbt = subprocess.run(
                [str(BIN / "dbt"), "run", "--project-dir", str(REPO),
                 "--vars", json.dumps({"topic_prefix": self.prefix})],
                capture_output=True, text=True, env=env, timeout=600)
            assert dbt.returncode == 0, dbt.stdout[-4000:]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_):
        self.engine.stop()
        delete_topics(self.bootstrap, [self.prefix + t for t in TOPICS])


def loadgen_records(out: Path, args: list[str]) -> list[dict]:
    """The records of a load generator dry run (`--out`), in order."""
    gen = subprocess.run([str(BIN / "loadgen"), "run", *args, "--dry-run", "--out", str(out),
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    assert gen.returncode == 0, gen.stderr[-4000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


def produce_loadgen(bootstrap: str, prefix: str, out: Path, args: list[str]) -> int:
    """The load generator's events, produced to Kafka as it records them (`--out`). A dry run
    keeps its simulated pacing (minutes of shop time, so account takeovers complete) without
    taking that long in wall-clock time."""
    return produce(bootstrap, prefix, loadgen_records(out, args))


def produce(bootstrap: str, prefix: str, records: list[dict]) -> int:
    """Produce `--out` records (well-formed `value`s and malformed `raw` texts) to Kafka."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "linger.ms": 20})
    for r in records:
        value = r["raw"] if "raw" in r else json.dumps(r["value"])
        value = value.encode() if isinstance(value, str) else json.dumps(value).encode()
        producer.produce(prefix + r["topic"], key=(r.get("key") or "").encode(), value=value)
        producer.poll(0)
    assert producer.flush(60) == 0
    return len(records)


class AlertProcess:
    """`python -m app.alerts` with a rules file, a state file and a webhook URL."""

    def __init__(self, config: Path, state: Path, env: dict[str, str], log: Path):
        self.config, self.state, self.env, self.log = config, state, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self._out = open(self.log, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.alerts", "--config", str(self.config),
             "--state", str(self.state)],
            cwd=REPO, env={**os.environ, **self.env}, stdout=self._out,
            stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    e = Engine(tmp_path_factory.mktemp("eddy") / "data")
    yield e
    e.stop()


@pytest.fixture
def alerts(tmp_path, engine, receiver):
    """Factory `alerts(rules_toml) -> AlertProcess` (started); all are stopped at the end."""
    made: list[AlertProcess] = []

    def _make(rules: str, start: bool = True) -> AlertProcess:
        config = tmp_path / "rules.toml"
        config.write_text(rules)
        p = AlertProcess(config, tmp_path / "alerts.sqlite",
                         {**engine.env, "SLACK_WEBHOOK_URL": receiver.url},
                         tmp_path / "alerts.log")
        if start:
            p.start()
        made.append(p)
        return p

    yield _make
    for p in made:
        if p.proc is not None:
            p.stop()


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(interval)
