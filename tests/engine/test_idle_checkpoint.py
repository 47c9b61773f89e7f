"""The WAL is folded into the database file while the engine is idle, not under load."""

from __future__ import annotations

import threading
import time

from eddy import engine as engine_mod
from eddy.engine import Engine


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_wal_folds_once_idle_not_while_writes_arrive(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_mod, "IDLE_CHECKPOINT_BYTES", 1 << 16)
    monkeypatch.setattr(engine_mod, "IDLE_CHECKPOINT_AFTER_S", 3.0)
    e = Engine(tmp_path, tick_interval=0.05)
    e.start()
    try:
        s = e.session()
        s.execute("CREATE TABLE t (a int, b text)")
        s.execute("CREATE MATERIALIZED VIEW mv AS SELECT b, count(*) AS n FROM t GROUP BY b")
        # writes every 0.1 s for 1.5 s: never idle for 3 s, so the WAL only grows
        sizes = []
        for i in range(15):
            s.execute("INSERT INTO t VALUES ($1, $2), ($1 + 100, $2)", [i, f"k{i}"])
            sizes.append(e.state.wal_bytes())
            time.sleep(0.1)
        assert sizes[-1] >= sizes[0] > 1 << 16, sizes
        # idle: folded within a few seconds, and nothing is lost
        assert _wait(lambda: e.state.wal_bytes() < 1 << 16, 30), e.state.wal_bytes()
        assert s.execute("SELECT sum(n) FROM mv")[0].rows == [(30,)]
    finally:
        e.close()
    e = Engine(tmp_path, tick_interval=None)
    try:
        assert e.session().execute("SELECT sum(n) FROM mv")[0].rows == [(30,)]
    finally:
        e.close()


def test_open_reader_transaction_defers_the_fold(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_mod, "IDLE_CHECKPOINT_BYTES", 1 << 10)
    monkeypatch.setattr(engine_mod, "IDLE_CHECKPOINT_AFTER_S", 0.2)
    e = Engine(tmp_path, tick_interval=0.05)
    e.start()
    try:
        s = e.session()
        s.execute("CREATE TABLE t (a int)")
        s.execute("INSERT INTO t SELECT * FROM generate_series(1, 2000)")
        reader = e.session()
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t")[0].rows == [(2000,)]
        time.sleep(1.0)
        # the loop keeps ticking while the fold waits for the reader
        s.execute("INSERT INTO t VALUES (0)")
        assert reader.execute("SELECT count(*) FROM t")[0].rows == [(2000,)]
        reader.execute("COMMIT")
        assert _wait(lambda: e.state.wal_bytes() < 1 << 10, 30), e.state.wal_bytes()
        assert s.execute("SELECT count(*) FROM t")[0].rows == [(2001,)]
    finally:
        e.close()


def test_long_ticks_under_load_do_not_fold(tmp_path, monkeypatch):
    """Ticks longer than the idle delay while writes keep arriving are load, not idleness:
    no checkpoint until the writes stop (a fold stalled ticks under the benchmark's load)."""
    monkeypatch.setattr(engine_mod, "IDLE_CHECKPOINT_BYTES", 1 << 10)
    monkeypatch.setattr(engine_mod, "IDLE_CHECKPOINT_AFTER_S", 0.5)
    e = Engine(tmp_path, tick_interval=0.05)
    folds = []
    checkpoint, set_meta = e.state.checkpoint, e.state.set_meta

    def slow_set_meta(*a, **k):     # inside every tick's transaction: a 0.8 s tick
        time.sleep(0.8)
        return set_meta(*a, **k)

    def counted_checkpoint():
        folds.append(time.monotonic())
        return checkpoint()
    monkeypatch.setattr(e.state, "checkpoint", counted_checkpoint)
    e.start()
    try:
        s = e.session()
        s.execute("CREATE TABLE t (a int)")
        monkeypatch.setattr(e.state, "set_meta", slow_set_meta)
        stop = threading.Event()

        def writer():
            w = e.session()
            i = 0
            while not stop.is_set():
                w.execute("INSERT INTO t SELECT * FROM generate_series($1, $1 + 999)", [i])
                i += 1000
        threads = [threading.Thread(target=writer) for _ in range(2)]
        for t in threads:
            t.start()
        # the load starts with the first committed write (a fold before it is idle time)
        assert _wait(lambda: s.execute("SELECT count(*) FROM t")[0].rows[0][0] > 0, 30)
        loaded = time.monotonic()
        time.sleep(4.0)
        stop.set()
        for t in threads:
            t.join()
        stopped = time.monotonic()
        assert e.state.wal_bytes() > 1 << 10
        assert [f for f in folds if loaded < f < stopped] == [], "folded under load"
        assert _wait(lambda: any(f >= stopped for f in folds), 10), "never folded once idle"
    finally:
        e.close()
