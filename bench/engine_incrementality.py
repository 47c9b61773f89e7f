"""Per-row cost of maintaining a grouped aggregate and a join at 1x and 10x the history.

Loads H rows of history (groups of ~10 rows each), creates the view, then applies batches of
changed rows (inserts and deletes) and times the tick that propagates each one. Prints the
median per-row cost at 1x and 10x and their ratio (target: at most 1.5).

    .venv/bin/python bench/engine_incrementality.py [--base 20000] [--batch 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from eddy.engine import Engine

VIEWS = {
    "grouped aggregate": "select k, count(*) as n, sum(v) as s, max(v) as mx from t1 group by k",
    "join": "select t1.id, t1.v, d.name from t1 join d on t1.k = d.k",
}


def per_row_cost(view_sql: str, history: int, batch: int, runs: int) -> float:
    """Median seconds per changed row over `runs` change batches."""
    engine = Engine(None, tick_interval=None)
    try:
        session = engine.session()
        groups = max(history // 10, 1)
        session.execute("create table t1 (id bigint, k bigint, v bigint)")
        session.execute("create table d (k bigint, name text)")
        session.execute("insert into t1 select i, i % $1, (i * 7919) % 1000 "
                        "from generate_series(1, $2) as s(i)", [groups, history])
        session.execute("insert into d select i, 'name ' || i::text "
                        "from generate_series(0, $1 - 1) as s(i)", [groups])
        session.execute(f"create materialized view v as {view_sql}")
        costs = []
        next_id = history
        for run in range(runs + 1):
            start = time.perf_counter()
            session.execute("insert into t1 select $1 + i, (i * 37 + $2) % $3, (i * 13) % 1000 "
                            "from generate_series(1, $4) as s(i)",
                            [next_id, run * 101, groups, batch])
            session.execute("delete from t1 where id > $1 and id <= $2",
                            [run * batch, run * batch + batch // 2])
            elapsed = time.perf_counter() - start
            next_id += batch
            if run:  # the first batch warms caches
                costs.append(elapsed / (batch + batch // 2))
        return statistics.median(costs)
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=int, default=20_000, help="history rows at 1x")
    parser.add_argument("--batch", type=int, default=1_000, help="changed rows per batch")
    parser.add_argument("--runs", type=int, default=5, help="batches timed (median)")
    args = parser.parse_args()
    print(f"history 1x = {args.base:,} rows, 10x = {10 * args.base:,} rows; "
          f"batches of {args.batch} inserts + {args.batch // 2} deletes; median of {args.runs}")
    for name, sql in VIEWS.items():
        one = per_row_cost(sql, args.base, args.batch, args.runs)
        ten = per_row_cost(sql, 10 * args.base, args.batch, args.runs)
        ratio = ten / one
        verdict = "ok" if ratio <= 1.5 else "ABOVE TARGET"
        print(f"{name:18} 1x: {one * 1e6:8.1f} us/row   10x: {ten * 1e6:8.1f} us/row   "
              f"ratio {ratio:4.2f} (target <= 1.5: {verdict})")


if __name__ == "__main__":
    main()
