"""Incrementality, counted rather than timed: the rows operators read and write per tick.

The same 100-row change is applied to several kinds of maintained view (the marts' shapes
among them: sessions over a union, range joins, a filtered global aggregate, a CTE read
twice) over 1,000 and over 100,000 rows of history (groups hold ~10 rows at both sizes); the
rows the view's operators touch in that tick (engine.tick_stats: rows read, rows written) must not grow more than 2x.
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
    # the marts' shapes (issue 10)
    "sessions_over_union": "with ev as (select k, to_timestamp(id * 60) as t, 'a' as kind, v "
                           "from t1 union all select k, to_timestamp(id * 60 + 30), 'b', v "
                           "from t1 where v % 3 = 0), "
                           "g as (select *, lag(t) over (partition by k order by t, kind) as p "
                           "from ev), "
                           "f as (select *, case when p is null or t - p > interval '1 hour' "
                           "then 1 else 0 end as is_new from g), "
                           "n as (select *, sum(is_new) over (partition by k order by t, kind "
                           "rows between unbounded preceding and current row) as seq from f) "
                           "select k, seq, min(t) as s0, max(t) as s1, count(*) as n, "
                           "count(*) filter (where kind = 'b') as nb, "
                           "coalesce(sum(v) filter (where kind = 'a'), 0) as sa "
                           "from n group by k, seq",
    "range_join": "select a.id, b.id as id2 from t1 a join t1 b on a.k = b.k "
                  "and a.v between b.v and b.v + 100",
    "range_left_join": "select a.id, b.id as id2 from t1 a left join t1 b on a.k = b.k "
                       "and b.v between a.v + 1 and a.v + 100",
    "filtered_global_aggregate": "select count(*) filter (where v > 500) as big, "
                                 "sum(v) filter (where v % 2 = 0) as even, count(*) as n "
                                 "from t1 having count(*) filter (where v > 500) > 0",
    "grouped_subqueries_joined": "select a.k, a.n, a.dv, b.s, b.mx from (select k, count(*) "
                                 "as n, count(distinct v) as dv from t1 group by k) a left "
                                 "join (select k, sum(v) as s, max(v) as mx from t1 "
                                 "where v > 100 group by k) b on a.k = b.k",
    # int_risky_events' new-device logins: rows at their group's minimum (eddy.sql.plan_aggjoin)
    "rows_at_group_minimum": "with lo as (select k, min(id) as id0 from t1 group by k) "
                             "select t1.id, t1.k, t1.v from t1 join lo on t1.k = lo.k "
                             "and t1.id = lo.id0",
    "cte_used_twice": "with per_k as (select k, count(*) as n, sum(v) as s from t1 group by k) "
                      "select a.k, a.n, b.s from per_k a join per_k b on a.k = b.k",
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
