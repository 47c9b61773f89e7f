"""The keyed state's ART indexes off while ticks are large, back on when the load ends.

Each keyed state table has an ART index on its key hash (eddy.dataflow.keyed_state), which
serves lookups of a few keys without a full scan. DuckDB maintains every index at COMMIT, for
every row a tick inserts or deletes; a lookup reads it only when its keys are few (Sizes:
at most max(512, 0.5% of the table's rows)). So under load the indexes are kept and never
read: with 20,000-event ticks over 300,000 events of history (bench/profile_ticks.py) the
COMMIT took 0.095-0.164 s with them and 0.056-0.080 s without, about 60 of it in
`LocalTableStorage::AppendToIndexes` (perf). In the marts bench at 20,000 events/s, runs in
alternating order: freshness p50 3.5 / 3.0 s without them against 3.9 / 3.6 s with, p99
5.4 / 6.5 against 8.1 / 7.2 s.

`IndexPolicy` drops them after LOAD_TICKS ticks in a row of at least LOAD_ROWS source rows
(in the bench at 20,000 events/s: ~13 s into the load, in 0.01 s for 45 indexes) and rebuilds
them when the engine is idle (or after CALM_TICKS small ticks in a row): ~0.1 s per 300,000
rows, once, when ticks are small again. The dropped indexes are noted in the state's metadata
in the transaction that drops them (as a fold's vacuum notes its own), so a restart rebuilds
them (StateDB._reindex). While they are off, lookups join by hash over a scan
(`TickContext.indexed`); a keyed table created meanwhile still gets its index.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("eddy.engine")

LOAD_ROWS = 10_000   # source rows in a tick that count as load (the marts bench's 5,000-
                     # message bursts, which measure the history ratio, stay under it)
LOAD_TICKS = 3       # ... in a row: indexes off
CALM_ROWS = 500      # a tick this small (or empty) counts as calm
CALM_TICKS = 50      # ... in a row, or the engine idle: indexes on again


class IndexPolicy:
    """Decides, between ticks, whether the keyed state keeps its indexes (see the module)."""

    def __init__(self, state):
        self.state = state
        self.loaded = self.calm = 0

    @property
    def on(self) -> bool:
        return self.state.indexes_on

    def after_tick(self, rows: int, idle: bool) -> None:
        """Called between ticks (under the engine's lock) with the last tick's source rows."""
        self.loaded = self.loaded + 1 if rows >= LOAD_ROWS else 0
        self.calm = self.calm + 1 if rows <= CALM_ROWS else 0
        if self.on and self.loaded >= LOAD_TICKS:
            started = time.perf_counter()
            n = self.state.drop_key_indexes()
            log.info("load: %d keyed state indexes dropped in %.2f s", n,
                     time.perf_counter() - started)
        elif not self.on and (idle or self.calm >= CALM_TICKS):
            started = time.perf_counter()
            self.state.rebuild_key_indexes()
            log.info("calm: keyed state indexes rebuilt in %.2f s", time.perf_counter() - started)
