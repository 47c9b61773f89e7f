"""The local Kafka broker: single-node KRaft (broker + controller) run from the Maven jars."""

from __future__ import annotations

import base64
import logging
import subprocess
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from stack import procs
from stack.errors import StackError
from stack.jars import ensure_jars, java
from stack.settings import HOST, Settings

LOG4J_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"
MAIN_CLASS = "kafka.Kafka"
JVM_OPTS = ["-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]
READY_TIMEOUT = 180.0  # a first start on a loaded 2-core machine took over 60 s
STOP_GRACE = 30.0

# librdkafka logs every refused connection while the broker boots; keep that out of the terminal.
_quiet = logging.getLogger("stack.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "logger": _quiet, "socket.timeout.ms": 5000})


def server_properties(s: Settings) -> str:
    """The broker config: one node, replication factor 1 everywhere, data under state_dir."""
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{HOST}:{s.controller_port}",
        f"listeners=PLAINTEXT://{HOST}:{s.kafka_port},CONTROLLER://{HOST}:{s.controller_port}",
        f"advertised.listeners=PLAINTEXT://{HOST}:{s.kafka_port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={s.kafka_dir / 'data'}",
        f"num.partitions={s.partitions}",
        "default.replication.factor=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
        "",
    ])


def _markers(s: Settings) -> list[str]:
    return [MAIN_CLASS, str(s.kafka_dir / "server.properties")]


def running_pid(s: Settings) -> int | None:
    """Pid of this stack's broker if it runs (checked against its command line)."""
    return procs.read_pid(s.pid_file("kafka"), _markers(s))


def answers(s: Settings, timeout: float = 2.0) -> bool:
    """True if the broker answers a metadata request."""
    if not procs.accepts(HOST, s.kafka_port):
        return False
    try:
        md = admin(s.bootstrap).list_topics(timeout=timeout)
    except Exception:
        return False
    return bool(md.brokers)


def _random_cluster_id() -> str:
    while True:  # Kafka's Uuid.randomUuid: base64url, never starting with '-'
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _java_argv(s: Settings, java_bin: str, main: str, *args: str) -> list[str]:
    return [java_bin, *JVM_OPTS, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={s.logs_dir}", "-cp", f"{s.jars_dir}/*", main, *args]


def _format_if_new(s: Settings, java_bin: str, config: Path) -> None:
    if (s.kafka_dir / "data" / "meta.properties").exists():
        return
    cmd = _java_argv(s, java_bin, "kafka.tools.StorageTool", "format",
                     "-t", _random_cluster_id(), "-c", str(config))
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()[-600:]
        raise StackError(f"Formatting the Kafka log directory {s.kafka_dir / 'data'} failed: {out}")


def start(s: Settings, quiet: bool = False) -> int:
    """Start the broker unless it runs; return when it answers a metadata request. Returns its pid."""
    pid = running_pid(s)
    if pid is not None:
        _wait_ready(s, pid)
        return pid
    java_bin = java()
    procs.require_free(HOST, s.kafka_port, "Kafka", "STACK_KAFKA_PORT")
    procs.require_free(HOST, s.controller_port, "the Kafka controller", "STACK_CONTROLLER_PORT")
    ensure_jars(s, quiet=quiet)
    s.kafka_dir.mkdir(parents=True, exist_ok=True)
    s.logs_dir.mkdir(parents=True, exist_ok=True)
    config = s.kafka_dir / "server.properties"
    config.write_text(server_properties(s))
    _format_if_new(s, java_bin, config)
    pid = procs.spawn(_java_argv(s, java_bin, MAIN_CLASS, str(config)),
                      s.logs_dir / "kafka.out", cwd=s.state_dir)
    procs.write_pid(s.pid_file("kafka"), pid)
    try:
        _wait_ready(s, pid)
    except StackError:
        stop(s)
        raise
    return pid


def _wait_ready(s: Settings, pid: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            raise StackError(
                f"Kafka exited during startup. Last lines of {s.logs_dir / 'kafka.out'}:\n"
                f"{procs.log_tail(s.logs_dir / 'kafka.out')}\n(full log: {s.logs_dir / 'kafka.log'})")
        if answers(s):
            return
        time.sleep(0.25)
    raise StackError(f"Kafka did not answer on {s.bootstrap} within {READY_TIMEOUT:.0f} s; "
                     f"see {s.logs_dir / 'kafka.log'}.")


def stop(s: Settings) -> bool:
    """Stop the broker gracefully (SIGTERM, then SIGKILL after STOP_GRACE s). True if it ran."""
    return procs.stop_recorded(s.pid_file("kafka"), _markers(s), STOP_GRACE)
