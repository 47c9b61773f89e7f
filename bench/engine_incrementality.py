"""Per-row cost of maintaining a grouped aggregate and a join at 1x and 10x the history.

Loads H rows of history (groups of ~10 rows each), creates the view, then applies batches of
changed rows (inserts and deletes) and times the ticks that propagate them, alternating
between the 1x and the 10x engine so that both see the same machine load. Prints the
median per-row cost at 1x and 10x and their ratio (target: at most 1.5).

    .venv/bin/python bench/engine_incrementality.py [--base 20000] [--batch 1000] [--runs 9]
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


class Setup:
    """One engine holding `history` rows of history and the view; `batch()` times one change."""

    def __init__(self, view_sql: str, history: int, batch: int):
        self.engine = Engine(None, tick_interval=None)
        self.session = self.engine.session()
        self.groups, self.history, self.size, self.run = max(history // 10, 1), history, batch, 0
        self.session.execute("create table t1 (id bigint, k bigint, v bigint)")
        self.session.execute("create table d (k bigint, name text)")
        self.session.execute("insert into t1 select i, i % $1, (i * 7919) % 1000 "
                             "from generate_series(1, $2) as s(i)", [self.groups, history])
        self.session.execute("insert into d select i, 'name ' || i::text "
                             "from generate_series(0, $1 - 1) as s(i)", [self.groups])
        self.session.execute(f"create materialized view v as {view_sql}")

    def batch(self) -> float:
        """Seconds per changed row for `size` inserts plus `size / 2` deletes (two ticks)."""
        run, size = self.run, self.size
        self.run += 1
        start = time.perf_counter()
        self.session.execute("insert into t1 select $1 + i, (i * 37 + $2) % $3, (i * 13) % 1000 "
                             "from generate_series(1, $4) as s(i)",
                             [self.history + run * size, run * 101, self.groups, size])
        self.session.execute("delete from t1 where id > $1 and id <= $2",
                             [run * size, run * size + size // 2])
        return (time.perf_counter() - start) / (size + size // 2)

    def close(self) -> None:
        self.engine.close()


def costs(view_sql: str, base: int, batch: int, runs: int) -> tuple[float, float]:
    """Median per-row cost at 1x and 10x history; batches alternate between the two engines so
    that both see the same machine load."""
    one, ten = Setup(view_sql, base, batch), Setup(view_sql, 10 * base, batch)
    try:
        one.batch(), ten.batch()  # warm-up
        pairs = [(one.batch(), ten.batch()) for _ in range(runs)]
        return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    finally:
        one.close()
        ten.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=int, default=20_000, help="history rows at 1x")
    parser.add_argument("--batch", type=int, default=1_000, help="changed rows per batch")
    parser.add_argument("--runs", type=int, default=9, help="batches timed (median)")
    args = parser.parse_args()
    print(f"history 1x = {args.base:,} rows, 10x = {10 * args.base:,} rows; "
          f"batches of {args.batch} inserts + {args.batch // 2} deletes; median of {args.runs}")
    for name, sql in VIEWS.items():
        one, ten = costs(sql, args.base, args.batch, args.runs)
        ratio = ten / one
        verdict = "ok" if ratio <= 1.5 else "ABOVE TARGET"
        print(f"{name:18} 1x: {one * 1e6:8.1f} us/row   10x: {ten * 1e6:8.1f} us/row   "
              f"ratio {ratio:4.2f} (target <= 1.5: {verdict})")


if __name__ == "__main__":
    main()
