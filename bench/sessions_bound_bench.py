"""The session merge with and without its time bound (SessionMerge: `end >= earliest new time
- 2 x gap` once the sessions table passes two row groups), in process, on the oracle's model
shape: 300,000 stored sessions (3,000 keys, one every 2 h over 200 h), then ticks of 10,000
new rows for 2,000 keys at the end of that time, on two identical engines, interleaved.
Prints ms per tick and the medians; the two views must end equal.

    .venv/bin/python bench/sessions_bound_bench.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "engine"))

from test_oracle_sessions import MODEL  # noqa: E402

from eddy.dataflow import keyed_state  # noqa: E402
from eddy.engine import Engine  # noqa: E402

BOUNDED = keyed_state.BOUND_MIN_ROWS
HISTORY = ("insert into t1 select i % 3000, timestamptz '2026-01-01 00:00:00+00' + "
           "interval '120 minutes' * (i / 3000), true, 1, 1.0, i "
           "from generate_series(0, 299999) r(i)")
TICK = ("insert into t1 select i % 2000, timestamptz '2026-01-09 08:00:00+00' + "
        "interval '1 second' * ($1 + (i % 7)), true, 1, 1.0, $2 + i "
        "from generate_series(0, 9999) r(i)")


def build():
    e = Engine(None, tick_interval=None)
    s = e.session()
    s.execute("create table t1 (g int, ts timestamptz, b bool, v int, f double, id int)")
    s.execute(HISTORY)
    s.execute(f"create materialized view v1 as {MODEL}")
    return e, s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    engines = {"bound": build(), "no bound": build()}
    print("sessions stored:", engines["bound"][1].execute("select count(*) from v1")[0].rows[0][0])
    ms: dict[str, list[float]] = {k: [] for k in engines}
    for rnd in range(args.rounds):
        for label, (_e, s) in engines.items():
            keyed_state.BOUND_MIN_ROWS = BOUNDED if label == "bound" else 10**12
            t0 = time.perf_counter()
            s.execute(TICK, (rnd * 60, 300_000 + rnd * 10_000))
            ms[label].append((time.perf_counter() - t0) * 1000)
    keyed_state.BOUND_MIN_ROWS = BOUNDED
    for label, xs in ms.items():
        print(f"{label:9s} {' / '.join(f'{x:.0f}' for x in xs)} ms per tick, "
              f"median {statistics.median(xs):.0f}")
    a, b = (sorted(s.execute("select * from v1")[0].rows, key=repr) for _e, s in engines.values())
    print("views equal:", a == b)
    for e, _s in engines.values():
        e.close()


if __name__ == "__main__":
    main()
