"""A fold vacuums the keyed state: DuckDB 1.4 never reclaims the deleted rows of a table with an
ART index, so state under churn (rows stored, later deleted) grew without end in the database
file and in every scan. `StateDB.checkpoint` drops the index of a table with many deleted rows
for a second checkpoint, which vacuums it, and rebuilds it (eddy.storage.state)."""

from __future__ import annotations

import threading
import time

from eddy.engine import Engine
from eddy.storage import state as state_mod
from eddy.storage.state import REINDEX_META, SCHEMA, phys

VIEW = "SELECT DISTINCT ON (k) k, v FROM t ORDER BY k, v DESC"


def used_bytes(e: Engine) -> int:
    return e.state.conn.execute("SELECT block_size * used_blocks FROM pragma_database_size() "
                                "WHERE database_name = current_database()").fetchone()[0]


def indexes(e: Engine) -> set[tuple[str, str]]:
    return set(e.state.conn.execute(
        "SELECT index_name, table_name FROM duckdb_indexes() WHERE schema_name = ?",
        [SCHEMA]).fetchall())


ROUND = 130_000   # keys a round: more than one of DuckDB's row groups (122,880 rows)


def churn(e: Engine, s, rounds: int) -> list[int]:
    """Each round stores ROUND new keys in the view's state and deletes the last round's,
    then folds; the file's used bytes after each fold. (DuckDB reclaims a row group once all
    its rows are deleted, so a round fills more than one.)"""
    sizes = []
    for r in range(rounds):
        s.execute("INSERT INTO t SELECT i, i * 7 % 1000, 'x' FROM "
                  "generate_series($1, $1 + $2 - 1) AS g(i)", [r * ROUND, ROUND])
        s.execute("DELETE FROM t WHERE k < $1", [r * ROUND])
        assert sorted(s.execute("SELECT * FROM latest")[0].rows) == \
            sorted(s.execute(f"SELECT * FROM ({VIEW}) AS b")[0].rows)
        assert e.state.checkpoint()
        sizes.append(used_bytes(e))
    return sizes


def make(tmp_path) -> tuple[Engine, object]:
    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (k int, v int, pad text)")
    s.execute(f"CREATE MATERIALIZED VIEW latest AS {VIEW}")
    return e, s


def test_churned_keyed_state_stays_its_size_in_the_file(tmp_path):
    e, s = make(tmp_path)
    try:
        before = indexes(e)
        assert before, "the view's first-row state is key-indexed"
        sizes = churn(e, s, 6)
        print("used bytes after each fold:", sizes)
        # live state is one round throughout: so is the file, within slack
        assert max(sizes[1:]) <= 1.2 * sizes[1], sizes
        assert indexes(e) == before
        assert e.state.get_meta(REINDEX_META) is None
        assert s.execute("SELECT count(*) FROM latest")[0].rows == [(ROUND,)]
    finally:
        e.close()


def test_without_the_vacuum_the_file_grows_with_every_round(tmp_path, monkeypatch):
    """The same churn with the vacuum off: what the test above guards against."""
    monkeypatch.setattr(state_mod, "VACUUM_DEAD_SHARE", 2.0)
    e, s = make(tmp_path)
    try:
        sizes = churn(e, s, 6)
        assert all(b > a for a, b in zip(sizes[1:-1], sizes[2:], strict=True)) and sizes[-1] > 1.25 * sizes[1], \
            sizes
    finally:
        e.close()


def test_indexes_dropped_by_a_fold_that_died_come_back_at_start(tmp_path):
    e, s = make(tmp_path)
    s.execute("INSERT INTO t SELECT i, i % 10, 'x' FROM generate_series(1, 5000) AS g(i)")
    before = indexes(e)
    conn = e.state.conn
    # the first half of a vacuum, committed: the note and the drops; then the process dies
    conn.execute("BEGIN")
    # (and one for a table that is gone by the restart: skipped)
    e.state.set_meta(REINDEX_META, sorted(before) + [("gone_h", "gone")], conn)
    for name, _ in before:
        conn.execute(f"DROP INDEX {phys(name)}")
    conn.execute("COMMIT")
    assert not indexes(e)
    e.close()
    e = Engine(tmp_path, tick_interval=None)
    try:
        assert indexes(e) == before
        assert e.state.get_meta(REINDEX_META) is None
        s = e.session()
        s.execute("DELETE FROM t WHERE k <= 2500")
        assert s.execute("SELECT count(*), min(k) FROM latest")[0].rows == [(2500, 2501)]
    finally:
        e.close()


def test_under_load_the_tick_loop_folds_at_the_fold_size(tmp_path):
    """Writes that never stop (no idle moment) still get folds, between ticks, once the WAL
    passes the fold size: DuckDB's own fold at commit is only the backstop (twice the size)."""
    fold_bytes = 1 << 20
    e = Engine(tmp_path, tick_interval=0.05)
    e.state.fold_bytes = fold_bytes
    folds = []
    checkpoint = e.state.checkpoint

    def counted():
        folds.append(e.state.wal_bytes())
        return checkpoint()
    e.state.checkpoint = counted
    e.start()
    stop = threading.Event()
    try:
        s = e.session()
        s.execute("CREATE TABLE t (k int, v int, pad text)")
        s.execute(f"CREATE MATERIALIZED VIEW latest AS {VIEW}")

        def writer():
            w = e.session()
            i = 0
            while not stop.is_set():
                w.execute("INSERT INTO t SELECT i, 1, repeat('x', 100) FROM "
                          "generate_series($1, $1 + 1999) AS g(i)", [i])
                i += 2000
        th = threading.Thread(target=writer, daemon=True)
        th.start()
        deadline = time.monotonic() + 60
        while len(folds) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        th.join(30)
        assert len(folds) >= 2, folds
        assert all(w >= fold_bytes for w in folds), folds
    finally:
        stop.set()
        e.close()
