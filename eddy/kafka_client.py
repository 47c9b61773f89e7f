"""Kafka client settings shared by the source and sink connectors: librdkafka configuration of
a connection (secrets resolved), the connection lookup, and the status record both report."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from eddy.errors import EddyError

log = logging.getLogger("eddy.sources.kafka")
librdkafka_log = logging.getLogger("eddy.librdkafka")
HISTORY = 100


def client_config(options: dict, ctx=None) -> dict:
    """librdkafka settings of a connection (from `parse_connection`), with secrets resolved
    through `ctx.secret(name)` when the engine offers it."""
    config = dict(options.get("config", {}))
    for key, name in options.get("secrets", {}).items():
        config[key] = secret(ctx, name)
    config["logger"] = librdkafka_log
    return config


def secret(ctx, name: str) -> str:
    """A SECRET's value: `ctx.secret(name)` if the context offers it, else the engine catalog."""
    if callable(getattr(ctx, "secret", None)):
        return ctx.secret(name)
    short = name.split(".")[-1]
    for obj in getattr(getattr(ctx, "engine", None), "catalog", []):
        if obj.kind == "secret" and short == obj.name and "value" in obj.internal:
            return obj.internal["value"]
    raise EddyError("42704", f'unknown secret "{name}"')


def kafka_connection(ctx, name: str) -> dict:
    """The options of connection `name`, which must be a Kafka connection."""
    options = ctx.connection(name)
    if not isinstance(options, dict) or options.get("kind") != "kafka":
        raise EddyError("42809", f'connection "{name}" is not a Kafka connection')
    return options


class SourceStatus:
    """Status and statistics of one source, thread-safe; see `KafkaSourceDriver.status`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = "starting"
        self.error: str | None = None
        self.changed_at = now_ms()
        self.history: deque = deque(maxlen=HISTORY)
        self.history.append({"occurred_at": self.changed_at, "status": "starting", "error": None})

    def set(self, state: str, error: str | None = None) -> None:
        with self.lock:
            if state == self.state and error == self.error:
                return
            if state != self.state:
                log.info("source status %s -> %s%s", self.state, state, f": {error}" if error else "")
            self.state, self.error, self.changed_at = state, error, now_ms()
            self.history.append({"occurred_at": self.changed_at, "status": state, "error": error})


def now_ms() -> int:
    return int(time.time() * 1000)
