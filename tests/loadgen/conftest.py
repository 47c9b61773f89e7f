"""Fixtures of the load generator tests."""

from __future__ import annotations

import uuid

import pytest

from loadgen.model import TOPICS


@pytest.fixture
def topic_prefix(kafka_bootstrap):
    import stack  # the repository's package (tests/conftest.py puts it first on sys.path)

    prefix = f"lg-{uuid.uuid4().hex[:8]}-"
    names = [prefix + t for t in TOPICS]
    stack.create_topics(kafka_bootstrap, names, partitions=3)
    yield prefix
    stack.delete_topics(kafka_bootstrap, names)
