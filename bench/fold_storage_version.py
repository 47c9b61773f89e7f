"""A fold's time by DuckDB storage format, on a table with an ART index as the keyed state has.

In DuckDB's default format (v0.10.2, readable by old versions) a fold converts every ART index
to that format's layout, so its cost grows with the indexed rows, not with the WAL; from v1.2.0
on the indexes are written as they are held (eddy.storage.state.STORAGE_VERSION). Per format:
a new file, a table of --rows rows (key hash, key text, value) indexed on the hash, folded;
then --folds rounds of 100,000 inserts and 50,000 deletes, each folded and timed.

    .venv/bin/python bench/fold_storage_version.py [--rows 2000000] [--folds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import duckdb

FORMATS = ("v0.10.2", "v1.2.0", "v1.5.0")


def folds(path: str, fmt: str, rows: int, rounds: int) -> list[float]:
    conn = duckdb.connect(path, config={"storage_compatibility_version": fmt})
    try:
        conn.execute("SET threads = 1")
        conn.execute("SET checkpoint_threshold = '100GB'")    # no fold but ours
        conn.execute("CREATE TABLE t AS SELECT hash(range) AS h, 'k' || range AS k, range AS v "
                     "FROM range(?)", [rows])
        conn.execute("CREATE INDEX t_h ON t (h)")
        conn.execute("CHECKPOINT")
        took = []
        for r in range(rounds):
            lo = rows + r * 100_000
            conn.execute("INSERT INTO t SELECT hash(range), 'k' || range, range FROM range(?, ?)",
                         [lo, lo + 100_000])
            conn.execute("DELETE FROM t WHERE v >= ? AND v < ?", [r * 50_000, (r + 1) * 50_000])
            t0 = time.perf_counter()
            conn.execute("CHECKPOINT")
            took.append(time.perf_counter() - t0)
        return took
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000, help="indexed rows before the folds")
    ap.add_argument("--folds", type=int, default=3, help="timed folds per format")
    a = ap.parse_args()
    print(f"fold by storage format (DuckDB {duckdb.__version__}; {a.rows:,} indexed rows; "
          "each fold: 100,000 inserts and 50,000 deletes)")
    with tempfile.TemporaryDirectory(prefix="fold-format-") as tmp:
        for fmt in FORMATS:
            path = os.path.join(tmp, f"{fmt}.duckdb")
            took = folds(path, fmt, a.rows, a.folds)
            print(f"  {fmt:<8} median {statistics.median(took):.3f} s  "
                  f"({', '.join(f'{t:.3f}' for t in took)}); file "
                  f"{os.path.getsize(path) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
