"""The connector protocol: sources and sinks plug into the engine through these types.

The engine core never imports a connector; `eddy/cli.py` registers them with
`engine.register_connector(connector)`. See ARCHITECTURE.md, "Connectors"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa


class SourceDriver(Protocol):
    columns: list[tuple[str, str]]            # the source relation, e.g. [("data", "jsonb")]
    upsert_key: list[str] | None              # ENVELOPE UPSERT: latest row per key
    subsources: dict[str, list[tuple[str, str]]]  # {"dead_letters": [...]}

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def status(self) -> dict: ...


class SinkDriver(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def status(self) -> dict: ...


@dataclass
class SourceContext:
    """What a source driver gets: its identity, connection lookup and the engine."""

    source_id: str
    name: str
    qualified_name: str
    engine: Any
    _connections: Callable[[str], dict] = field(repr=False, default=lambda name: {})

    def connection(self, name: str) -> dict:
        """Options of the named CONNECTION (as returned by create_connection)."""
        return self._connections(name)


@dataclass
class SinkContext:
    """What a sink driver gets: the relation it reads, connection lookup and the engine."""

    sink_id: str
    name: str
    from_id: str
    from_columns: list[tuple[str, str]]
    engine: Any
    _connections: Callable[[str], dict] = field(repr=False, default=lambda name: {})

    def connection(self, name: str) -> dict:
        return self._connections(name)


class Connector(Protocol):
    kind: str

    def create_connection(self, name: str, body: str) -> dict: ...
    def create_source(self, ctx: SourceContext, body: str) -> SourceDriver: ...
    def create_sink(self, ctx: SinkContext, body: str) -> SinkDriver: ...


@dataclass
class IngestBatch:
    """One `engine.ingest` call waiting for the next tick."""

    rows: pa.Table
    offsets: dict
    extra: dict[str, pa.Table] = field(default_factory=dict)
