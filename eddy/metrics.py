"""Prometheus metrics at `/metrics` (`eddy serve --metrics-port`, default 127.0.0.1:6876).

Everything is read at scrape time by one custom collector from the engine's own state (source
drivers' `status()`, the ingest queue, dataflow errors and tick statistics, the lag tracker of
`eddy.catalog.lag`), so the tick's hot path only pays the tick observer. Process memory comes
from prometheus-client's process collector. `start(engine, host, port)` also runs the
once-a-second sampler that keeps the lag history and the rows-in-state cache current.

Metric names (labels in braces):
- `eddy_source_messages_total`, `eddy_source_bytes_total`, `eddy_source_updates_committed_total`,
  `eddy_source_dead_letters_total` {source_id, source}; `eddy_source_up` {source_id, source,
  status}; `eddy_source_partition_lag_messages` {source_id, source, partition} (high watermark -
  committed offset);
- `eddy_ingest_batches_waiting`, `eddy_ingest_rows_waiting` {source_id, source} (backpressure);
- `eddy_ticks_total`, `eddy_tick_duration_seconds` (histogram);
- `eddy_view_step_seconds_total`, `eddy_view_state_rows`, `eddy_view_freshness_seconds`,
  `eddy_view_errored` {object_id, view};
- `eddy_wallclock_lag_seconds` {object_id, object, kind} (as `mz_wallclock_global_lag`);
- with the state in memory: `eddy_snapshot_age_seconds`, `eddy_snapshot_duration_seconds`,
  `eddy_snapshot_bytes` (the last snapshot);
- `process_resident_memory_bytes` and the rest of the process collector.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from eddy.catalog import lag as lagmod
from eddy.thread_names import name_os_thread

log = logging.getLogger(__name__)

DEFAULT_PORT = 6876
SAMPLE_INTERVAL_S = 1.0


class EngineCollector:
    """Reads one engine's state at each scrape."""

    def __init__(self, engine):
        self.tracker = lagmod.tracker(engine)

    def collect(self):
        engine = self.tracker.engine
        if engine is None or engine.closed:
            return
        yield from self._sources(engine)
        yield from self._ticks()
        yield from self._views(engine)
        yield from self._snapshot(engine)

    def _sources(self, engine):
        src = ["source_id", "source"]
        fams = {k: CounterMetricFamily(f"eddy_source_{k}", h, labels=src) for k, h in (
            ("messages", "Kafka messages received by the source."),
            ("bytes", "Key + value bytes received by the source."),
            ("updates_committed", "Rows the engine committed for the source."),
            ("dead_letters", "Messages the source could not decode, committed as dead letters."))}
        up = GaugeMetricFamily("eddy_source_up", "1 when the source is running.",
                               labels=[*src, "status"])
        part = GaugeMetricFamily("eddy_source_partition_lag_messages",
                                 "Consumer lag: high watermark minus committed offset.",
                                 labels=[*src, "partition"])
        batches = GaugeMetricFamily("eddy_ingest_batches_waiting",
                                    "Batches queued for the next tick (backpressure).", labels=src)
        rows = GaugeMetricFamily("eddy_ingest_rows_waiting",
                                 "Rows queued for the next tick (backpressure).", labels=src)
        queued = lagmod.waiting_by_source(engine)
        for oid, driver in list(engine.drivers.items()):
            obj = engine.catalog.get(oid)
            if obj is None or obj.kind != "source" or not callable(getattr(driver, "status", None)):
                continue
            try:
                st = driver.status()
            except Exception:  # noqa: BLE001 - one broken driver must not fail the scrape
                log.exception("status of source %s", oid)
                continue
            labels = [oid, obj.qualified]
            fams["messages"].add_metric(labels, st.get("messages_received", 0))
            fams["bytes"].add_metric(labels, st.get("bytes_received", 0))
            fams["updates_committed"].add_metric(labels, st.get("updates_committed", 0))
            fams["dead_letters"].add_metric(labels, st.get("dead_letters_committed", 0))
            status = st.get("status") or "unknown"
            up.add_metric([*labels, status], 1.0 if status == "running" else 0.0)
            for p in st.get("partitions", []):
                if p.get("lag") is not None:
                    part.add_metric([*labels, str(p["partition"])], p["lag"])
            b, r = queued.get(oid, (0, 0))
            batches.add_metric(labels, b)
            rows.add_metric(labels, r)
        yield from (*fams.values(), up, part, batches, rows)

    def _ticks(self):
        t = self.tracker
        ticks = CounterMetricFamily("eddy_ticks", "Ticks that committed data.")
        ticks.add_metric([], t.ticks)
        yield ticks
        buckets, _, total = t.tick_histogram()
        hist = HistogramMetricFamily("eddy_tick_duration_seconds",
                                     "Duration of ticks that committed data.")
        hist.add_metric([], [(_le(b), n) for b, n in buckets], total)
        yield hist

    @staticmethod
    def _snapshot(engine):
        """The last snapshot of a state held in memory (eddy.storage.snapshots), once taken."""
        figures = lagmod.snapshot_figures(engine)
        if figures["snapshot_at"] is None:
            return
        for name, text, value in (
                ("eddy_snapshot_age_seconds", "Seconds since the last snapshot was installed "
                 "(what a crash would re-read from Kafka, at least).",
                 (lagmod.wall_ms() - figures["snapshot_at"]) / 1000.0),
                ("eddy_snapshot_duration_seconds", "Time the last snapshot took.",
                 figures["snapshot_seconds"]),
                ("eddy_snapshot_bytes", "Size of the last snapshot's file.",
                 figures["snapshot_bytes"])):
            fam = GaugeMetricFamily(name, text)
            fam.add_metric([], value)
            yield fam

    def _views(self, engine):
        labels = ["object_id", "view"]
        step = CounterMetricFamily("eddy_view_step_seconds", "Tick time spent maintaining the view.",
                                   labels=labels)
        state = GaugeMetricFamily("eddy_view_state_rows",
                                  "Rows in the view's state (output and operator tables).",
                                  labels=labels)
        fresh = GaugeMetricFamily("eddy_view_freshness_seconds",
                                  "Wall clock minus the last tick applied to the view.",
                                  labels=labels)
        errored = GaugeMetricFamily("eddy_view_errored", "1 when the view's dataflow failed.",
                                    labels=labels)
        wall = GaugeMetricFamily("eddy_wallclock_lag_seconds",
                                 "Wall clock minus the object's write frontier "
                                 "(mz_internal.mz_wallclock_global_lag).",
                                 labels=["object_id", "object", "kind"])
        lags = self.tracker.sample()  # what a scrape sees is in the per-minute history too
        for row in self.tracker.dataflow_rows(lags):
            lv = [row["object_id"], row["name"]]
            step.add_metric(lv, row["step_seconds_total"])
            if row["state_rows"] is not None:
                state.add_metric(lv, row["state_rows"])
            if row["freshness"] is not None:
                fresh.add_metric(lv, row["freshness"] / 1000.0)
            errored.add_metric(lv, 0.0 if row["error"] is None else 1.0)
        for oid, ms in sorted(lags.items()):
            obj = engine.catalog.get(oid)
            if obj is not None:
                wall.add_metric([oid, obj.qualified, obj.kind], ms / 1000.0)
        yield from (step, state, fresh, errored, wall)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class Metrics:
    """The HTTP endpoint (if any) and the sampler thread of one engine."""

    def __init__(self, engine, registry: CollectorRegistry, server=None, port: int | None = None):
        self.engine = engine
        self.registry = registry
        self.server = server
        self.port = port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, name="eddy-metrics", daemon=True)
        self._thread.start()

    def _sample_loop(self) -> None:
        name_os_thread()
        t = lagmod.tracker(self.engine)
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            if self.engine.closed:
                return
            try:
                t.sample()
                t.refresh_state_rows()
            except Exception:  # noqa: BLE001 - sampling must never stop the engine
                log.debug("metrics sample failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self._thread.join(timeout=5)


def registry_for(engine) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine))
    ProcessCollector(registry=registry)
    return registry


def start(engine, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> Metrics:
    """Serve `/metrics` for `engine` on host:port (port 0: no endpoint, sampling only). A port
    already in use is logged and skipped: the engine runs on without the endpoint."""
    from eddy.catalog import status
    status.attach(engine)
    registry = registry_for(engine)
    server = None
    if port:
        try:
            server, _ = start_http_server(port, addr=host, registry=registry)
        except OSError as e:
            log.warning("metrics endpoint not started: %s:%s: %s", host, port, e)
            port = None
    return Metrics(engine, registry, server, port or None)
