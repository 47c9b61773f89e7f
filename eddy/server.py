"""Wiring for `eddy serve`: the engine, the connectors that are installed, and pgwire."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from pathlib import Path

from eddy.pgwire.server import PgServer

log = logging.getLogger(__name__)

# Connector modules are optional: the core never imports them, this wiring does if present.
CONNECTOR_MODULES = ("eddy.kafka_connector",  # Kafka: connections, sources and sinks
                     "eddy.sources.avro_registry")  # CONFLUENT SCHEMA REGISTRY connections


def _connectors() -> list:
    """One connector object per installed connector module (`make_connector()` or `connector`)."""
    found = []
    for name in CONNECTOR_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            log.info("connector %s not available: %s", name, e)
            continue
        factory = getattr(module, "make_connector", None) or getattr(module, "connector", None)
        if factory is None:
            log.warning("connector module %s has no make_connector()", name)
            continue
        found.append(factory() if callable(factory) else factory)
    return found


def build_engine(data_dir: str | Path | None, tick_interval: float | None):
    from eddy.engine import Engine

    if data_dir is not None:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    engine = Engine(data_dir, tick_interval=tick_interval)
    registered = set()
    for connector in _connectors():
        kind = getattr(connector, "kind", type(connector).__name__)
        if (kind, type(connector)) in registered:
            continue
        engine.register_connector(connector)
        registered.add((kind, type(connector)))
    return engine


async def serve(host: str, port: int, data_dir: str | Path | None, *,
                tick_interval: float | None = 0.1, password: str | None = None,
                auth_method: str = "scram-sha-256", metrics_port: int = 0) -> None:
    """Run until SIGTERM/SIGINT, then stop accepting, close sessions and the engine."""
    from eddy import metrics

    loop = asyncio.get_running_loop()
    engine = await loop.run_in_executor(None, build_engine, data_dir, tick_interval)
    engine.start()
    observed = metrics.start(engine, host, metrics_port)
    if observed.port:
        print(f"eddy metrics on http://{host}:{observed.port}/metrics", flush=True)
    server = PgServer(engine, host, port, password=password, auth_method=auth_method)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        print(f"eddy listening on {host}:{server.port} (data dir: {data_dir})", flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.stop()
        observed.stop()
        await loop.run_in_executor(None, engine.close)
