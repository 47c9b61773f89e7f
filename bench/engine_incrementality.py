"""Per-event cost of maintaining the marts' shapes at 1x and 10x the history.

Shapes (plain SQL in the marts' form): per-user sessions (lag + running sum over a union all),
the account-takeover range join on user_id, grouped + filtered aggregates, DISTINCT ON dedup
by event_id. For each shape, one engine holds H events of history and another 10 H (users
scale with history: ~10 events per user), each with the view; then batches of new events
(and deletions of old ones) are applied, alternating between the two engines so that both
see the same machine load. Prints, per shape, the median cost per changed event at 1x and
10x (CPU seconds of this process, which the other load of a shared machine does not inflate,
and wall seconds) and the ratio 10x / 1x (target: at most 1.5).

    .venv/bin/python bench/engine_incrementality.py [--base 20000] [--batch 1000] [--runs 7]
        [--only join] [--explain]
"""

from __future__ import annotations

import argparse
import statistics
import time

from eddy.engine import Engine

COLUMNS = "(event_id bigint, user_id bigint, ts timestamp, kind text, page text, amount double)"

SHAPES = {
    "sessions (window over union)": (["clicks", "purchases"], """
        select user_id, ts, event_id,
               ts - lag(ts) over (partition by user_id order by ts, event_id) as gap,
               sum(amount) over (partition by user_id order by ts, event_id
                                 rows between unbounded preceding and current row) as spent
        from (select event_id, user_id, ts, amount from clicks
              union all
              select event_id, user_id, ts, amount from purchases) as e"""),
    "range join on user_id": (["transactions", "logins"], """
        select t.event_id as txn_id, l.event_id as login_id, t.user_id, t.amount
        from transactions t
        join logins l on t.user_id = l.user_id
         and t.ts between l.ts and l.ts + interval '10 minutes'"""),
    "grouped + filtered agg": (["clicks"], """
        select page,
               count(*) filter (where kind = 'view') as views,
               count(*) filter (where kind = 'buy') as buys,
               sum(amount) filter (where kind = 'buy') as revenue,
               count(*) as events
        from clicks group by page"""),
    "distinct on event_id": (["clicks"], """
        select distinct on (event_id) event_id, user_id, ts, kind
        from clicks order by event_id, ts desc"""),
}

# history: times spread over a day; new events: in time order after it (a stream's normal case;
# the deletions below retract events from the middle of users' histories)
ROWS = """select $1 + i as event_id, (i * 7919 + $2) % $3 as user_id,
                 timestamp '2026-01-01' + to_seconds(case when $6 = 0 then (i * 37) % 86400
                                                         else $6 + i end) as ts,
                 case when i % 10 = 0 then 'buy' else 'view' end as kind,
                 'page' || ((i * 13) % $4) as page, ((i * 31) % 1000) / 10.0 as amount
          from generate_series(1, $5) as s(i)"""


class Setup:
    """One engine holding `history` events over the shape's tables, and the view."""

    def __init__(self, tables: list[str], view_sql: str, history: int, batch: int):
        self.engine = Engine(None, tick_interval=None)
        self.session = self.engine.session()
        self.tables, self.size, self.run = tables, batch, 0
        self.users = max(history // 10, 1)
        self.pages = max(history // 100, 1)
        self.per_table = history // len(tables)
        for n, table in enumerate(tables):
            self.session.execute(f"create table {table} {COLUMNS}")
            self.session.execute(f"insert into {table} {ROWS}",
                                 [n * 10**9, n, self.users, self.pages, self.per_table, 0])
        self.session.execute(f"create materialized view v as {view_sql}")
        self.explain = "\n".join(r[0] for r in self.session.execute(
            f"explain {view_sql}")[0].rows)

    def batch(self) -> tuple[float, float]:
        """(CPU s, wall s) per changed event: `size` new events over the tables, and
        `size / 2` old events deleted (two ticks)."""
        run, size = self.run, self.size
        self.run += 1
        per = size // len(self.tables)
        cpu, wall = time.process_time(), time.perf_counter()
        for n, table in enumerate(self.tables):
            self.session.execute(f"insert into {table} {ROWS}",
                                 [n * 10**9 + self.per_table + run * per, n + run * 101,
                                  self.users, self.pages, per, 86400 + run * per])
        for n, table in enumerate(self.tables):
            lo = n * 10**9 + run * (per // 2)
            self.session.execute(f"delete from {table} where event_id > $1 and event_id <= $2",
                                 [lo, lo + per // 2])
        changed = size + size // 2
        return ((time.process_time() - cpu) / changed, (time.perf_counter() - wall) / changed)

    def close(self) -> None:
        self.engine.close()


def costs(tables, view_sql, base: int, batch: int, runs: int):
    """Median (CPU, wall) per-event cost at 1x and 10x; batches alternate between engines."""
    one, ten = Setup(tables, view_sql, base, batch), Setup(tables, view_sql, 10 * base, batch)
    try:
        one.batch(), ten.batch()  # warm-up
        pairs = [(one.batch(), ten.batch()) for _ in range(runs)]
        med = [statistics.median(p[s][m] for p in pairs) for s in (0, 1) for m in (0, 1)]
        return med, one.explain
    finally:
        one.close()
        ten.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=int, default=20_000, help="history events at 1x")
    parser.add_argument("--batch", type=int, default=1_000, help="new events per batch")
    parser.add_argument("--runs", type=int, default=7, help="paired batches timed (median)")
    parser.add_argument("--explain", action="store_true", help="print each shape's plan")
    parser.add_argument("--only", default="", help="run the shapes whose name contains this")
    args = parser.parse_args()
    print(f"history 1x = {args.base:,} events, 10x = {10 * args.base:,}; batches of "
          f"{args.batch} new + {args.batch // 2} deleted events; median of {args.runs} pairs")
    for name, (tables, sql) in SHAPES.items():
        if args.only not in name:
            continue
        (cpu1, wall1, cpu10, wall10), plan = costs(tables, sql, args.base, args.batch, args.runs)
        ratio = cpu10 / cpu1
        verdict = "ok" if ratio <= 1.5 else "ABOVE TARGET"
        print(f"{name:29} cpu us/event 1x {cpu1 * 1e6:7.1f}  10x {cpu10 * 1e6:7.1f}  "
              f"ratio {ratio:4.2f} ({verdict})   wall 1x {wall1 * 1e6:7.1f}  "
              f"10x {wall10 * 1e6:7.1f}  ratio {wall10 / wall1:4.2f}", flush=True)
        if args.explain:
            print("    " + plan.replace("\n", "\n    "))


if __name__ == "__main__":
    main()
