"""Bring the whole local stack up or down, and report its state (what `make up/down` run)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from stack import engine, kafka, procs, registry, shared
from stack.errors import StackError
from stack.settings import HOST, Settings
from stack.topics import CONTRACT_TOPICS, create_topics

ENGINE_MISSING = ("The eddy engine is not available yet (no eddy/cli.py or no `eddy` console "
                  "script in the venv), so only Kafka was started.")


@dataclass
class Status:
    kafka_pid: int | None
    kafka_answers: bool
    eddy_pid: int | None
    eddy_accepts: bool
    eddy_available: bool
    registry_pid: int | None = None
    registry_answers: bool = False


def up(s: Settings | None = None, with_engine: bool = True, say=print,
       with_registry: bool | None = None) -> Status:
    """Start Kafka (and the engine), create the contract topics; return when all answer.

    The schema registry starts too when `with_registry` (default: STACK_FORMAT=avro): it boots
    while Kafka and the engine start, and `up` waits for it at the end."""
    s = s or Settings.from_env()
    t0 = time.monotonic()
    if with_registry is None:
        with_registry = s.format == "avro"
    registry_pid = None
    if with_registry:
        was_registry = registry.running_pid(s) is not None
        registry_pid = registry.start(s, wait=False)
    was_running = kafka.running_pid(s) is not None
    if with_engine and engine.available() and engine.running_pid(s) is None:
        # Check the engine's port before starting anything, so a clash leaves nothing half up.
        procs.require_free(HOST, s.eddy_port, "the eddy engine", "STACK_EDDY_PORT")
    with shared.locked(s):
        pid = kafka.start(s, quiet=False)
        shared.pin(s, True)
    say(f"Kafka {'already running' if was_running else 'started'} on {s.bootstrap} (pid {pid}).")
    created = create_topics(s.bootstrap, CONTRACT_TOPICS, partitions=s.partitions)
    if created:
        say(f"Created topics ({s.partitions} partitions): {', '.join(created)}.")
    if with_engine:
        if engine.available():
            was = engine.running_pid(s) is not None
            with shared.locked(s):
                epid = engine.start(s)
            say(f"eddy engine {'already running' if was else 'started'} on {HOST}:{s.eddy_port} (pid {epid}).")
        else:
            say(ENGINE_MISSING)
    if registry_pid is not None:
        registry.wait_ready(s, registry_pid)
        say(f"Schema registry {'already running' if was_registry else 'started'} on "
            f"{registry.url(s)} (pid {registry_pid}).")
    say(f"Ready in {time.monotonic() - t0:.1f} s. Logs: {s.logs_dir}/  Stop with `make down`.")
    return status(s)


def down(s: Settings | None = None, say=print) -> None:
    """Stop the engine, then Kafka: SIGTERM, a grace period, then SIGKILL."""
    s = s or Settings.from_env()
    stopped = engine.stop(s)
    if stopped:
        say("eddy engine stopped.")
    if registry.stop(s):
        stopped = True
        say("Schema registry stopped.")
    with shared.locked(s):
        shared.pin(s, False)
        if kafka.stop(s):
            stopped = True
            say("Kafka stopped.")
    if not stopped:
        say("Nothing was running.")
    leftovers = [n for n, p in (("kafka", kafka.running_pid(s)), ("eddy", engine.running_pid(s)),
                                ("registry", registry.running_pid(s))) if p]
    if leftovers:
        raise StackError(f"Could not stop: {', '.join(leftovers)}.")


def status(s: Settings | None = None) -> Status:
    s = s or Settings.from_env()
    kpid, epid, rpid = kafka.running_pid(s), engine.running_pid(s), registry.running_pid(s)
    return Status(
        kafka_pid=kpid, kafka_answers=bool(kpid) and kafka.answers(s),
        eddy_pid=epid, eddy_accepts=bool(epid) and procs.accepts(HOST, s.eddy_port),
        eddy_available=engine.available(),
        registry_pid=rpid, registry_answers=bool(rpid) and registry.answers(s),
    )
