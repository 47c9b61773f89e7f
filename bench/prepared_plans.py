"""Would a plan cache shorten the ticks? DuckDB's prepared statements in a tick's pattern.

`profile_ticks.py --prepared` finds the ticks' `CREATE TEMP TABLE ... AS` queries 26% faster
run from a statement prepared just before, in the same transaction (~55 ms of ~210 a
13,000-event tick): the binding and optimizing a cache would save. A real cache keeps its
statements across ticks, and a tick changes the temporary catalog (temp tables made and
dropped, Arrow batches registered) and writes the tables a statement reads. This prints, for
a query shaped like the ticks' (nested projections, a window, semi and anti joins with a
state table; small inputs, so planning weighs as it does in a tick), the median time of:
plain, prepared, prepared after each kind of change a tick makes, and the pattern a cache
would use instead of CREATE ... AS (DELETE of a kept scratch table + prepared INSERT).

Measured on DuckDB 1.5.6 (session 25): prepared saves ~0.9 of ~3.3 ms only while the temporary
catalog is as it was at the PREPARE; once a temp table is made or an Arrow batch registered
(a tick does both ~100 times), every run is planned again and is slower than the plain query.
A cache needs ticks that change no catalog: intermediate results in tables kept from tick to
tick (DELETE + prepared INSERT instead of CREATE ... AS) and Arrow batches copied in by a
replacement scan. Built so on branch `plan-cache` (session 25): at 13,000-event ticks of the
marts the statements' time fell only 5% (221-246 against 239-262 ms a tick) and the ticks got
slower (391-436 against 363-394 ms): the kept tables' DELETEs and the deleted rows they keep
until a checkpoint cost what planning saved. Not merged.

    .venv/bin/python bench/prepared_plans.py [--runs 60]
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb
import pyarrow as pa


def _query() -> str:
    inner = "SELECT * FROM d"
    for lvl in range(5):
        inner = (f"SELECT *, c{lvl} + 1 AS x{lvl} FROM ({inner}) AS l{lvl} "
                 f"WHERE c{lvl} IS NOT NULL")
    return (f"WITH dk AS ({inner}) SELECT dk.*, row_number() OVER (PARTITION BY dk.c1 "
            f"ORDER BY dk.c2) AS rn FROM dk SEMI JOIN state s ON s.h = dk.h AND s.c0 IS NOT "
            f"DISTINCT FROM dk.c0 UNION ALL SELECT dk.*, 0 FROM dk ANTI JOIN state s "
            f"ON s.h = dk.h")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=60, help="timed runs of each variant")
    runs = ap.parse_args().runs
    conn = duckdb.connect()
    cols = ", ".join(f"i + {j} AS c{j}" for j in range(20))
    conn.execute(f"CREATE TABLE state AS SELECT {cols}, hash(i) AS h FROM range(50) t(i)")
    conn.execute(f"CREATE TEMP TABLE d AS SELECT {cols}, hash(i) AS h FROM range(10) t(i)")
    query = _query()
    arrow = pa.table({"a": pa.array(range(10))})
    conn.execute("CREATE TEMP TABLE arrow_rows (a BIGINT)")
    conn.execute(f"PREPARE p AS {query}")

    def median_ms(run, before=None) -> float:
        times = []
        for i in range(runs):
            if before is not None:
                before(i)
            t0 = time.perf_counter()
            run(i)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    def prepared(i):
        conn.execute("EXECUTE p").fetchall()

    def replacement_scan(i):
        batch = arrow   # noqa: F841 - found by name by DuckDB's replacement scan
        conn.execute("INSERT INTO arrow_rows SELECT * FROM batch")

    def register(i):
        conn.register("batch", arrow)
        conn.unregister("batch")

    rows = [
        ("plain query", median_ms(lambda i: conn.execute(query).fetchall()), None),
        ("prepared, nothing in between", median_ms(prepared), None),
        ("prepared, after a write to a main table", median_ms(
            prepared, lambda i: conn.execute("INSERT INTO state SELECT * FROM state LIMIT 0")),
         None),
        ("prepared, after `SELECT 1`", median_ms(
            prepared, lambda i: conn.execute("SELECT 1").fetchall()), None),
        ("prepared, after an INSERT from a Python Arrow table (replacement scan)", median_ms(
            prepared, replacement_scan),
         None),
        ("prepared, after a temp table is made", median_ms(
            prepared, lambda i: conn.execute(f"CREATE TEMP TABLE made{i} (a INT)")), None),
        ("prepared, after an Arrow batch is registered", median_ms(prepared, register), None),
        ("prepared, after from_arrow().insert_into()", median_ms(
            prepared, lambda i: conn.from_arrow(arrow).insert_into("arrow_rows")), None),
        # the temporary catalog changed since the PREPARE: planned again at every run
        ("prepared, nothing in between, once the above ran", median_ms(prepared), None),
    ]
    conn.execute(f"CREATE TEMP TABLE scratch AS SELECT * FROM ({query}) LIMIT 0")
    conn.execute(f"PREPARE into_scratch AS INSERT INTO scratch {query}")
    rows.append(("DELETE FROM scratch + prepared INSERT INTO scratch", median_ms(
        lambda i: (conn.execute("DELETE FROM scratch"), conn.execute("EXECUTE into_scratch"))),
        None))
    rows.append(("CREATE TEMP TABLE ... AS (as a tick does)", median_ms(
        lambda i: conn.execute(f"CREATE TEMP TABLE out{i} AS {query}")), None))
    rows.append(("the same DELETE + INSERT, once temp tables were made", median_ms(
        lambda i: (conn.execute("DELETE FROM scratch"), conn.execute("EXECUTE into_scratch"))),
        None))
    print(f"DuckDB {duckdb.__version__}; median of {runs} runs each")
    for name, ms, _ in rows:
        print(f"  {name:<52} {ms:7.3f} ms")


if __name__ == "__main__":
    main()
