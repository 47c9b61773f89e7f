"""Wiring for `eddy serve`: the engine, the connectors that are installed, and pgwire."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from eddy.engine import TICK_THREAD
from eddy.pgwire.server import PgServer

log = logging.getLogger(__name__)

# Connector modules are optional: the core never imports them, this wiring does if present.
CONNECTOR_MODULES = ("eddy.kafka_connector",  # Kafka: connections, sources and sinks
                     "eddy.sources.avro_registry")  # CONFLUENT SCHEMA REGISTRY connections

SHUTDOWN_GRACE = 5.0  # seconds a stop waits for a running tick before abandoning it
SHUTDOWN_CAP = 60.0   # seconds a stop may take in all (stopping connectors, the checkpoint)


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


def _leave(why: str) -> None:
    """Exit now, without waiting for other threads. Safe for the state: a tick's transaction
    either committed before or is discarded (as after a crash), and its input, whose offsets
    were not committed with it, is read again after a restart."""
    log.warning("%s; exiting now", why)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _watch_shutdown(grace: float, cap: float) -> None:
    """A daemon thread that ends the process if closing takes too long: after `grace` s if a
    tick still runs (absorbing a backlog, one tick can take minutes), after `cap` s anyway."""
    def watch() -> None:
        t0 = time.monotonic()
        time.sleep(grace)
        while time.monotonic() - t0 < cap:
            if any(t.name == TICK_THREAD and t.is_alive() for t in threading.enumerate()):
                _leave(f"a tick was still running {grace:g} s after the stop began; "
                       "it is not committed")
            time.sleep(0.2)
        _leave(f"closing took over {cap:g} s")

    threading.Thread(target=watch, name="eddy-shutdown-watch", daemon=True).start()


async def serve(host: str, port: int, data_dir: str | Path | None, *,
                tick_interval: float | None = 0.1, password: str | None = None,
                auth_method: str = "scram-sha-256", metrics_port: int = 0,
                shutdown_grace: float = SHUTDOWN_GRACE) -> None:
    """Run until SIGTERM/SIGINT, then stop accepting, close sessions and the engine. A tick
    still running `shutdown_grace` s into closing is abandoned (see `_leave`); a second
    signal exits at once."""
    from eddy import metrics

    loop = asyncio.get_running_loop()
    engine = await loop.run_in_executor(None, build_engine, data_dir, tick_interval)
    engine.start()
    observed = metrics.start(engine, host, metrics_port)
    if observed.port:
        print(f"eddy metrics on http://{host}:{observed.port}/metrics", flush=True)
    server = PgServer(engine, host, port, password=password, auth_method=auth_method)
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            _leave("a second stop signal")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await server.start()
        print(f"eddy listening on {host}:{server.port} (data dir: {data_dir}, state "
              f"{'in memory' if engine.state.snapshots else 'in a file'})", flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.stop()
        observed.stop()
        _watch_shutdown(shutdown_grace, SHUTDOWN_CAP)
        await loop.run_in_executor(None, engine.close)
