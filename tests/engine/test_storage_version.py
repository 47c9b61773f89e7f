"""A new state file is written in a current DuckDB storage format (its folds then write the ART
indexes as they are held, instead of converting each to the v0.10 layout: eddy.storage.state),
and a state dir made in DuckDB's default format (before this) keeps working and keeps it."""

from __future__ import annotations

import duckdb

import eddy.storage.state as state
from eddy.engine import Engine


def file_format(path) -> str:
    """The storage version DuckDB reports for a database file (opened with default settings)."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return conn.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                            "WHERE database_name = current_database()").fetchone()[0]
    finally:
        conn.close()


def fill(e: Engine) -> None:
    s = e.session()
    s.execute("CREATE TABLE t (id int, name text)")
    s.execute("INSERT INTO t SELECT i, 'n' || i FROM generate_series(1, 20000) AS g(i)")
    s.execute("CREATE MATERIALIZED VIEW latest AS SELECT DISTINCT ON (name) name, id FROM t "
              "ORDER BY name, id DESC")
    s.execute("INSERT INTO t VALUES (20001, 'n1')")
    assert e.state.checkpoint()


def count_and_latest(e: Engine) -> tuple:
    s = e.session()
    return (s.execute("SELECT count(*) FROM t")[0].rows[0][0],
            s.execute("SELECT id FROM latest WHERE name = 'n1'")[0].rows)


def test_a_new_state_file_is_written_in_the_current_format(tmp_path):
    e = Engine(tmp_path, tick_interval=None)
    try:
        fill(e)
        assert count_and_latest(e) == (20001, [(20001,)])
    finally:
        e.close()
    assert file_format(tmp_path / state.FILE_NAME) == state.STORAGE_VERSION + "+"
    # v1.2.0: the first format without the index conversion
    assert tuple(map(int, state.STORAGE_VERSION[1:].split("."))) >= (1, 2, 0)


def test_a_state_dir_of_the_old_format_still_opens_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "STORAGE_VERSION", "v0.10.2")   # DuckDB's default, as before
    e = Engine(tmp_path, tick_interval=None)
    try:
        fill(e)
    finally:
        e.close()
    old = file_format(tmp_path / state.FILE_NAME)
    assert old == "v1.0.0+", old    # DuckDB names the v0.10.2 format by its first reader
    monkeypatch.undo()
    e = Engine(tmp_path, tick_interval=None)
    try:
        assert count_and_latest(e) == (20001, [(20001,)])
        e.session().execute("INSERT INTO t VALUES (20002, 'n1')")
        assert e.state.checkpoint()
        assert count_and_latest(e) == (20002, [(20002,)])
    finally:
        e.close()
    assert file_format(tmp_path / state.FILE_NAME) == old
