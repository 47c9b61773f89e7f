"""The keyed state's ART indexes off while ticks are large and lookups scan anyway, back on
when the load ends.

Each keyed state table has an ART index on its key hash (eddy.dataflow.keyed_state), which
serves lookups of a few keys without a full scan. DuckDB maintains every index at COMMIT, for
every row a tick inserts or deletes; a lookup reads it only when its keys are few (Sizes:
at most max(512, 0.5% of the table's rows)). So under load most indexes are kept and never
read: with 20,000-event ticks over 300,000 events of history (bench/profile_ticks.py) the
COMMIT took 0.095-0.164 s with them and 0.056-0.080 s without, about 60 of it in
`LocalTableStorage::AppendToIndexes` (perf). In the marts bench at 20,000 events/s, runs in
alternating order: freshness p50 3.5 / 3.0 s without them against 3.9 / 3.6 s with, p99
5.4 / 6.5 against 8.1 / 7.2 s.

`IndexPolicy` drops them after LOAD_TICKS ticks in a row of at least LOAD_ROWS source rows
(in the bench at 20,000 events/s: ~13 s into the load, in 0.01 s for 45 indexes), except the
indexes of the tables that some of those ticks' lookups read by index (`Sizes.by_index`: few
keys against a large table, e.g. a slow stream's state, or any state large against the
ticks): dropping those would turn their lookups into scans of the whole table. A dropped
index whose table every loaded tick's lookups would read by index again (the state grew)
comes back alone. All come back when the engine is idle (or after CALM_TICKS small ticks in
a row): ~0.1 s per 300,000 rows, once, when ticks are small again. The dropped indexes are
noted in the state's metadata in the transaction that drops them (as a fold's vacuum notes
its own), so a restart rebuilds them (StateDB._reindex). While a table's index is off, its
lookups join by hash over a scan (`TickContext.unindexed`); a keyed table created meanwhile
still gets its index.
"""

from __future__ import annotations

import logging
import time
from collections import deque

log = logging.getLogger("eddy.engine")

LOAD_ROWS = 10_000   # source rows in a tick that count as load (the marts bench's 5,000-
                     # message bursts, which measure the history ratio, stay under it)
LOAD_TICKS = 3       # ... in a row: indexes off
CALM_ROWS = 500      # a tick this small (or empty) counts as calm
CALM_TICKS = 50      # ... in a row, or the engine idle: indexes on again


class IndexPolicy:
    """Decides, between ticks, which keyed state tables keep their indexes (see the module)."""

    def __init__(self, state):
        self.state = state
        self.loaded = self.calm = 0
        self.dropping = False              # the load's drop done (until calm or idle again)
        self.recent: deque[frozenset[str]] = deque(maxlen=LOAD_TICKS)   # loaded ticks' wants

    @property
    def on(self) -> bool:
        return self.state.indexes_on

    def after_tick(self, rows: int, idle: bool, wanted=frozenset()) -> None:
        """Called between ticks (under the engine's lock) with the last tick's source rows and
        the tables whose lookups suited their index (`Sizes.by_index`, index on or off)."""
        self.loaded = self.loaded + 1 if rows >= LOAD_ROWS else 0
        self.calm = self.calm + 1 if rows <= CALM_ROWS else 0
        if rows >= LOAD_ROWS:
            self.recent.append(frozenset(wanted))
        if self.dropping and (idle or self.calm >= CALM_TICKS):
            self.dropping = False
            self.recent.clear()
            if not self.on:
                started = time.perf_counter()
                self.state.rebuild_key_indexes()
                log.info("calm: keyed state indexes rebuilt in %.2f s",
                         time.perf_counter() - started)
        elif self.loaded >= LOAD_TICKS and not self.dropping:
            self.dropping = True
            started = time.perf_counter()
            keep = frozenset().union(*self.recent)
            n = self.state.drop_key_indexes(keep)
            log.info("load: %d keyed state indexes dropped in %.2f s (%d tables keep theirs: "
                     "their lookups read them)", n, time.perf_counter() - started, len(keep))
        elif self.loaded >= LOAD_TICKS and self.state.unindexed:
            # a dropped index that every recent loaded tick's lookups would read (the state
            # grew, or the change shrank, past Sizes' rule) comes back alone
            back = self.state.unindexed.intersection(*self.recent)
            if back:
                started = time.perf_counter()
                self.state.rebuild_key_indexes(back)
                log.info("load: the indexes of %d keyed state tables rebuilt in %.2f s (their "
                         "lookups read them again)", len(back), time.perf_counter() - started)
