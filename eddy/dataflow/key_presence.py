"""Which of a change's keys may be stored already, without scanning the state table.

A staging view's deduplication (first row per event id) asks, every tick, which of the
tick's thousands of new ids are stored already; nearly none are (the load generator sends 1%
duplicates). So does a count(DISTINCT) of its (group, x) pairs (page views per minute's
(minute, page, user): 598 of a tick's 13,181 were stored). DuckDB can only answer that by a
hash join over a scan of the stored ids, whose cost grows with the state: 13,333 ids probed
in 987,133 stored clicks took 19-24 ms a tick, of which ~11 ms only reading the key hashes.
DuckDB has no cheaper way in: a scan reads the probed columns of every row, fetching 133 rows
by rowid scans them all, and its ART index fetches a key in ~2-37 us (eddy.dataflow.keyed_state).

`KeyHashes` keeps, in memory, a sorted array of (a superset of) the key hashes stored in a
table: a change's hashes are looked up in it by binary search (13,333 in 1 M: ~3 ms) and only
those found (the duplicates, and the rare hash collision) are compared with the stored keys,
by the table's index. Written by hand: no library keeps a growable sorted set of integers
that numpy's searchsorted does not already give.

Invariant: every hash stored in the table is in the set. The owner adds the hashes of every
key it may insert (all of a change's keys) before the rows reach the table; a deleted or
expired key's hash stays until the set is built again from the table (when the set has grown
past twice the table's rows), and a tick that rolls back leaves extra hashes: both only cost
a needless comparison, never a missed key."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from eddy.storage.state import KEY_HASH as H

# Below this many stored rows the set is not kept: the probe's scan (~24 ns a stored row at
# 1 M) costs no more than the set's own work (~5 ms a tick: the delta's hashes fetched,
# looked up, the candidates written back for the comparison by index).
MIN_ROWS = 200_000
# Hashes added since the sorted array was last merged, at most (then merged: ~4 ms at 1 M).
RECENT_MAX = 100_000


class KeyHashes:
    """A superset of the key hashes (UBIGINT `__h`) stored in one state table."""

    def __init__(self):
        self._sorted: np.ndarray | None = None    # None: not built (or dropped)
        self._recent = np.empty(0, dtype=np.uint64)   # sorted too: added since the last merge

    def reset(self) -> None:
        """Forget the set (the table was recreated); built again when next used."""
        self._sorted, self._recent = None, np.empty(0, dtype=np.uint64)

    @property
    def built(self) -> bool:
        return self._sorted is not None

    def size(self) -> int:
        return 0 if self._sorted is None else len(self._sorted) + len(self._recent)

    def ready(self, conn, table: str, stored_rows: int) -> bool:
        """Whether the set serves lookups into `table` (of about `stored_rows` rows): built
        from the table if needed (again when it has grown past twice the table's rows, the
        rest being deleted or expired keys); False for a small table (then dropped)."""
        if stored_rows < MIN_ROWS:
            self.reset()
            return False
        if self._sorted is None or self.size() > 2 * stored_rows + RECENT_MAX:
            hashes = conn.execute(f"SELECT {H} FROM {table}").fetchnumpy()[H]
            self.reset()
            self._sorted = np.sort(np.asarray(hashes, dtype=np.uint64))
        return True

    def add(self, hashes: np.ndarray) -> None:
        """Note hashes that may be stored from now on (no-op while the set is not built)."""
        if self._sorted is None or not len(hashes):
            return
        # timsort merges sorted runs in linear time
        merged = np.concatenate([self._recent, np.sort(np.asarray(hashes, dtype=np.uint64))])
        merged.sort(kind="stable")
        if len(merged) > RECENT_MAX:
            merged = np.concatenate([self._sorted, merged])
            merged.sort(kind="stable")
            self._sorted, self._recent = merged, np.empty(0, dtype=np.uint64)
        else:
            self._recent = merged

    def maybe_stored(self, hashes: np.ndarray) -> np.ndarray:
        """The hashes (of `hashes`) that the table may hold: those in the set."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        found = np.zeros(len(hashes), dtype=bool)
        for run in (self._sorted, self._recent):
            if run is not None and len(run):
                at = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
                found |= run[at] == hashes
        return hashes[found]


def delta_hashes(rt, sql: str) -> np.ndarray:
    """The distinct key hashes (`__h`) of a query's rows."""
    return rt.conn.execute(f"SELECT DISTINCT {H} FROM ({sql})").fetchnumpy()[H]


def note(rt, present: KeyHashes, sql: str) -> None:
    """The keys of a query's rows may be stored from now on (nothing while not built)."""
    if present.built:
        present.add(delta_hashes(rt, sql))


def probe(rt, present: KeyHashes, table: str, stored_rows: int, sql: str):
    """(served, found) for a probe of the keys of a query's rows (with `__h`) into `table`
    (about `stored_rows` rows) that stores them all next: `served` False when the set does
    not serve the table (the caller probes as before); else `found`, a tick relation of the
    hashes that the table may hold (None: none), and the keys are noted in the set."""
    if not present.ready(rt.conn, table, stored_rows):
        return False, None
    hashes = delta_hashes(rt, sql)
    maybe = present.maybe_stored(hashes)
    present.add(hashes)
    if not len(maybe):
        return True, None
    return True, rt.rel(pa.table({H: pa.array(maybe, pa.uint64())}))
