"""Engine and Session: the public face of eddy (see ARCHITECTURE.md, "Engine").

A tick is one DuckDB transaction: pending table writes and source batches are applied,
deltas propagate through every dataflow in dependency order, view outputs and source offsets
are written, and the transaction commits. Readers never take the tick lock: each has its own
DuckDB connection (`reader()`), and one statement or one read transaction is one MVCC snapshot,
so it sees one committed tick across all objects however long a tick runs. The tick timestamp
a snapshot belongs to is stored in it (`_eddy.meta` last_ts) and mapped to `mz_now` by
`snapshot_ts()`."""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from eddy.catalog.objects import Catalog, CatalogObject
from eddy.connectors import IngestBatch, SinkContext, SourceContext
from eddy.dataflow.dataflow import Dataflow
from eddy.dataflow.operators import shared_filter_reads
from eddy.dataflow.runtime import TickContext, W, consolidate_sql
from eddy.errors import EddyError, as_eddy_error
from eddy.results import Column, Result, Write
from eddy.sql.readcache import ReadCache
from eddy.storage.key_indexes import IndexPolicy
from eddy.storage.state import SCHEMA, StateDB, phys, q, unphys
from eddy.thread_names import name_os_thread

log = logging.getLogger("eddy.engine")
tick_log = logging.getLogger("eddy.ticks")   # one DEBUG line per tick with data: size, time
TICK_THREAD = "eddy-ticks"  # the name of the tick loop's thread (eddy.server watches it at shutdown)
# The tick loop folds the WAL into the database file (a checkpoint, which stops ticks for
# seconds) once it passes this size and nothing has arrived for this long; under sustained
# load, once it passes eddy.storage.state.CHECKPOINT_THRESHOLD (StateDB.fold_bytes).
IDLE_CHECKPOINT_BYTES = 64 << 20
IDLE_CHECKPOINT_AFTER_S = 1.0
IDLE_VACUUM_AFTER_S = 10.0    # the state in memory: at most one idle checkpoint in this many s


def wall_ms() -> int:
    return int(time.time() * 1000)


class Engine:
    """The embedded streaming engine. `data_dir=None` keeps everything in memory, and nothing
    once closed; `storage`: where a data dir's state lives (eddy.storage.state.STORAGES, by
    default EDDY_STATE_STORAGE's)."""

    def __init__(self, data_dir: str | Path | None, tick_interval: float | None = 0.1,
                 storage: str | None = None):
        self.data_dir = data_dir
        self.tick_interval = tick_interval
        self.state = StateDB(data_dir, storage)
        self.catalog = Catalog(self.state.load_catalog())
        ts = self.state.get_meta("last_ts", 0)
        # (ts of the last tick that committed data, ts of the last tick): one tuple, replaced
        # whole, so a reader never sees half of an update
        self._clock: tuple[int, int] = (ts, ts)
        self._reader_root = self.state.cursor()  # spawns reader connections; never executes
        self._reader_lock = threading.Lock()
        self.read_cache = ReadCache()            # compiled one-off reads, for all sessions
        self.manual_clock = tick_interval is None
        self.dataflows: dict[str, Dataflow] = {}
        self.connectors: dict[str, object] = {}
        self.drivers: dict[str, object] = {}
        self.subscriptions: set = set()
        self.tick_stats: dict[str, tuple[int, int]] = {}
        self._filters, self._filters_key = {}, ()   # see _shared_filters
        # fn(ts, seconds, {object_id: seconds stepping it}) after each committed tick (metrics)
        self.tick_observers: list[Callable] = []
        self.source_errors: dict[str, EddyError] = {}
        self.system_relations: dict[str, str] = {}
        self.lock = threading.RLock()        # ticks and DDL
        self._plock = threading.Lock()        # pending writes and ingests
        self._writes: list[Write] = []
        self._serial = False
        self._ingests: dict[str, list[IngestBatch]] = {}
        self._callbacks: dict[int, Callable] = {}
        self._handles = itertools.count(1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy_at = time.monotonic()       # when the last tick had writes or batches
        self._folded_at = time.monotonic()     # when the last checkpoint ended
        self.indexes = IndexPolicy(self.state)   # keyed state indexes off under load
        self._tick_rows = 0                     # source rows of the ticks since the last policy call
        self._tick_wanted: set[str] = set()     # tables whose lookups suited their index, same
        self.closed = False
        self._bootstrap()

    @property
    def last_ts(self) -> int:
        """Timestamp (ms) of the last tick, idle ones included."""
        return self._clock[1]

    @last_ts.setter
    def last_ts(self, ts: int) -> None:
        self._clock = (self._clock[0], ts)

    # -- startup -------------------------------------------------------------------------
    def _bootstrap(self) -> None:
        from eddy.sql import ddl
        if not len(self.catalog):
            self.ddl(ddl.bootstrap)
        with self.lock:
            self._drop_transient_state()
            for obj in self.catalog:
                if obj.kind in ("materialized-view", "view") and (
                        obj.kind == "materialized-view" or obj.internal.get("maintained")):
                    try:
                        self.dataflows[obj.id] = ddl.build_dataflow(self, self.catalog, obj,
                                                                    fresh=False)
                    except Exception as e:  # noqa: BLE001 - keep serving other objects
                        log.exception("cannot restore dataflow %s", obj.id)
                        self.dataflows[obj.id] = _broken(obj, e)
        self.refresh_system()

    def _drop_transient_state(self) -> None:
        """Subscription dataflows (ids t<n>) do not survive a restart; drop their tables."""
        conn = self.state.conn
        rows = conn.execute("SELECT table_name, table_type FROM information_schema.tables "
                            "WHERE table_schema = ? AND table_name LIKE 't%'",
                            [SCHEMA]).fetchall()
        for name, kind in rows:
            if name[1:2].isdigit():
                what = "VIEW" if "VIEW" in kind.upper() else "TABLE"
                conn.execute(f"DROP {what} IF EXISTS {phys(name)}")

    def start(self) -> None:
        """Start the background tick loop (no-op when tick_interval is None)."""
        if self.tick_interval is None or self._thread is not None:
            return
        if self.state.snapshots is not None:
            self.state.snapshots.start()
        self._thread = threading.Thread(target=self._loop, name=TICK_THREAD, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        """A tick every `tick_interval` seconds from the start of the last one: a tick that
        ran longer is followed at once by the next, which takes all that arrived meanwhile."""
        name_os_thread()
        wait = self.tick_interval
        while not self._stop.wait(wait):
            started = time.monotonic()
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop must survive one bad tick
                if self.closed:     # close() raced this tick: nothing failed
                    return
                log.exception("tick failed")
            try:
                self._index_policy()
                self._fold_if_due()
            except Exception:  # noqa: BLE001 - nor one failed fold (the next one retries)
                if self.closed:
                    return
                log.exception("checkpoint failed")
            wait = max(0.0, self.tick_interval - (time.monotonic() - started))

    def _index_policy(self) -> None:
        """Keyed state indexes off under load, on when calm (eddy.storage.key_indexes)."""
        rows, self._tick_rows = self._tick_rows, 0
        wanted, self._tick_wanted = self._tick_wanted, set()
        idle = self._idle()
        with self.lock:
            if not self.closed:
                self.indexes.after_tick(rows, idle, wanted)

    def _idle(self) -> bool:
        """No batch or write waiting, and none taken for IDLE_CHECKPOINT_AFTER_S since the end
        of the last tick that had some (a long tick under load is not idleness)."""
        with self._plock:
            waiting = bool(self._ingests or self._writes)
        return not waiting and time.monotonic() - self._busy_at >= IDLE_CHECKPOINT_AFTER_S

    def _fold_if_due(self) -> None:
        """Checkpoint while nothing arrives (`_idle`), so that the fold rarely lands under
        load; under load, once the WAL passes the state's fold size, between two ticks. With
        the state in memory there is no WAL, but deleted rows stay until a checkpoint: one
        once a minute under load (`state.VACUUM_INTERVAL_S`), and when idle after data came."""
        idle = self._idle()
        wal = self.state.wal_bytes()
        due = self._vacuum_due(idle) if self.state.snapshots is not None else \
            wal >= (IDLE_CHECKPOINT_BYTES if idle else self.state.fold_bytes)
        if not due:
            return
        with self.lock:
            if self.closed:
                return
            started = time.perf_counter()
            if not self.state.checkpoint():
                self._busy_at = time.monotonic()   # a reader's transaction was open: later
                return
            self._folded_at = time.monotonic()
            log.info("checkpoint (%s): %s in %.2f s", "idle" if idle else "under load",
                     f"folded {wal / 2**20:.0f} MB of WAL" if self.state.snapshots is None else
                     "vacuumed the state in memory", time.perf_counter() - started)

    def _vacuum_due(self, idle: bool) -> bool:
        """The state in memory: data came since the last checkpoint, the interval has passed,
        and no snapshot is being taken (its transaction would keep every deleted row)."""
        wait = IDLE_VACUUM_AFTER_S if idle else self.state.vacuum_interval_s
        return self._busy_at >= self._folded_at and not self.state.snapshots.running and \
            time.monotonic() - self._folded_at >= wait

    def close(self) -> None:
        """Stop the loop and connectors, checkpoint, release files."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for driver in list(self.drivers.values()):
            try:
                driver.stop()
            except Exception:  # noqa: BLE001
                log.exception("stopping a connector failed")
        for sub in list(self.subscriptions):
            sub.close()
        with self.lock:
            with self._reader_lock:
                self._reader_root.close()
            self.state.close()

    def session(self, user: str = "materialize", database: str = "materialize"):
        from eddy.sql.session import Session
        return Session(self, user=user, database=database)

    # -- reads (never take the tick lock) -------------------------------------------------
    def reader(self):
        """A new DuckDB connection for reads: each statement, or each transaction, it runs is
        a snapshot of committed state. Opening one never waits for a tick."""
        if self.closed:
            raise EddyError("57P01", "engine is closed")
        with self._reader_lock:
            cur = self._reader_root.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    def snapshot_ts(self, cur) -> int:
        """The tick timestamp (mz_now) of the snapshot of `cur`'s open transaction: the
        snapshot stores the ts of the data tick it shows; if no data tick committed since,
        the idle ticks after it show the same data, so the latest tick's ts holds."""
        row = cur.execute(f"SELECT value FROM {phys('meta')} WHERE key = 'last_ts'").fetchone()
        stored = int(row[0]) if row else 0
        data_ts, ts = self._clock
        return ts if stored == data_ts else stored

    # -- catalog changes -----------------------------------------------------------------
    def ddl(self, fn: Callable) -> object:
        """Run `fn(txn)` as one committed DDL transaction (under the tick lock)."""
        from eddy.sql.ddl import DdlTxn
        with self.lock:
            if self.closed:
                raise EddyError("57P01", "engine is closed")
            txn = DdlTxn(self)
            conn = self.state.conn
            conn.execute("BEGIN")
            try:
                conn.execute(f"SET VARIABLE mz_now = {int(self.last_ts)}")
                result = fn(txn)
                txn.persist()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                txn.rollback()
                raise
            self.refresh_system(txn.catalog)   # before the catalog readers bind against
            txn.publish()
            txn.after_commit()
        self.state.durable()      # a snapshot's time, outside the lock (state in memory)
        return result

    def refresh_system(self, catalog: Catalog | None = None) -> None:
        """Rebuild the system relations (mz_catalog, pg_catalog, ...) if that module exists,
        in one transaction: a concurrent catalog query sees all of them old or all new."""
        try:
            system = importlib.import_module("eddy.catalog.system")
        except ImportError:
            return
        conn = self.state.conn
        try:
            conn.execute("BEGIN")
            system.refresh(conn, self.catalog if catalog is None else catalog)
            conn.execute("COMMIT")
        except Exception:  # noqa: BLE001 - a catalog view bug must not break DDL
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            log.exception("system catalog refresh failed")
        self.system_relations = dict(system.unqualified_relations())

    # -- connectors ----------------------------------------------------------------------
    def register_connector(self, connector) -> None:
        """Make a connector kind available; restores its sources and sinks from the catalog."""
        self.connectors[connector.kind] = connector
        for obj in self.catalog:
            if obj.internal.get("connector") == connector.kind and obj.kind in ("source", "sink") \
                    and obj.id not in self.drivers:
                try:
                    self.start_driver(obj)
                except Exception:  # noqa: BLE001
                    log.exception("cannot restore %s %s", obj.kind, obj.qualified)

    def connection_options(self, name: str) -> dict:
        for obj in self.catalog:
            if obj.kind == "connection" and (obj.name == name or obj.qualified == name
                                             or obj.qualified.endswith("." + name)):
                return obj.internal.get("options", {})
        raise EddyError("42P01", f"unknown connection '{name}'")

    def make_driver(self, obj: CatalogObject):
        kind = obj.internal["connector"]
        connector = self.connectors.get(kind)
        if connector is None:
            raise EddyError("0A000", f"{kind} connector not supported (not registered)")
        body = obj.internal["body"]
        if obj.kind == "source":
            ctx = SourceContext(obj.id, obj.name, obj.qualified, self, self.connection_options)
            return connector.create_source(ctx, body)
        src = self.catalog.get(obj.internal["from_id"])
        ctx = SinkContext(obj.id, obj.name, src.id, [(c[0], c[1]) for c in src.columns], self,
                          self.connection_options)
        return connector.create_sink(ctx, body)

    def start_driver(self, obj: CatalogObject, driver=None) -> None:
        driver = driver or self.make_driver(obj)
        self.drivers[obj.id] = driver
        driver.start()

    def ingest(self, source_id: str, rows: pa.Table, offsets: dict,
               extra: dict[str, pa.Table] | None = None) -> None:
        """Queue a source batch for the next tick (applied with its offsets atomically)."""
        with self._plock:
            self._ingests.setdefault(source_id, []).append(IngestBatch(rows, offsets, extra or {}))

    def committed_offsets(self, source_id: str) -> dict:
        """Offsets recorded by the last committed tick (read without waiting for a tick)."""
        cur = self.reader()
        try:
            return self.state.get_offsets(source_id, cur)
        finally:
            cur.close()

    def on_commit(self, callback: Callable) -> int:
        """callback(tick_ts, {object_id: pa.Table of changes with mz_diff}) after each commit."""
        handle = next(self._handles)
        self._callbacks[handle] = callback
        return handle

    def remove_callback(self, handle: int) -> None:
        self._callbacks.pop(handle, None)

    # -- writes and ticks ----------------------------------------------------------------
    def submit(self, write: Write) -> Write:
        """Queue a table write and return once a tick has committed (or rejected) it."""
        with self._plock:
            self._writes.append(write)
        # Tick until this write is done: after a failed batch, writes run one per tick (the
        # culprit alone fails), so one tick may commit another thread's write and leave ours
        # queued; waiting then hung whenever no other tick followed.
        while not write.done.is_set():
            with self.lock:
                if not write.done.is_set():
                    self._tick(None)
        if write.error is not None:
            raise write.error
        self.state.durable()
        return write

    def tick(self, now_ms: int | None = None) -> int:
        """Run one tick now; returns its timestamp (ms)."""
        if now_ms is not None:
            self.manual_clock = True
        with self.lock:
            if self.closed:
                raise EddyError("57P01", "engine is closed")
            return self._tick(now_ms)

    def _next_ts(self, now_ms: int | None) -> int:
        if now_ms is not None:
            return max(int(now_ms), self.last_ts)
        if self.manual_clock:
            return self.last_ts
        return max(wall_ms(), self.last_ts + 1)

    def _tick(self, now_ms: int | None) -> int:
        while True:
            with self._plock:
                if self._serial and len(self._writes) > 1:
                    # after a failure, writes run one per tick so only the culprit fails
                    writes, self._writes = self._writes[:1], self._writes[1:]
                else:
                    writes, self._writes = self._writes, []
                    self._serial = False
                ingests, self._ingests = self._ingests, {}
            ts = self._next_ts(now_ms)
            due = any((t := df.root.next_event()) is not None and t <= ts
                      for df in self.dataflows.values() if df.error is None)
            if writes or ingests:
                self._busy_at = time.monotonic()
            if not writes and not ingests and not due:
                if ts != self.last_ts:
                    self.last_ts = ts
                    self._publish(ts, {})
                return ts
            if self._run(ts, writes, ingests):
                return ts

    def _shared_filters(self) -> dict[tuple[str, str], frozenset[str]]:
        """The filters of a scanned input that maps of two or more dataflows apply (the
        contract check of a topic: its staging view and stg_expired_events), each with the
        input columns those maps read; a tick filters such an input once for all of them,
        keeping only those columns (not the JSON document that only the filter reads).
        Recomputed when the dataflows change."""
        key = tuple((oid, id(df)) for oid, df in self.dataflows.items())
        if self._filters_key != key:
            seen: dict[tuple[str, str], int] = {}
            reads: dict[tuple[str, str], frozenset[str]] = {}
            for df in self.dataflows.values():
                for f, cols in shared_filter_reads(df.root).items():
                    seen[f] = seen.get(f, 0) + 1
                    reads[f] = reads.get(f, frozenset()) | cols
            self._filters = {f: reads[f] for f, n in seen.items() if n > 1}
            self._filters_key = key
        return self._filters

    def _requeue(self, writes: list[Write], ingests: dict) -> None:
        with self._plock:
            self._writes[:0] = writes
            for sid, batches in ingests.items():
                self._ingests.setdefault(sid, [])[:0] = batches

    def _run(self, ts: int, writes: list[Write], ingests: dict) -> bool:
        """One tick transaction; False when it must be retried (a failure was isolated)."""
        from eddy.sql.ingest import add_delta, apply_ingest
        conn = self.state.cursor()      # its temp tables (intermediate deltas) die with it
        rt = TickContext(conn, ts, self.last_ts)
        rt.unindexed = frozenset(phys(t) for t in self.state.unindexed)
        rt.shared_filters = self._shared_filters()
        started, step_s = time.perf_counter(), {}   # for tick_observers
        current_write = current_df = current_source = None
        conn.execute("BEGIN")
        try:
            conn.execute(f"SET VARIABLE mz_now = {int(ts)}")
            for w in writes:
                current_write = w
                for table_id, delta in w.fn(rt):
                    if delta is not None and delta.num_rows:
                        add_delta(rt, table_id, delta)
            current_write = None
            offsets = {}
            for sid, batches in ingests.items():
                current_source = sid
                got = apply_ingest(self, rt, sid, batches)
                if got is not None:
                    offsets[sid] = got
            current_source = None
            # committed with the rows and the views' state: exactly once across a crash
            self.state.write_offsets(offsets, conn)
            for oid in sorted(self.dataflows, key=_id_num):
                df = self.dataflows[oid]
                if df.error is not None:
                    continue
                current_df = df
                df.reset_counters()
                t0 = time.perf_counter()
                delta = df.step(rt)
                step_s[oid] = time.perf_counter() - t0
                self.tick_stats[oid] = df.counters()
                if delta is not None:
                    rt.deltas[oid] = delta
            current_df = None
            changes = _changes(rt) if (self.subscriptions or self._callbacks) else {}
            self.state.set_meta("last_ts", ts, conn)
            committing = time.perf_counter()
            conn.execute("COMMIT")
            commit_s = time.perf_counter() - committing
        except Exception as e:  # noqa: BLE001 - isolate the failing write or dataflow
            conn.execute("ROLLBACK")
            conn.close()
            error = as_eddy_error(e)
            if current_write is not None:
                current_write.finish(error)
                self._requeue([w for w in writes if w is not current_write], ingests)
            elif len(writes) > 1:
                self._serial = True
                self._requeue(writes, ingests)
            elif writes:
                writes[0].finish(error)
                self._requeue([], ingests)
            elif current_source is not None:
                # the batch cannot be stored; it stays uncommitted (offsets too), so the
                # source re-reads it after a restart; other sources go on
                log.error("source %s batch rejected: %s", current_source, error.message)
                self.source_errors[current_source] = error
                self._requeue([], {k: v for k, v in ingests.items() if k != current_source})
            elif current_df is not None:
                log.error("dataflow %s failed: %s", current_df.object_id, error.message)
                current_df.error = error
                self._requeue([], ingests)
            else:
                self._requeue([], ingests)
                raise
            return False
        conn.close()
        self.state.offsets_committed(offsets)
        self._tick_rows += sum(b.rows.num_rows for bs in ingests.values() for b in bs
                               if b.rows is not None)
        self._tick_wanted |= {unphys(t) for t in rt.index_wanted}
        if writes or ingests:
            self._busy_at = time.monotonic()    # idleness counts from the end of this tick
        self._clock = (ts, ts)
        seconds = time.perf_counter() - started
        if (writes or ingests) and tick_log.isEnabledFor(logging.DEBUG):
            rows = sum(b.rows.num_rows for bs in ingests.values() for b in bs)
            tick_log.debug("tick %d: %d source rows, %d writes, %.3f s (commit %.3f s), "
                           "WAL %.0f MB", ts, rows, len(writes), seconds,
                           commit_s, self.state.wal_bytes() / 2**20)
        for obs in self.tick_observers:
            obs(ts, seconds, step_s)
        for w in writes:
            w.finish()
        self._publish(ts, changes)
        return True

    def _publish(self, ts: int, changes: dict[str, pa.Table]) -> None:
        for sub in list(self.subscriptions):
            sub.push(ts, changes)
        for cb in list(self._callbacks.values()):
            try:
                cb(ts, changes)
            except Exception:  # noqa: BLE001
                log.exception("on_commit callback failed")

    # -- reads ---------------------------------------------------------------------------
    def read_snapshot(self, object_id: str) -> tuple[int, pa.Table]:
        """The current contents of a relation (one row per distinct row, with its weight in
        the last column) and the tick they belong to."""
        with self.lock:
            obj = self.catalog.get(object_id)
            if obj is None or obj.kind in ("materialized-view",) or object_id in self.dataflows:
                names = self.dataflows[object_id].names
                sql = consolidate_sql(phys(object_id), names)
            else:
                names = [c[0] for c in obj.columns]
                cols = ", ".join(q(c) for c in names)
                sql = consolidate_sql(
                    f"(SELECT {cols}, 1::BIGINT AS {W} FROM {phys(object_id)})", names)
            return self.last_ts, self.state.conn.execute(sql).fetch_arrow_table()


def _changes(rt: TickContext) -> dict[str, pa.Table]:
    """This tick's deltas as Arrow, the weight column named mz_diff (for subscribers)."""
    out = {}
    for oid, rel in rt.deltas.items():
        table = rel.to_arrow()
        out[oid] = table.rename_columns(table.column_names[:-1] + ["mz_diff"])
    return out


def _id_num(object_id: str) -> tuple[int, int]:
    """Dependency order: user objects by id, then transient (subscription) dataflows."""
    digits = "".join(ch for ch in object_id if ch.isdigit())
    return (0 if object_id.startswith("u") else 1, int(digits) if digits else 0)


def _broken(obj: CatalogObject, error: Exception) -> Dataflow:
    from eddy.dataflow.operators_keyed import FullRecompute
    df = Dataflow(obj.id, FullRecompute("SELECT 1", [], [], False, "broken"), [])
    df.error = as_eddy_error(error)
    return df


__all__ = ["Engine", "Result", "Column", "Write", "EddyError", "SCHEMA",
           "as_eddy_error"]
