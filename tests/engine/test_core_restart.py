"""State survives a clean restart and a kill -9 of the engine process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from eddy.engine import Engine
from eddy.storage import state


@pytest.fixture(params=["file", "memory"], autouse=True)
def storage(request, monkeypatch):
    """Each test with the state in a DuckDB file and held in memory with snapshots
    (eddy.storage.snapshots), in this process and in the writer's."""
    monkeypatch.setattr(state, "STORAGE", request.param)
    monkeypatch.setenv("EDDY_STATE_STORAGE", request.param)
    return request.param


def test_clean_restart_keeps_catalog_tables_and_views(tmp_path):
    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, 'x'), (2, 'y')")
    s.execute("CREATE MATERIALIZED VIEW mv AS SELECT b, count(*) AS n FROM t GROUP BY b")
    s.execute("CREATE VIEW v AS SELECT a FROM t WHERE a > 1")
    s.execute("CREATE DEFAULT INDEX ON v")
    s.execute("COMMENT ON TABLE t IS 'events'")
    e.close()

    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    assert sorted(s.execute("SELECT * FROM mv")[0].rows) == [("x", 1), ("y", 1)]
    s.execute("INSERT INTO t VALUES (3, 'x')")
    assert sorted(s.execute("SELECT * FROM mv")[0].rows) == [("x", 2), ("y", 1)]
    assert sorted(s.execute("SELECT * FROM v")[0].rows) == [(2,), (3,)]
    assert [o.comment for o in e.catalog if o.name == "t"] == ["events"]
    # new objects get fresh ids after a restart
    s.execute("CREATE TABLE t2 (a int)")
    ids = [o.id for o in e.catalog]
    assert len(ids) == len(set(ids))
    e.close()


WRITER = textwrap.dedent("""
    import sys
    from eddy.engine import Engine
    e = Engine(sys.argv[1], tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE t (a int)")
    s.execute("CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n, sum(a) AS s FROM t")
    i = 0
    while True:
        s.execute("INSERT INTO t SELECT g FROM generate_series(1, 10) AS x(g)")
        i += 1
        print(i, flush=True)
""")


def test_kill_9_keeps_the_last_committed_tick(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    committed = 0
    for line in proc.stdout:
        committed = int(line)
        if committed >= 20:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    e = Engine(tmp_path, tick_interval=None)
    s = e.session()
    (n, total), = s.execute("SELECT n, s FROM mv")[0].rows
    rows = s.execute("SELECT count(*) FROM t")[0].rows[0][0]
    # every acknowledged write is there; a write in flight is all there or not at all
    assert n == rows and n % 10 == 0 and n >= committed * 10
    assert total == (n // 10) * 55
    s.execute("INSERT INTO t VALUES (1)")
    assert s.execute("SELECT n FROM mv")[0].rows == [(n + 1,)]
    e.close()
