"""Fixtures of the Avro tests: a private Apicurio Registry (the stack's own `stack.registry`,
on free loopback ports, its H2 storage under a temporary directory) and Avro helpers."""

from __future__ import annotations

import fcntl
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sources"))  # kafka_harness

from stack import registry as stack_registry  # noqa: E402
from stack.settings import Settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    settings: Settings
    pid: int

    @property
    def url(self) -> str:
        return stack_registry.url(self.settings)

    def restart(self) -> None:
        """Stop (SIGTERM) and start again on the same storage and ports."""
        assert stack_registry.stop(self.settings)
        self.pid = stack_registry.start(self.settings, quiet=True)

    def stop(self) -> None:
        stack_registry.stop(self.settings)

    def start(self, wait: bool = True) -> None:
        self.pid = stack_registry.start(self.settings, quiet=True, wait=wait)


@pytest.fixture(scope="session")
def schema_registry(tmp_path_factory) -> Registry:
    """Apicurio Registry on 127.0.0.1:<free port>, BACKWARD compatibility, durable storage."""
    state = tmp_path_factory.mktemp("registry")
    s = Settings.from_env(state_dir=state, registry_port=free_port(),
                          registry_management_port=free_port())
    # both pytest-xdist workers may get here at once on a fresh clone: one fetches and unpacks
    # the shared distribution, the other waits (unpacking replaced it under a running registry)
    lock = s.registry_dist.with_name(s.registry_dist.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        stack_registry.ensure_dist(s, quiet=True)
    reg = Registry(s, stack_registry.start(s, quiet=True))
    yield reg
    reg.stop()
