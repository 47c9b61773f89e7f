"""A DuckDB setting A/B'd tick by tick in one process: the variants take turns, one tick each,
on the same engine and the same stream, so a machine whose speed drifts by tens of percent
within minutes (this one does) slows all of them alike. Separate runs, even interleaved, could
not tell a 3% change from the drift; paired ticks resolve it.

    .venv/bin/python bench/paired_ticks.py --setting "disabled_optimizers=|common_subplan"
                                           [--batch 500] [--ticks 160] [--history 100000]

The project's views run in-process as in bench/profile_ticks.py (its template data dir, its
decoder-fed stream paced at --sim-rate events per simulated second, the index policy between
ticks). Each variant is a value of the setting, applied before its ticks with SET GLOBAL, or
on the tick connection for a setting DuckDB keeps per connection.
Prints, per variant, the median and mean CPU per tick (the process's, DuckDB's thread
included) over its ticks after the first two, and the median's change against the first
variant.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import profile_ticks as pt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", required=True,
                    help="NAME=V1|V2|...: the DuckDB setting and the values taking turns "
                         "(an empty value is allowed: 'disabled_optimizers=|common_subplan')")
    ap.add_argument("--batch", type=int, default=500, help="events per tick")
    ap.add_argument("--ticks", type=int, default=160, help="measured ticks, all variants")
    ap.add_argument("--history", type=int, default=100_000,
                    help="events loaded first, in ticks of 20,000")
    ap.add_argument("--sim-rate", type=float, default=20_000,
                    help="the stream's events per simulated second (loadgen --sim-rate)")
    args = ap.parse_args()
    name, _, values = args.setting.partition("=")
    if not name.isidentifier():
        ap.error("--setting is NAME=V1|V2")
    variants = values.split("|")

    engine, work = pt.template_engine("paired-ticks-")
    try:
        feeder = pt.Feeder(engine, sim_rate=args.sim_rate)
        pt.load_history(engine, feeder, args.history, 20_000)
        conn = engine.state.conn
        try:
            conn.execute(f"SET GLOBAL {name} = ?", [variants[0]])
            scope = "GLOBAL "
        except duckdb.CatalogException:     # a setting of the connection alone
            scope = ""
        cpu: dict[str, list[float]] = {v: [] for v in variants}
        for i in range(args.ticks):
            value = variants[i % len(variants)]
            conn.execute(f"SET {scope}{name} = ?", [value])
            feeder.queue(args.batch)
            started = pt.clock()
            engine.tick()
            cpu[value].append(pt.clock() - started)
            pt.between_ticks(engine)
        base = None
        print(f"{args.batch}-event ticks, {args.history:,} events of history; CPU per tick:")
        for value, got in cpu.items():
            got = got[2:] or got      # the first ticks of a variant warm its plans
            med = statistics.median(got) * 1000
            base = med if base is None else base
            print(f"  {name} = {value!r:32} median {med:7.1f} ms  mean "
                  f"{statistics.mean(got) * 1000:7.1f} ms  ({len(got)} ticks)  "
                  f"{(med / base - 1) * 100:+5.1f}%")
    finally:
        engine.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.0f} s)")
