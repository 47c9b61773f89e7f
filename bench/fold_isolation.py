"""Which DuckDB writers wait for a fold (a CHECKPOINT of the WAL into the file)?

The evidence for how the engine's state could be laid out so that folds stop no tick (issue
10: a fold stops every tick for 1-2 s, which makes the freshness p99). A writer thread
commits a small transaction every 5 ms (100 rows into a table of its own, as a tick would)
while, on another connection of the same DuckDB instance:

  same-db   the database it writes is folded (CHECKPOINT of ~--wal-mb of WAL in another table)
  other-db  another attached database is folded (its own file and WAL; nothing of the
            writer's in it)
  snapshot  the writer's database is copied into a new attached file (COPY FROM DATABASE:
            a reader's transaction on the writer's database)

Prints per case the fold or copy's seconds, the writer's commits during it and their
longest latency. The engine's settings apply (one DuckDB thread, its disabled string
compressions). Nothing here is the engine's code: DuckDB alone, in temp files.

    .venv/bin/python bench/fold_isolation.py [--wal-mb 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from eddy.storage.state import DISABLED_COMPRESSION  # noqa: E402

ROW_BYTES = 360          # about a click's JSON
ROWS_PER_FILL = 20_000   # rows per transaction while filling a WAL


class Writer:
    """Commits a 100-row insert and a delete of older rows in `table` every 5 ms on its own
    cursor, timing each."""

    def __init__(self, db: duckdb.DuckDBPyConnection, table: str):
        self.cur, self.table = db.cursor(), table
        self.commits: list[tuple[float, float]] = []   # (start, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            t0 = time.perf_counter()
            self.cur.execute("BEGIN")
            self.cur.execute(f"INSERT INTO {self.table} SELECT range, 'v' FROM range(?, ?)",
                             [i, i + 100])
            self.cur.execute(f"DELETE FROM {self.table} WHERE id < ?", [i - 10_000])
            self.cur.execute("COMMIT")
            self.commits.append((t0, time.perf_counter() - t0))
            i += 100
            time.sleep(0.005)

    def __enter__(self) -> Writer:
        self._thread.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.5)
        self._stop.set()
        self._thread.join()

    def during(self, t0: float, t1: float) -> tuple[int, float]:
        """Commits started within [t0, t1] (or still running at t0), and the longest, in ms."""
        hit = [s for start, s in self.commits if t0 <= start + s and start <= t1]
        return len(hit), max(hit, default=float("nan")) * 1000


def fill_wal(cur, table: str, mb: float) -> None:
    """About `mb` MB of rows into `table`, in transactions of ROWS_PER_FILL (a tick's size)."""
    rows = int(mb * 1e6 / ROW_BYTES)
    for lo in range(0, rows, ROWS_PER_FILL):
        cur.execute(f"INSERT INTO {table} SELECT range, repeat('x', {ROW_BYTES - 8}) || range "
                    "FROM range(?, ?)", [lo, min(rows, lo + ROWS_PER_FILL)])


def instance(work: Path) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(str(work / "s.duckdb"))
    db.execute("SET threads = 1")
    db.execute("SET checkpoint_threshold = '100GB'")     # no fold but ours
    db.execute("SET disabled_compression_methods = ?", [DISABLED_COMPRESSION])
    db.execute(f"ATTACH '{work / 'r.duckdb'}' AS r")
    for schema in ("main", "r"):
        db.execute(f"CREATE TABLE {schema}.bulk (id BIGINT, data VARCHAR)")
        db.execute(f"CREATE TABLE {schema}.ticks (id BIGINT, v VARCHAR)")
    db.execute("CHECKPOINT")
    db.execute("CHECKPOINT r")
    return db


def case(db, name: str, statements: list[str], fill: str | None = None, mb: float = 0) -> dict:
    """`statements` timed on a connection of their own while the writer commits into
    main.ticks; `fill` first gets about `mb` MB of WAL."""
    cur = db.cursor()
    if fill:
        fill_wal(cur, fill, mb)
    with Writer(db, "main.ticks") as w:
        t0 = time.perf_counter()
        for sql in statements:
            cur.execute(sql)
        t1 = time.perf_counter()
    n, worst = w.during(t0, t1)
    rest = [s * 1000 for start, s in w.commits if start + s < t0 or start > t1]
    return {"case": name, "seconds": t1 - t0, "commits_during": n, "max_ms_during": worst,
            "p50_ms_outside": statistics.median(rest) if rest else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wal-mb", type=float, default=256.0,
                    help="WAL folded in the fold cases (the engine folds at 256 MB)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fold-isolation-") as tmp:
        work = Path(tmp)
        db = instance(work)
        snap = work / "snap.duckdb"
        rows = [
            case(db, "same-db", ["CHECKPOINT"], "main.bulk", a.wal_mb),
            case(db, "other-db", ["CHECKPOINT r"], "r.bulk", a.wal_mb),
            case(db, "snapshot", [f"ATTACH '{snap}' AS snap", "COPY FROM DATABASE s TO snap",
                                  "DETACH snap"]),
        ]
        size = os.path.getsize(work / "s.duckdb") / 1e6
        db.close()
    print(f"fold isolation (DuckDB {duckdb.__version__}; {a.wal_mb:.0f} MB of WAL per fold; "
          f"the writer's database {size:.0f} MB)")
    print(f"  {'case':<10} {'seconds':>8} {'commits during':>15} {'max ms during':>14} "
          f"{'p50 ms outside':>15}")
    for r in rows:
        print(f"  {r['case']:<10} {r['seconds']:8.2f} {r['commits_during']:15d} "
              f"{r['max_ms_during']:14.1f} {r['p50_ms_outside']:15.1f}")


if __name__ == "__main__":
    main()
