"""Wallclock lag and engine statistics: what `/metrics`, `eddy status` and `mz_internal` show.

A `LagTracker` per engine (`tracker(engine)`) watches committed ticks (`engine.tick_observers`)
and samples once a second (`sample()`, from the sampler thread `eddy.metrics` runs, and on every
query of these relations). Costly figures (rows in state) are refreshed by the sampler and read
from its cache, so a query or a scrape never scans state.

Frontiers follow Materialize: an object's write frontier is the last tick applied to it (every
tick applies to every healthy object, idle ticks included); a dataflow that failed keeps the tick
of its last successful step; a source that is not running keeps the tick at which it last ran;
an object is never ahead of what it depends on. Lag = wall clock - frontier.

Relations (live views, see `eddy.catalog.status`):

- `mz_internal.mz_wallclock_global_lag` (object_id, lag interval): Materialize's, now.
- `mz_internal.mz_wallclock_global_lag_recent_history` (object_id, lag, occurred_at): the
  largest lag seen per object per minute, the last 24 hours (Materialize's shape).
- `mz_internal.eddy_dataflow_statistics`: per maintained view: rows in state, seconds spent
  stepping it (total and in the last tick that stepped it), rows read and written in that
  tick, freshness (its current lag), error.
- `mz_internal.eddy_engine_statistics`: one row: ticks, last tick and recent tick durations,
  ingest batches and rows waiting for a tick (backpressure), resident memory, DuckDB's memory
  and its limit, and the database file's blocks in use and its write-ahead log not yet folded
  into it; with the state in memory, the last snapshot's end, seconds and bytes.
- `mz_internal.eddy_memory_usage`: DuckDB's memory by what holds it (`duckdb_memory()`: base
  tables, ART indexes, hash tables, ...), and what each has spilled to temporary files.
"""

from __future__ import annotations

import bisect
import collections
import threading
import time
import weakref

from eddy.storage.state import SCHEMA, phys

# Prometheus-style upper bounds (seconds) of the tick duration histogram.
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HISTORY_MS = 24 * 3600 * 1000
STATE_REFRESH_S = 5.0
FRONTIER_KINDS = ("source", "table", "materialized-view", "index", "sink")

RELATIONS: dict[tuple[str, str], str] = {
    ("mz_internal", "mz_wallclock_global_lag"): "object_id:t lag:v",
    ("mz_internal", "mz_wallclock_global_lag_recent_history"): "object_id:t lag:v occurred_at:z",
    ("mz_internal", "eddy_dataflow_statistics"):
        "object_id:t name:t state_rows:i step_seconds_total:d last_step_seconds:d "
        "last_rows_read:i last_rows_written:i freshness:v error:t",
    ("mz_internal", "eddy_engine_statistics"):
        "ticks:i last_tick_at:z last_tick_seconds:d tick_seconds_p50:d tick_seconds_p99:d "
        "tick_seconds_max:d ingest_batches_waiting:i ingest_rows_waiting:i "
        "resident_memory_bytes:i duckdb_memory_bytes:i duckdb_memory_limit_bytes:i wal_bytes:i "
        "database_bytes:i snapshot_at:z snapshot_seconds:d snapshot_bytes:i",
    ("mz_internal", "eddy_memory_usage"): "tag:t memory_bytes:i temporary_bytes:i",
}


def wall_ms() -> int:
    return int(time.time() * 1000)


class LagTracker:
    """Tick observations and lag history of one engine."""

    def __init__(self, engine):
        self._engine = weakref.ref(engine)
        self.lock = threading.Lock()
        self.started_ms = wall_ms()
        self.ticks = 0
        self.last_tick: tuple[int, float] | None = None          # (ts, seconds)
        self.recent = collections.deque(maxlen=2000)             # (wall ms, seconds)
        self.buckets = [0] * (len(TICK_BUCKETS) + 1)             # last: +Inf
        self.tick_sum = 0.0
        self.applied: dict[str, int] = {}                        # dataflow -> last ts stepped
        self.step_total: dict[str, float] = {}
        self.step_last: dict[str, float] = {}
        self.held: dict[str, int] = {}                           # source -> last ts running
        self.history: dict[tuple[str, int], int] = {}            # (object, minute ms) -> max lag
        self.state_rows: dict[str, int] = {}
        self._state_at = 0.0

    @property
    def engine(self):
        return self._engine()

    # -- observations ----------------------------------------------------------------------
    def on_tick(self, ts: int, seconds: float, step_s: dict[str, float]) -> None:
        """`engine.tick_observers` callback: after each committed tick (in the tick thread)."""
        with self.lock:
            self.ticks += 1
            self.last_tick = (ts, seconds)
            self.recent.append((wall_ms(), seconds))
            self.buckets[bisect.bisect_left(TICK_BUCKETS, seconds)] += 1
            self.tick_sum += seconds
            for oid, s in step_s.items():
                self.applied[oid] = ts
                self.step_total[oid] = self.step_total.get(oid, 0.0) + s
                self.step_last[oid] = s

    def tick_histogram(self) -> tuple[list[tuple[float, int]], int, float]:
        """([(upper bound, cumulative count)], count, sum), +Inf last."""
        with self.lock:
            counts, total = list(self.buckets), self.tick_sum
        out, acc = [], 0
        for bound, n in zip((*TICK_BUCKETS, float("inf")), counts, strict=True):
            acc += n
            out.append((bound, acc))
        return out, acc, total

    # -- frontiers and lag -----------------------------------------------------------------
    def frontiers(self) -> dict[str, int]:
        """Object id -> write frontier (tick ts, ms) of every object that has one."""
        engine = self.engine
        if engine is None:
            return {}
        last = engine.last_ts
        catalog = {o.id: o for o in engine.catalog}
        objs = {oid: o for oid, o in catalog.items() if o.kind in FRONTIER_KINDS
                or (o.kind == "view" and oid in engine.dataflows)}
        own: dict[str, float] = {}
        for oid, obj in objs.items():
            df = engine.dataflows.get(oid)
            if df is not None and df.error is not None:
                own[oid] = self.applied.get(oid, self.started_ms)
            elif obj.kind == "source" and _status(engine, oid) not in (None, "running"):
                own[oid] = self.held.get(oid, self.started_ms)
            else:
                own[oid] = last
                if obj.kind == "source":
                    self.held[oid] = last
        done: dict[str, float] = {}

        def resolve(oid: str, seen: frozenset) -> float:
            # plain views have no frontier of their own: they pass on their inputs'
            if oid in done:
                return done[oid]
            obj = catalog[oid]
            deps = [d for d in (*obj.depends_on, *([obj.on_id] if obj.on_id else []))
                    if d in catalog and d not in seen]
            f = min([own.get(oid, float("inf")), *(resolve(d, seen | {oid}) for d in deps)])
            done[oid] = f
            return f

        return {oid: int(resolve(oid, frozenset())) for oid in objs}

    def lags(self, now: int | None = None) -> dict[str, int]:
        """Object id -> lag (ms) now."""
        now = wall_ms() if now is None else now
        return {oid: max(0, now - f) for oid, f in self.frontiers().items()}

    def sample(self) -> dict[str, int]:
        """Record the current lags into the per-minute history; returns them."""
        now = wall_ms()
        lags = self.lags(now)
        minute = now - now % 60000
        with self.lock:
            for oid, lag in lags.items():
                key = (oid, minute)
                if lag > self.history.get(key, -1):
                    self.history[key] = lag
            if len(self.history) > 10 * len(lags) + 100:
                cutoff = now - HISTORY_MS
                self.history = {k: v for k, v in self.history.items() if k[1] >= cutoff}
        return lags

    def refresh_state_rows(self, force: bool = False) -> dict[str, int]:
        """Rows in state per maintained view (its output and operator tables), counted; at
        most every STATE_REFRESH_S seconds. Not DuckDB's `estimated_size`: that keeps
        counting deleted rows, so state bounded by a temporal filter looked like it grew
        without end (a 150 s soak: 3.5 M "rows" where the tables held a fraction)."""
        engine = self.engine
        if engine is None or (not force and time.monotonic() - self._state_at < STATE_REFRESH_S):
            return self.state_rows
        self._state_at = time.monotonic()
        cur = engine.reader()
        try:
            names = [r[0] for r in cur.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?",
                [SCHEMA]).fetchall()]
            # one statement: the table's ordinal (not its name) identifies each count
            sizes = [(names[i], n) for i, n in cur.execute(" UNION ALL ".join(
                f"SELECT {i}, count(*) FROM {phys(n)}" for i, n in enumerate(names))).fetchall()
            ] if names else []
        finally:
            cur.close()
        out = dict.fromkeys(engine.dataflows, 0)
        for name, size in sizes:
            oid = name.split("_n")[0] if "_n" in name else name
            if oid in out:
                out[oid] += int(size or 0)
        self.state_rows = out
        return out

    # -- relation rows ---------------------------------------------------------------------
    def rows(self, name: str) -> list[dict]:
        engine = self.engine
        if engine is None:
            return []
        lags = self.sample()
        if name == "mz_wallclock_global_lag":
            return [{"object_id": oid, "lag": lag} for oid, lag in sorted(lags.items())]
        if name == "mz_wallclock_global_lag_recent_history":
            with self.lock:
                items = sorted(self.history.items(), key=lambda kv: (kv[0][1], kv[0][0]))
            return [{"object_id": oid, "lag": lag, "occurred_at": minute}
                    for (oid, minute), lag in items]
        if name == "eddy_dataflow_statistics":
            return self.dataflow_rows(lags)
        if name == "eddy_engine_statistics":
            return [self.engine_row()]
        if name == "eddy_memory_usage":
            return memory_usage(engine)
        return []

    def dataflow_rows(self, lags: dict[str, int] | None = None) -> list[dict]:
        engine = self.engine
        lags = self.lags() if lags is None else lags
        state = self.state_rows
        out = []
        for oid, df in sorted(engine.dataflows.items(), key=lambda kv: _num(kv[0])):
            obj = engine.catalog.get(oid)
            if obj is None:
                continue
            read, written = engine.tick_stats.get(oid, (None, None))
            out.append({"object_id": oid, "name": obj.qualified, "state_rows": state.get(oid),
                        "step_seconds_total": self.step_total.get(oid, 0.0),
                        "last_step_seconds": self.step_last.get(oid),
                        "last_rows_read": read, "last_rows_written": written,
                        "freshness": lags.get(oid),
                        "error": None if df.error is None else df.error.message})
        return out

    def engine_row(self) -> dict:
        engine = self.engine
        batches, rows = waiting(engine)
        now = wall_ms()
        with self.lock:
            last = self.last_tick
            recent = sorted(s for at, s in self.recent if now - at <= 60000)
        return {"ticks": self.ticks, "last_tick_at": last[0] if last else None,
                "last_tick_seconds": last[1] if last else None,
                "tick_seconds_p50": _quantile(recent, 0.5),
                "tick_seconds_p99": _quantile(recent, 0.99),
                "tick_seconds_max": recent[-1] if recent else None,
                "ingest_batches_waiting": batches, "ingest_rows_waiting": rows,
                "resident_memory_bytes": rss_bytes(),
                "duckdb_memory_bytes": sum(r["memory_bytes"] for r in memory_usage(engine)),
                "duckdb_memory_limit_bytes": engine.state.memory_limit_bytes,
                "wal_bytes": engine.state.wal_bytes(), "database_bytes": database_bytes(engine),
                **snapshot_figures(engine)}


def snapshot_figures(engine) -> dict:
    """The last snapshot of a state held in memory (eddy.storage.snapshots): when it was
    installed, how long it took, its size; None in file storage or before the first."""
    snaps = engine.state.snapshots
    if snaps is None:
        return dict.fromkeys(("snapshot_at", "snapshot_seconds", "snapshot_bytes"))
    return {"snapshot_at": snaps.last_at_ms, "snapshot_seconds": snaps.last_seconds,
            "snapshot_bytes": snaps.last_bytes}


def _read(engine, sql: str) -> list[tuple]:
    """Rows of a query on a reader of its own (a snapshot, never waiting for a tick)."""
    cur = engine.reader()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


def database_bytes(engine) -> int | None:
    """The database file's blocks in use (not its free ones), or None in memory."""
    if engine.state.path is None:
        return None
    got = _read(engine, "SELECT block_size * used_blocks FROM pragma_database_size() "
                        "WHERE database_name = current_database()")
    return int(got[0][0]) if got else None


def memory_usage(engine) -> list[dict]:
    """DuckDB's `duckdb_memory()`: bytes in memory and spilled, per tag."""
    got = _read(engine, "SELECT tag, memory_usage_bytes, temporary_storage_bytes "
                        "FROM duckdb_memory() ORDER BY tag")
    return [{"tag": t, "memory_bytes": int(m), "temporary_bytes": int(s)} for t, m, s in got]


def waiting(engine) -> tuple[int, int]:
    """(batches, rows) queued by sources for the next tick: the engine's backpressure."""
    with engine._plock:
        queued = [b for batches in engine._ingests.values() for b in batches]
    return len(queued), sum(b.rows.num_rows for b in queued)


def waiting_by_source(engine) -> dict[str, tuple[int, int]]:
    with engine._plock:
        queued = {sid: list(batches) for sid, batches in engine._ingests.items()}
    return {sid: (len(b), sum(x.rows.num_rows for x in b)) for sid, b in queued.items()}


def rss_bytes() -> int | None:
    """Resident set size of this process (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    import resource
    return pages * resource.getpagesize()


def _status(engine, object_id: str) -> str | None:
    driver = engine.drivers.get(object_id)
    if driver is None or not callable(getattr(driver, "status", None)):
        return None
    try:
        return driver.status().get("status")
    except Exception:  # noqa: BLE001 - a status bug must not stop lag reporting
        return None


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _num(object_id: str) -> int:
    digits = "".join(ch for ch in object_id if ch.isdigit())
    return int(digits) if digits else 0


_TRACKERS: dict[int, LagTracker] = {}
_TRACKERS_LOCK = threading.Lock()


def tracker(engine) -> LagTracker:
    """The engine's tracker, created (and subscribed to its ticks) on first use."""
    with _TRACKERS_LOCK:
        found = _TRACKERS.get(id(engine))
        if found is None or found.engine is not engine:
            found = LagTracker(engine)
            _TRACKERS[id(engine)] = found
            observers = getattr(engine, "tick_observers", None)
            if observers is not None:
                observers.append(found.on_tick)
        return found


def rows(engine, name: str) -> list[dict]:
    """Rows of the live relation `name` (times in epoch ms, intervals in ms)."""
    return tracker(engine).rows(name)
