"""Throughput of a filter + group-by view fed by table inserts, and state size under a
temporal filter over a run.

1. rows/s: batches of rows inserted into a table (INSERT ... SELECT, so the figure is the
   engine's, not SQL parsing) flow through a `where ... group by` maintained view; target
   >= 300,000 rows/s. Printed for count/sum (linear), for count/sum/max (max recomputes the
   groups a batch touches) and for the table inserts alone.
2. bounded state: rows stamped with the current tick time flow into a view keeping the last
   10 s (`mz_now() <= ts + interval '10 seconds'`); the temporal filter's state (rows) is
   printed as simulated time advances - it must level off, not grow with the run.

    .venv/bin/python bench/engine_throughput.py [--batch 50000] [--batches 20]
"""

from __future__ import annotations

import argparse
import time

from eddy.engine import Engine

VIEWS = {
    "count/sum": "select g, count(*) as n, sum(amount) as total "
                 "from events where kind <> 'noise' group by g",
    "count/sum/max": "select g, count(*) as n, sum(amount) as total, max(amount) as top "
                     "from events where kind <> 'noise' group by g",
}


def throughput(view_sql: str | None, batch: int, batches: int) -> float:
    """Rows/s inserted through the view (None: into the bare table, for comparison)."""
    engine = Engine(None, tick_interval=None)
    try:
        session = engine.session()
        session.execute("create table events (id bigint, g integer, kind text, amount double)")
        if view_sql is None:
            view_sql = "select count(*) as n from events where false"
        session.execute(f"create materialized view per_group as {view_sql}")
        total = 0
        start = time.perf_counter()
        for b in range(batches):
            session.execute(
                "insert into events select $1 + i, (i * 31) % 1000, "
                "case when i % 10 = 0 then 'noise' else 'sale' end, (i % 997) * 0.5 "
                "from generate_series(1, $2) as s(i)", [b * batch, batch])
            total += batch
        elapsed = time.perf_counter() - start
        if "group by" in view_sql:
            n = session.execute("select sum(n) from per_group")[0].rows[0][0]
            assert n == total - total // 10, (n, total)
        return total / elapsed
    finally:
        engine.close()


def temporal_state(rows_per_tick: int, ticks: int) -> list[tuple[int, int]]:
    """(tick, rows held by the view's state tables) as simulated time advances 1 s per tick."""
    engine = Engine(None, tick_interval=None)
    try:
        session = engine.session()
        session.execute("create table readings (id bigint, sensor integer, ts timestamptz)")
        now = engine.tick(1_800_000_000_000)
        session.execute("create materialized view recent as select sensor, count(*) as n "
                        "from readings where mz_now() <= ts + interval '10 seconds' "
                        "group by sensor")
        oid = session.execute("select id from mz_catalog.mz_objects where name = 'recent'")[0].rows[0][0]
        sizes = []
        for t in range(ticks):
            session.execute("insert into readings select $1 + i, i % 50, to_timestamp($2 / 1000.0) "
                            "from generate_series(1, $3) as s(i)",
                            [t * rows_per_tick, now, rows_per_tick])
            now = engine.tick(now + 1_000)
            if t % 10 == 9:
                sizes.append((t + 1, _state_rows(engine, oid)))
        return sizes
    finally:
        engine.close()


def _state_rows(engine, oid) -> int:
    """Rows held by the view's state tables (benchmark introspection, not a public API)."""
    conn = engine.state.conn
    from eddy.storage.state import phys
    return sum(conn.execute(f"SELECT count(*) FROM {phys(t)}").fetchone()[0]
               for t in engine.dataflows[oid].state_tables())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=60)
    args = parser.parse_args()
    bare = throughput(None, args.batch, args.batches)
    print(f"table inserts alone (a view that keeps nothing): {bare:,.0f} rows/s")
    for name, sql in VIEWS.items():
        rate = throughput(sql, args.batch, args.batches)
        verdict = "ok" if rate >= 300_000 else "BELOW TARGET"
        print(f"filter+group-by ({name}): {rate:,.0f} rows/s over {args.batches} batches of "
              f"{args.batch:,} (target >= 300,000: {verdict})")
    sizes = temporal_state(1_000, args.ticks)
    print("temporal filter (10 s window, 1,000 rows/s): state rows after n ticks: "
          + ", ".join(f"{t}: {n:,}" for t, n in sizes))
    bounded = sizes[-1][1] <= 1.2 * sizes[len(sizes) // 2][1]
    print(f"state bounded: {'yes' if bounded else 'NO'} (inserted {args.ticks * 1000:,} rows)")


if __name__ == "__main__":
    main()
