"""State tables store 128-bit integer columns (a sum() of a DECIMAL is a DECIMAL(38, s)) plain,
not bit-packed: DuckDB reads bit-packed 128-bit integers back ~15x slower, and the session
merge reads its stored sessions every tick (eddy.storage.state.create_table_sql). The setting
holds across folds and a restart, and the views stay equal to their batch queries."""

from __future__ import annotations

from eddy.engine import Engine
from eddy.storage.state import SCHEMA

VIEWS = {
    "revenue_by_user": "SELECT user_id, sum(amount) AS revenue, count(*) AS n "
                       "FROM purchases GROUP BY user_id",
    "sessions": "WITH g AS (SELECT user_id, amount, t, CASE WHEN t - lag(t) OVER (PARTITION BY "
                "user_id ORDER BY t) <= INTERVAL '30 minutes' THEN 0 ELSE 1 END AS first "
                "FROM purchases), s AS (SELECT *, sum(first) OVER (PARTITION BY user_id ORDER "
                "BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n FROM g) "
                "SELECT user_id, n, min(t) AS started, max(t) AS ended, "
                "coalesce(sum(amount), 0) AS revenue FROM s GROUP BY user_id, n",
}


def wide_columns(e: Engine) -> dict[tuple[str, str], set[str]]:
    """(state table, column) -> the compressions of its stored segments, for every 128-bit
    integer column of the engine's state tables."""
    conn = e.state.conn
    cols = conn.execute(
        "SELECT table_name, column_name FROM duckdb_columns() JOIN duckdb_tables() "
        "USING (database_name, schema_name, table_name) WHERE schema_name = ? AND "
        "(data_type = 'HUGEINT' OR data_type LIKE 'DECIMAL(38,%')", [SCHEMA]).fetchall()
    out = {}
    for table, col in cols:
        out[(table, col)] = {r[0] for r in conn.execute(
            "SELECT compression FROM pragma_storage_info(?) WHERE column_name = ? AND "
            "segment_type <> 'VALIDITY'", [f"{SCHEMA}.{table}", col]).fetchall()}
    return out


def insert_some(e: Engine, n: int, seed: int) -> None:
    """n purchases of 300 users over 10 hours (pseudo-random by seed), then a few deleted."""
    s = e.session()
    s.execute(f"INSERT INTO purchases SELECT 'u' || ((i * 7919 + {seed}) % 300), "
              f"((i * 104729 + {seed} * 31) % 100000 + 1) / 100.0, "
              f"TIMESTAMPTZ '2026-12-01 00:00:00+00' + ((i * 48271 + {seed}) % 36000) "
              f"* INTERVAL '1 second' FROM generate_series({seed * n}, {seed * n + n - 1}) AS g(i)")
    s.execute(f"DELETE FROM purchases WHERE amount < {seed % 7 + 1}")


def assert_views_match_batch(e: Engine) -> None:
    s = e.session()
    for name, sql in VIEWS.items():
        got = sorted(map(tuple, s.execute(f"SELECT * FROM {name}")[0].rows))
        want = sorted(map(tuple, s.execute(sql)[0].rows))
        assert got == want, name


def write_and_fold(e: Engine, seeds) -> dict[tuple[str, str], set[str]]:
    """More purchases, a fold; the views checked; the 128-bit columns' compressions."""
    for i in seeds:
        insert_some(e, 1500, i)
    assert e.state.checkpoint()
    assert_views_match_batch(e)
    return wide_columns(e)


def test_wide_int_state_is_stored_plain_across_folds_and_restart(tmp_path):
    e = Engine(tmp_path, tick_interval=None)
    try:
        s = e.session()
        s.execute("CREATE TABLE purchases (user_id text, amount numeric(12, 2), t timestamptz)")
        insert_some(e, 3000, 0)
        for name, sql in VIEWS.items():
            s.execute(f"CREATE MATERIALIZED VIEW {name} AS {sql}")
        before = write_and_fold(e, range(1, 4))
    finally:
        e.close()
    # the sum() of each view is kept in a 128-bit column of some state table, stored plain
    assert before and all(c == {"Uncompressed"} for c in before.values()), before
    e = Engine(tmp_path, tick_interval=None)
    try:
        after = write_and_fold(e, range(4, 7))
    finally:
        e.close()
    assert after.keys() == before.keys()
    assert all(c == {"Uncompressed"} for c in after.values()), after
