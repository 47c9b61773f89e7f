"""The state held in memory (EDDY_STATE_STORAGE=memory) is made durable by snapshots
(eddy.storage.snapshots): each is exactly one committed tick, a write or a DDL statement returns
only once a snapshot holds it, a start restores the last one (or imports a file-mode state dir
once), and checkpoints still reclaim deleted rows. The kill -9 tests of tests/engine/
test_core_restart.py and tests/sources/test_source_crash.py run in this mode as well."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from eddy.catalog import status
from eddy.engine import Engine
from eddy.metrics import EngineCollector
from eddy.storage import snapshots as snapshots_mod
from eddy.storage import state
from eddy.storage.snapshots import LOCK_FILE, SNAPSHOT_FILE

VIEW = "CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n, sum(a) AS s FROM t"


@pytest.fixture()
def memory(monkeypatch):
    monkeypatch.setattr(state, "STORAGE", "memory")


def rows(e: Engine, sql: str) -> list[tuple]:
    return sorted(map(tuple, e.session().execute(sql)[0].rows))


def crash(e: Engine) -> None:
    """What a kill -9 leaves of an engine in this process: its memory gone, no last
    snapshot, the data dir's lock released."""
    e.closed = True
    e.state.snapshots.stop()
    e.state.conn.close()
    e.state.snapshots.release()


def open_copy(src, dest) -> Engine:
    """An engine over a copy of `src`'s last snapshot (what a crash of it now would leave)."""
    dest.mkdir()
    shutil.copyfile(src / SNAPSHOT_FILE, dest / SNAPSHOT_FILE)
    return Engine(dest, tick_interval=None)


def test_a_file_state_dir_is_imported_then_snapshots_take_over(tmp_path, monkeypatch):
    e = Engine(tmp_path, tick_interval=None)           # file mode: eddy.duckdb
    s = e.session()
    s.execute("CREATE TABLE t (a int)")
    s.execute(VIEW)
    s.execute("INSERT INTO t VALUES (1), (2)")
    e.close()
    assert not (tmp_path / SNAPSHOT_FILE).exists()

    monkeypatch.setattr(state, "STORAGE", "memory")
    e = Engine(tmp_path, tick_interval=None)
    assert e.state.path is None and (tmp_path / SNAPSHOT_FILE).exists()
    # the file is kept, renamed: a file-mode start would find a stale state in it
    assert not (tmp_path / "eddy.duckdb").exists() and (tmp_path / "eddy.duckdb.imported").exists()
    assert rows(e, "SELECT n, s FROM mv") == [(2, 3)]
    e.session().execute("INSERT INTO t VALUES (3)")
    with pytest.raises(RuntimeError, match="another engine"):
        Engine(tmp_path, tick_interval=None)
    crash(e)     # what the write made durable is what survives
    e = Engine(tmp_path, tick_interval=None)
    assert rows(e, "SELECT n, s FROM mv") == [(3, 6)]
    assert rows(e, "SELECT a FROM t") == [(1,), (2,), (3,)]
    e.close()
    with pytest.raises(ValueError, match="--state-storage memory"):
        Engine(tmp_path, tick_interval=None, storage="file")     # not an empty engine


def test_each_snapshot_is_one_committed_tick(tmp_path, memory):
    """Snapshots taken while writes of 10 rows commit, each restored on its own: the view equals
    its query over the table, and no write is there in part."""
    e = Engine(tmp_path / "live", tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (a int)")
    s.execute(VIEW)
    e.state.durable = lambda: None       # only the snapshots below, none per write
    copies = []

    def snapshotter():
        while len(copies) < 12:
            assert e.state.snapshots.take()
            dest = tmp_path / f"copy{len(copies)}"
            dest.mkdir()
            shutil.copyfile(tmp_path / "live" / SNAPSHOT_FILE, dest / SNAPSHOT_FILE)
            copies.append(dest)

    thread = threading.Thread(target=snapshotter)
    thread.start()
    writes = 0
    while thread.is_alive():
        s.execute("INSERT INTO t SELECT g FROM generate_series(1, 10) AS x(g)")
        writes += 1
    thread.join()
    seen = set()
    for dest in copies:
        r = Engine(dest, tick_interval=None)
        (n, total), = rows(r, "SELECT n, s FROM mv")
        assert (n, total) == rows(r, "SELECT count(*), sum(a) FROM t")[0]
        assert n % 10 == 0 and (total or 0) == n // 10 * 55
        seen.add(n)
        r.close()
    assert len(seen) > 3, f"the writes ({writes}) and snapshots did not interleave: {seen}"
    e.close()


def test_callers_waiting_together_share_a_snapshot(tmp_path, memory, monkeypatch):
    e = Engine(tmp_path, tick_interval=None)
    snaps = e.state.snapshots
    fsync = snapshots_mod._fsync

    def slow_fsync(path):             # each snapshot lasts 0.3 s longer
        time.sleep(0.3)
        fsync(path)

    monkeypatch.setattr(snapshots_mod, "_fsync", slow_fsync)
    before = snaps.taken
    callers = [threading.Thread(target=snaps.durable) for _ in range(6)]
    callers[0].start()
    time.sleep(0.1)                  # its snapshot has started
    for c in callers[1:]:
        c.start()
    for c in callers:
        c.join()
    # the first takes one; the five called during it share the next
    assert snaps.taken - before == 2
    e.close()


def test_a_snapshot_cut_short_by_a_crash_is_ignored(tmp_path, memory):
    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (a int)")
    s.execute("INSERT INTO t VALUES (7)")
    crash(e)
    (tmp_path / f"{SNAPSHOT_FILE}.9.tmp").write_bytes(b"half a database")
    (tmp_path / f"{SNAPSHOT_FILE}.9.tmp.wal").write_bytes(b"")
    e = Engine(tmp_path, tick_interval=None)
    assert rows(e, "SELECT a FROM t") == [(7,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE, SNAPSHOT_FILE]
    e.close()


def test_background_snapshots_follow_the_ticks(tmp_path, memory, monkeypatch):
    monkeypatch.setattr(snapshots_mod, "INTERVAL_S", 0.05)
    e = Engine(tmp_path, tick_interval=0.02)
    e.start()
    s = e.session()
    s.execute("CREATE TABLE t (a int)")
    s.execute(VIEW)
    e.state.durable = lambda: None
    s.execute("INSERT INTO t VALUES (5)")
    deadline, tries = time.monotonic() + 30, 0
    while time.monotonic() < deadline:
        tries += 1
        r = open_copy(tmp_path, tmp_path / f"copy{tries}")
        got = rows(r, "SELECT n FROM mv")
        r.close()
        if got == [(1,)]:
            break
        time.sleep(0.1)
    assert got == [(1,)]
    taken = e.state.snapshots.taken
    time.sleep(0.5)                  # nothing changed: no more snapshots
    assert e.state.snapshots.taken == taken
    e.close()


def test_checkpoints_reclaim_deleted_rows_in_memory(tmp_path, memory, monkeypatch):
    """Held in memory, deleted rows stay until a checkpoint; the tick loop's `_fold_if_due`
    takes one at the vacuum interval once data came."""
    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (k bigint, v int)")
    s.execute("CREATE MATERIALIZED VIEW latest AS SELECT DISTINCT ON (k) k, v FROM t "
              "ORDER BY k, v DESC")
    e.state.durable = lambda: None
    e.state.vacuum_interval_s = 0.0

    def used() -> int:
        return e.state.conn.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()"
                                    ).fetchone()[0]

    sizes = []
    n = 130_000     # more than one of DuckDB's row groups
    for r in range(5):
        s.execute("INSERT INTO t SELECT i, i % 1000 FROM generate_series($1, $1 + $2 - 1) "
                  "AS g(i)", [r * n, n])
        s.execute("DELETE FROM t WHERE k < $1", [r * n])
        e._fold_if_due()
        sizes.append(used())
    assert rows(e, "SELECT count(*) FROM latest") == [(n,)]
    assert sizes[-1] < 1.3 * sizes[1], f"deleted rows kept: {sizes}"
    e.close()


def test_the_last_snapshot_is_in_the_statistics_and_metrics(tmp_path, monkeypatch):
    query = ("SELECT snapshot_at, snapshot_seconds, snapshot_bytes "
             "FROM mz_internal.eddy_engine_statistics")
    e = Engine(tmp_path / "file", tick_interval=None, storage="file")
    status.attach(e)        # as `eddy serve` does (eddy.metrics)
    assert rows(e, query) == [(None, None, None)]
    assert not [f.name for f in EngineCollector(e).collect() if "snapshot" in f.name]
    e.close()
    e = Engine(tmp_path / "memory", tick_interval=None, storage="memory")
    status.attach(e)
    e.session().execute("CREATE TABLE t (a int)")
    (at, seconds, size), = rows(e, query)
    assert at is not None and 0 < seconds < 30
    assert size == (tmp_path / "memory" / SNAPSHOT_FILE).stat().st_size
    metrics = {f.name: f.samples[0].value for f in EngineCollector(e).collect()
               if "snapshot" in f.name}
    assert metrics["eddy_snapshot_bytes"] == size
    assert 0 <= metrics["eddy_snapshot_age_seconds"] < 30
    e.close()


def test_no_checkpoint_while_a_snapshot_is_taken(tmp_path, memory, monkeypatch):
    """A snapshot's transaction keeps every row it may read: a checkpoint then reclaims
    nothing (in the marts bench: 0.04 s during an 83 s snapshot, 4.36 s at the next)."""
    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (a int)")
    e.state.vacuum_interval_s = 0.0
    folds = []
    monkeypatch.setattr(e.state, "checkpoint", lambda: folds.append(1) or True)
    s.execute("INSERT INTO t VALUES (1)")
    e.state.snapshots._running += 1
    e._fold_if_due()
    assert folds == []
    e.state.snapshots._running -= 1
    e._fold_if_due()
    assert folds == [1]
    e.close()
