"""Incrementality, counted rather than timed: the rows operators read and write per tick.

The same 100-row change is applied to five kinds of maintained view over 1,000 and over
100,000 rows of history (groups hold ~10 rows at both sizes); the rows the view's operators
touch in that tick (engine.tick_stats: rows read, rows written) must not grow more than 2x.
A full recompute would touch ~100x as many.
"""

from __future__ import annotations

import pytest

VIEWS = {
    "grouped_aggregate": "select k, count(*) as n, sum(v) as s, max(v) as mx, "
                         "count(distinct v) as dv from t1 group by k",
    "join": "select t1.id, t1.v, d.name from t1 join d on t1.k = d.k",
    "distinct": "select distinct k, v % 5 as r from t1",
    "top_k": "select k, id, v from (select k, id, v, row_number() over "
             "(partition by k order by v desc, id) as rn from t1) s where rn <= 3",
    "window": "select id, k, v, sum(v) over (partition by k order by id) as rs, "
              "lag(v) over (partition by k order by id) as pv from t1",
}
CHANGE = 100


def touched_rows(history: int) -> dict[str, int]:
    """Rows read + written by each view's operators in the tick applying the change."""
    from eddy.engine import Engine
    engine = Engine(None, tick_interval=None)
    try:
        session = engine.session()
        groups = history // 10
        session.execute("create table t1 (id bigint, k bigint, v bigint)")
        session.execute("create table d (k bigint, name text)")
        session.execute("insert into t1 select i, i % $1, (i * 7919) % 1000 "
                        "from generate_series(1, $2) as s(i)", [groups, history])
        session.execute("insert into d select i, 'name ' || i::text "
                        "from generate_series(0, $1 - 1) as s(i)", [groups])
        ids = {}
        for name, sql in VIEWS.items():
            session.execute(f"create materialized view {name} as {sql}")
            ids[name] = session.execute("select id from mz_catalog.mz_objects where name = $1",
                                        [name])[0].rows[0][0]
        # the change: 100 new rows spread over 100 existing groups, plus 100 deleted rows
        session.execute("insert into t1 select $1 + i, (i * 37) % $2, (i * 13) % 1000 "
                        "from generate_series(1, $3) as s(i)", [history, groups, CHANGE])
        inserted = {name: sum(engine.tick_stats[oid]) for name, oid in ids.items()}
        session.execute("delete from t1 where id <= $1", [CHANGE])
        deleted = {name: sum(engine.tick_stats[oid]) for name, oid in ids.items()}
        return {name: inserted[name] + deleted[name] for name in ids}
    finally:
        engine.close()


@pytest.fixture(scope="module")
def counts():
    return touched_rows(1_000), touched_rows(100_000)


@pytest.mark.parametrize("view", list(VIEWS))
def test_touched_rows_do_not_grow_with_history(view, counts):
    small, large = counts
    assert small[view] >= CHANGE, f"{view}: the change was not counted ({small[view]} rows)"
    assert large[view] <= 2 * small[view], (
        f"{view}: {large[view]} rows touched with 100k history vs {small[view]} with 1k")
