"""A checkpoint stores the state's strings plain: choosing a string compression (FSST,
dictionary) was most of the fold's time, and the fold stops every tick (eddy.storage.state)."""

from __future__ import annotations

from eddy.engine import Engine
from eddy.storage.state import SCHEMA


def test_folded_strings_are_stored_plain_and_read_back(tmp_path):
    e = Engine(tmp_path, tick_interval=None)
    try:
        s = e.session()
        s.execute("CREATE TABLE t (id int, country text)")
        # few distinct values: DuckDB's own choice would be a dictionary
        s.execute("INSERT INTO t SELECT i, (ARRAY['DE', 'FR', 'US'])[i % 3 + 1] "
                  "FROM generate_series(1, 50000) AS g(i)")
        assert e.state.checkpoint()
        conn = e.state.conn
        names = [r[0] for r in conn.execute(
            "SELECT table_name FROM duckdb_columns() WHERE schema_name = ? "
            "AND column_name = 'country'", [SCHEMA]).fetchall()]
        assert len(names) == 1, names
        table = names[0]
        kinds = {r[0] for r in conn.execute(
            f"SELECT compression FROM pragma_storage_info('{SCHEMA}.{table}') "
            "WHERE column_name = 'country' AND segment_type = 'VARCHAR'").fetchall()}
        assert kinds == {"Uncompressed"}, kinds
        assert s.execute("SELECT country, count(*) FROM t GROUP BY 1 ORDER BY 1")[0].rows == [
            ("DE", 16666), ("FR", 16667), ("US", 16667)]
    finally:
        e.close()
