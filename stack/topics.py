"""Kafka topics: the contract topics of CONTRACTS.md and any others, created idempotently."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from stack.errors import StackError
from stack.kafka import admin

CONTRACT_TOPICS = (
    "clicks", "cart_events", "purchases", "logins", "device_changes", "transactions", "app_logs",
)


def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 3,
                  timeout: float = 30.0) -> list[str]:
    """Create each topic (replication factor 1) unless it exists; return those newly created."""
    names = list(dict.fromkeys(names))
    client = admin(bootstrap)
    created: list[str] = []
    pending = names
    deadline = time.monotonic() + timeout
    while pending:
        futures = client.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in pending],
            operation_timeout=timeout, request_timeout=timeout)
        retry = []
        for name, fut in futures.items():
            try:
                fut.result()
                created.append(name)
            except KafkaException as e:
                err = e.args[0]
                if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                if err.retriable() and time.monotonic() < deadline:
                    retry.append(name)
                    continue
                raise StackError(f"Could not create Kafka topic {name!r}: {err.str()}") from None
        pending = retry
        if pending:
            time.sleep(0.5)
    _wait_visible(client, names, deadline)
    return created


def _wait_visible(client, names: list[str], deadline: float) -> None:
    """Wait until every topic has leaders for all partitions (producers can write at once)."""
    while True:
        md = client.list_topics(timeout=10)
        ready = all(
            n in md.topics and md.topics[n].error is None and md.topics[n].partitions
            and all(p.leader >= 0 for p in md.topics[n].partitions.values())
            for n in names)
        if ready or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def list_topics(bootstrap: str, internal: bool = False) -> dict[str, int]:
    """Topic name -> partition count (internal `__` topics left out unless asked)."""
    md = admin(bootstrap).list_topics(timeout=10)
    return {n: len(t.partitions) for n, t in sorted(md.topics.items())
            if internal or not n.startswith("__")}


def delete_topics(bootstrap: str, names: Iterable[str], timeout: float = 30.0) -> None:
    names = list(names)
    if not names:
        return
    client = admin(bootstrap)  # keep a reference: the futures fail if the client is collected
    for name, fut in client.delete_topics(names, operation_timeout=timeout).items():
        try:
            fut.result()
        except KafkaException as e:
            if e.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise StackError(f"Could not delete Kafka topic {name!r}: {e.args[0].str()}") from None
