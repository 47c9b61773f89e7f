"""Incrementality, counted: operators report the rows they read and write per tick; the same
100-row change costs about the same with 100,000 rows of history as with 1,000."""

from __future__ import annotations

import pytest

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
}


def _touched(view: str, history: int) -> int:
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
    # the change: 100 new rows spread over 50 existing groups, and 20 deletions
    s.execute("INSERT INTO facts SELECT 10000000 + i, i / 2, i FROM generate_series(1, 100) "
              "AS x(i)")
    first = engine.tick_stats[oid]
    s.execute("DELETE FROM facts WHERE id <= 20")
    second = engine.tick_stats[oid]
    engine.close()
    return sum(first) + sum(second)


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_cost_does_not_grow_with_history(view):
    small, large = _touched(view, 1_000), _touched(view, 100_000)
    assert small > 0
    assert large <= 2 * small, (view, small, large)
