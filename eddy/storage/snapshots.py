"""Durable snapshots of a state database held in memory (EDDY_STATE_STORAGE=memory).

With the state in a DuckDB file, every tick's commit goes to the write-ahead log, and folding
that log into the file (a checkpoint) stops the ticks for 1-2.5 s every ~18 s at 20,000
events/s: DuckDB's writers wait for a checkpoint (bench/fold_isolation.py). Held in memory, the
state has no log and no folds; it is made durable by snapshots instead:

- A snapshot is a whole copy of the database (`COPY FROM DATABASE`) into a new file, taken on a
  cursor of its own: one DuckDB transaction, so it shows exactly one committed tick, with the
  sources' offsets of that tick, while the ticks go on (they only share the CPU). It is written
  to a temporary file, synced, and then renamed over the last one.
- In the background one is taken every `interval` seconds when something changed, on a thread
  at a low CPU priority (nice 19): a copy of a large state costs seconds of CPU, which must not
  lengthen the ticks.
- What Kafka cannot give back is made durable before it is acknowledged: a DDL statement or a
  table write returns only once a snapshot that started after its commit is on disk
  (`durable`: callers that wait together share one snapshot).
- A start restores the last snapshot (or imports a file-mode state dir's database once), and
  the sources resume from the offsets it holds: Kafka's messages since then are read again,
  ticks recompute from them, and sinks reconcile their topics with the relations (sinks/kafka.py),
  so a crash loses nothing and counts nothing twice. What it costs: a crash re-reads up to
  `interval` plus one snapshot's time of the topics.

Not the default (eddy.storage.state.STORAGE): a snapshot copies the whole state, 4-5 s of CPU
per GB, and beside the marts' load at 20,000 events/s the ticks pay for it (3.9 GB took 83 s at
nice 19; at a 60 s interval the freshness p99 went 2.7 -> 4.6 s); the folds are gone,
but the checkpoint that reclaims deleted rows in memory stops them too (1.2-1.5 s a minute).
Incremental snapshots are the next step (the note of issue 10, session 24).

Written here because DuckDB has no incremental copy nor a log it could keep per table.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from pathlib import Path

import duckdb

log = logging.getLogger("eddy.storage")
SNAPSHOT_FILE = "eddy.snapshot"
LOCK_FILE = "eddy.lock"
IMPORTED = ".imported"    # suffix of a file-mode state file once imported
# Seconds between background snapshots (when the state changed); EDDY_SNAPSHOT_INTERVAL overrides.
INTERVAL_S = float(os.environ.get("EDDY_SNAPSHOT_INTERVAL") or 300)
BACKGROUND_NICE = 19
_ALIAS = "__eddy_snapshot"


class Snapshots:
    """Snapshots of the in-memory database of `conn` under `data_dir`."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, data_dir: Path, storage_version: str,
                 interval_s: float | None = None):
        self.conn = conn
        self.path = Path(data_dir) / SNAPSHOT_FILE
        # one engine per data dir (a DuckDB file is locked by DuckDB; this is not a file)
        self._lockfile = open(Path(data_dir) / LOCK_FILE, "a")   # noqa: SIM115 - held open
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise RuntimeError(f"another engine holds the state in {data_dir}") from None
        self.storage_version = storage_version
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self._seq = 0                     # snapshots started
        self._installed = 0               # the newest one on disk (its start number)
        self._lock = threading.Lock()     # _seq, _installed, the rename
        self._foreground = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._taken_ts: str | None = None  # the last snapshot's meta last_ts (changed since?)
        self._running = 0                 # snapshots being taken now
        self.taken = 0
        self.last_seconds: float | None = None   # the last one installed: its time, size, end
        self.last_bytes: int | None = None
        self.last_at_ms: int | None = None

    # -- restore -------------------------------------------------------------------------
    def restore(self, legacy_file: Path | None = None) -> str | None:
        """Copy the last snapshot (else `legacy_file`, a file-mode state) into the in-memory
        database; the file restored from, or None when there is none. Python functions must be
        installed before (views may call them); SQL macros come with the copy."""
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp*"):   # a crash's
            stale.unlink()
        source = self.path if self.path.exists() else legacy_file
        if source is None or not Path(source).exists():
            return None
        started = time.perf_counter()
        conn = self.conn
        # the copy creates the macros it holds: those installed already are dropped first
        for (name,) in conn.execute(
                "SELECT DISTINCT function_name FROM duckdb_functions() WHERE database_name = "
                "'memory' AND schema_name = 'main' AND function_type = 'macro' "
                "AND NOT internal").fetchall():
            conn.execute(f'DROP MACRO main."{name}"')
        conn.execute(f"ATTACH {_literal(source)} AS {_ALIAS} (READ_ONLY)")
        try:
            conn.execute(f"COPY FROM DATABASE {_ALIAS} TO memory")
        finally:
            conn.execute(f"DETACH {_ALIAS}")
        log.info("state restored from %s (%.0f MB) in %.2f s", source,
                 Path(source).stat().st_size / 2**20, time.perf_counter() - started)
        if source != self.path:
            self.take()      # from now on the data dir's state is the snapshot
            for done in (Path(source), Path(f"{source}.wal")):   # not to be opened again
                if done.exists():
                    done.rename(done.with_name(done.name + IMPORTED))
        return str(source)

    # -- taking ----------------------------------------------------------------------------
    def take(self) -> bool:
        """Write a snapshot of the last committed tick now (on this thread); False when a newer
        one was installed meanwhile (this one is then dropped)."""
        with self._lock:
            self._seq += 1
            self._running += 1
            seq = self._seq
        try:
            return self._take(seq)
        finally:
            with self._lock:
                self._running -= 1

    @property
    def running(self) -> bool:
        """A snapshot is being taken: its transaction keeps every row it may read, so a
        checkpoint now would reclaim nothing."""
        return self._running > 0

    def _take(self, seq: int) -> bool:
        tmp = self.path.with_name(f"{self.path.name}.{seq}.tmp")
        started = time.perf_counter()
        cur = self.conn.cursor()
        try:
            alias = f"{_ALIAS}_{seq}"
            cur.execute(f"ATTACH {_literal(tmp)} AS {alias} "
                        f"(STORAGE_VERSION {_literal(self.storage_version)})")
            try:
                # one statement: one transaction, one committed tick
                cur.execute(f"COPY FROM DATABASE memory TO {alias}")
                ts = cur.execute(f"SELECT value FROM {alias}._eddy.meta WHERE key = 'last_ts'"
                                 ).fetchone()
                cur.execute(f"CHECKPOINT {alias}")     # all in the file, no WAL beside it
            finally:
                cur.execute(f"DETACH {alias}")
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        finally:
            cur.close()
        _fsync(tmp)
        with self._lock:
            if seq < self._installed:
                tmp.unlink()
                return False
            os.replace(tmp, self.path)
            _fsync(self.path.parent)
            self._installed = seq
            self._taken_ts = ts[0] if ts else None
            self.taken += 1
            self.last_seconds = time.perf_counter() - started
            self.last_bytes = self.path.stat().st_size
            self.last_at_ms = int(time.time() * 1000)
        log.info("snapshot %d: %.0f MB in %.2f s", seq, self.last_bytes / 2**20,
                 self.last_seconds)
        return True

    def durable(self) -> None:
        """Return once a snapshot started after this call is on disk: what committed before
        the call then survives a crash. Callers waiting together share one snapshot."""
        with self._lock:
            after = self._seq
        with self._foreground:
            with self._lock:
                if self._installed > after:
                    return
            self.take()

    def _changed(self) -> bool:
        """The state changed since the last snapshot (a data tick or a DDL since)."""
        cur = self.conn.cursor()
        try:
            row = cur.execute("SELECT value FROM _eddy.meta WHERE key = 'last_ts'").fetchone()
        finally:
            cur.close()
        return self._installed == 0 or (row[0] if row else None) != self._taken_ts

    # -- background ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="eddy-snapshots",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def release(self) -> None:
        """Let another engine open the data dir (after `stop` and a last snapshot)."""
        self._lockfile.close()

    def _loop(self) -> None:
        with contextlib.suppress(OSError):     # not permitted: run at the normal priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        while not self._stop.wait(self.interval_s):
            try:
                if self._changed():
                    self.take()
            except duckdb.ConnectionException:
                return                          # the database closed
            except Exception:  # noqa: BLE001 - the next interval retries
                log.exception("background snapshot failed")


def _literal(value) -> str:
    """A file path or setting as an SQL string literal (ATTACH takes no parameters); the
    paths are the engine's own, under its data dir."""
    return "'" + str(value).replace("'", "''") + "'"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
