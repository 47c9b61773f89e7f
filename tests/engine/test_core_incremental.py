"""Incrementality, counted: operators report the rows they read and write per tick; the same
100-row change costs about the same with 100,000 rows of history as with 1,000.

Logically (engine.tick_stats: rows the operators read and write) and physically: the state
rows DuckDB read to find the change's keys (`Dataflow.rows_scanned`, taken from DuckDB's
profile of every state lookup and delete: the rows an index scan fetched, or the whole table
when DuckDB scanned it)."""

from __future__ import annotations

import pytest

from eddy.dataflow.runtime import TickContext
from eddy.engine import Engine

VIEWS = {
    "grouped_aggregate": "SELECT g, count(*) AS n, sum(v) AS s, max(v) AS mx FROM facts GROUP BY g",
    "join": "SELECT f.id, f.v, d.label FROM facts f JOIN dims d ON f.g = d.g",
    "count_distinct": "SELECT g % 100 AS h, count(DISTINCT v) AS dv, count(*) AS n "
                      "FROM facts GROUP BY 1",
    "left_join": "SELECT d.g, d.label, f.id FROM dims d LEFT JOIN facts f ON f.g = d.g",
    "distinct": "SELECT DISTINCT g, v % 3 AS r FROM facts",
    "top_k": "SELECT g, id, v FROM (SELECT g, id, v, row_number() OVER (PARTITION BY g "
             "ORDER BY v DESC, id) AS rn FROM facts) t WHERE rn <= 3",
    "window": "SELECT id, g, sum(v) OVER (PARTITION BY g ORDER BY id) AS running FROM facts",
    "distinct_on": "SELECT DISTINCT ON (g) g, id, v FROM facts ORDER BY g, id DESC",
    "min_max": "SELECT g, min(v) AS lo, max(v) AS hi FROM facts GROUP BY g",
    "range_join": "SELECT f.id, d.label FROM facts f JOIN dims d ON f.g = d.g "
                  "AND f.v BETWEEN d.g % 50 AND d.g % 50 + 40",
}

# shapes whose state is key-indexed, so their physical reads follow the change
PHYSICAL = ["grouped_aggregate", "join", "window", "distinct_on", "min_max", "top_k",
            "left_join", "range_join"]


def _touched(view: str, history: int) -> tuple[int, int]:
    """(logical rows read + written, physical state rows read) for the change, which also
    checks the view against its query."""
    engine = Engine(None, tick_interval=None)
    s = engine.session()
    s.execute("CREATE TABLE facts (id bigint, g bigint, v bigint)")
    s.execute("CREATE TABLE dims (g bigint, label text)")
    # ten rows per group: groups scale with history, group sizes do not
    s.execute(f"INSERT INTO facts SELECT i, i / 10, i % 97 FROM generate_series(1, {history}) "
              "AS x(i)")
    s.execute(f"INSERT INTO dims SELECT i, 'label' || i FROM generate_series(0, {history // 10}) "
              "AS x(i)")
    s.execute(f"CREATE MATERIALIZED VIEW mv AS {VIEWS[view]}")
    oid = next(o.id for o in engine.catalog if o.name == "mv")
    df = engine.dataflows[oid]
    # the change: 100 new rows spread over 50 existing groups, 20 deletions, 5 dims updated
    s.execute("INSERT INTO facts SELECT 10000000 + i, i / 2, i FROM generate_series(1, 100) "
              "AS x(i)")
    logical, physical = sum(engine.tick_stats[oid]), df.rows_scanned
    s.execute("DELETE FROM facts WHERE id <= 20")
    logical, physical = logical + sum(engine.tick_stats[oid]), physical + df.rows_scanned
    s.execute("UPDATE dims SET label = label || '!' WHERE g < 5")
    logical, physical = logical + sum(engine.tick_stats[oid]), physical + df.rows_scanned
    got = sorted(s.execute("SELECT * FROM mv")[0].rows, key=repr)
    assert got == sorted(s.execute(VIEWS[view])[0].rows, key=repr), view
    engine.close()
    return logical, physical


@pytest.fixture
def profiled(monkeypatch):
    monkeypatch.setattr(TickContext, "profile_scans", True)


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_cost_does_not_grow_with_history(view, profiled):
    (small, small_phys), (large, large_phys) = _touched(view, 1_000), _touched(view, 100_000)
    assert small > 0
    assert large <= 2 * small, (view, small, large)
    if view in PHYSICAL:
        assert small_phys > 0, view
        # 100x the history: a full scan would read ~100x the rows
        assert large_phys <= 1.5 * small_phys, (view, small_phys, large_phys)
