"""Shared fixtures: a real local Kafka (started through `stack` when needed) and test topics."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

# pytest puts tests/ first on sys.path, where tests/stack/ would shadow the `stack` package
# (the editable install's finder runs after the path scan): make the repository root win.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import stack  # noqa: E402
from stack import shared  # noqa: E402


@pytest.fixture(scope="session")
def stack_settings() -> stack.Settings:
    """The project's stack settings (`.stack/`, 127.0.0.1:9092, engine port 6875)."""
    return stack.Settings.from_env()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_settings) -> str:
    """"127.0.0.1:9092" with Kafka answering and the contract topics created. Starts Kafka if
    needed; stops it at session end only if this session started it and no other test session
    still uses it."""
    started = shared.acquire(stack_settings)
    stack.create_topics(stack_settings.bootstrap, stack.CONTRACT_TOPICS,
                        partitions=stack_settings.partitions)
    yield stack_settings.bootstrap
    shared.release(stack_settings, started)


@pytest.fixture
def make_topic(kafka_bootstrap):
    """Factory `make_topic(prefix="test", partitions=3) -> name`: creates a uniquely named topic
    (ready for producing) and deletes every topic it made when the test ends."""
    made: list[str] = []

    def _make(prefix: str = "test", partitions: int = 3) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        stack.create_topics(kafka_bootstrap, [name], partitions=partitions)
        made.append(name)
        return name

    yield _make
    stack.delete_topics(kafka_bootstrap, made)


@pytest.fixture
def kafka_topic(make_topic) -> str:
    """One fresh, uniquely named 3-partition topic."""
    return make_topic()
