"""The state database: one DuckDB file holding tables, view state, catalog and offsets."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from pathlib import Path

import duckdb

from eddy.catalog.objects import CatalogObject
from eddy.sql.functions import install as install_sql_functions
from eddy.storage.snapshots import SNAPSHOT_FILE, Snapshots

log = logging.getLogger("eddy.storage")
SCHEMA = "_eddy"
FILE_NAME = "eddy.duckdb"
# The WAL size at which the tick loop folds it into the file under load (see StateDB.checkpoint);
# EDDY_CHECKPOINT_THRESHOLD overrides. DuckDB's own fold at commit is set at twice this, as a
# backstop for when the engine's cannot run (another transaction open). A fold stops ticks for
# a time about proportional to the WAL (~5-6 s per GB under load), so a smaller threshold means
# shorter stops, more often: the marts bench at 20,000 events/s for 120 s, two runs each, 1GB:
# one fold of 957-962 MB in 4.7-5.5 s, freshness p99 9.4 / 12.9 s (max 10.6 / 14.1); 256MB: 6-7
# folds of 245-292 MB in 1.0-3.0 s, p99 7.7 / 6.4 s (max 8.2 / 7.4). A crash replays less too.
# Smaller costs more: a fold has a fixed ~0.5-1 s (64MB: 22 folds of 65-124 MB in 0.55-2.52 s,
# catch-up 29,356 against 40,544 events/s at 256MB, p99 10.9 against 6.7 s).
CHECKPOINT_THRESHOLD = os.environ.get("EDDY_CHECKPOINT_THRESHOLD") or "256MB"
# A keyed state table is vacuumed at a fold (its ART index dropped for it, then rebuilt) when at
# least this share of its stored rows are deleted ones, and this many.
VACUUM_DEAD_SHARE = 0.5
VACUUM_MIN_DEAD = 1000
REINDEX_META = "reindex"   # the indexes a fold dropped, until it has rebuilt them
KEY_HASH = "__h"   # the column keyed state is indexed on (eddy.dataflow.keyed_state.H)
# String compressions a checkpoint does not try (see StateDB); EDDY_DISABLED_COMPRESSION overrides
# ("" tries them all).
DISABLED_COMPRESSION = os.environ.get("EDDY_DISABLED_COMPRESSION", "fsst,dict_fsst,dictionary")
# DuckDB's memory limit (see StateDB); EDDY_MEMORY_LIMIT overrides ("" keeps DuckDB's own, 80%
# of the machine's memory).
MEMORY_LIMIT = os.environ.get("EDDY_MEMORY_LIMIT", "2GB")
# DuckDB optimizer passes the ticks run without (see StateDB); EDDY_DISABLED_OPTIMIZERS overrides
# ("" runs them all).
DISABLED_OPTIMIZERS = os.environ.get("EDDY_DISABLED_OPTIMIZERS", "common_subplan")
# The storage format a new state file is written in. DuckDB writes new files in its v0.10.2
# format by default (readable by old versions), and a fold then converts every ART index to
# that format's layout (`TransformToDeprecated`: a third of a fold's CPU at 2 M events of
# state): the fold's cost grew with the state, not with the WAL. From v1.2.0 on the indexes
# are written as they are held. bench/fold_storage_version.py (folds of 100,000 inserts and
# 50,000 deletes into an indexed table): 2 M rows 0.248 s in the default format, 0.095 in
# v1.5.0; 5 M rows 0.573 against 0.202. The marts bench at 2 M events of history, the two
# formats run back to back: folds of ~250 MB at 20,000 events/s 1.33-1.69 s against
# 1.52-2.60, freshness p99 3.7 against 4.8 s.
# A file keeps the format it was created in (an older state dir stays as it is).
# EDDY_STORAGE_VERSION overrides ("v0.10.2" is DuckDB's default).
STORAGE_VERSION = os.environ.get("EDDY_STORAGE_VERSION", "v1.5.0")
# Where the state of an engine with a data dir lives: "file" (a DuckDB file and its write-ahead
# log, folded into the file between ticks) or "memory" (an in-memory database made durable by
# snapshots: eddy.storage.snapshots). EDDY_STATE_STORAGE overrides.
STORAGE = os.environ.get("EDDY_STATE_STORAGE") or "file"
STORAGES = ("file", "memory")
# Held in memory, DuckDB's tables keep their deleted rows until a checkpoint, which then only
# vacuums but stops the ticks as a fold does: in the marts bench at 20,000 events/s, 1.2-1.5 s a
# minute (a fold of the file: 1.0-1.7 s every ~18 s). 82% of the dead rows are the sessions'
# (an extended session is deleted and stored again). Seconds between two under load;
# EDDY_VACUUM_INTERVAL overrides.
VACUUM_INTERVAL_S = float(os.environ.get("EDDY_VACUUM_INTERVAL") or 60)


def size_bytes(text: str) -> int:
    """'1GB', '512MiB', '1000' -> bytes (DuckDB's units: KB = 1000, KiB = 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B?)\s*", text.upper())
    if m is None:
        raise ValueError(f"not a size: {text!r}")
    base = 1024 if m.group(3) == "IB" else 1000
    return int(float(m.group(1)) * base ** " KMGT".index(m.group(2) or " "))


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


# DuckDB bit-packs 128-bit integers (HUGEINT, UHUGEINT, and DECIMAL of 19 to 38 digits: what
# sum() of a DECIMAL returns) in a form it reads back ~15x slower than plain values: at 2 M
# events of state the sessions' DECIMAL(38,2) revenue (214,251 rows) took 37 ms to scan
# bit-packed, 2.6 ms plain, when their 13 other columns together took ~28 ms. State tables
# store such columns plain (`USING COMPRESSION uncompressed`: kept by folds and restarts).
_WIDE_INT = re.compile(r"(U?HUGEINT|DECIMAL\((19|2\d|3[0-8])(,\s*\d+)?\))$")


def create_table_sql(conn: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> list[str]:
    """The statements that (re)create a state table holding the rows of a query, its 128-bit
    integer columns stored plain (one CREATE ... AS when it has none)."""
    cols = conn.execute(f"DESCRIBE {select_sql}").fetchall()
    if not any(_WIDE_INT.match(c[1]) for c in cols):
        return [f"CREATE OR REPLACE TABLE {table} AS {select_sql}"]
    defs = ", ".join(f"{q(c[0])} {c[1]}" + (" USING COMPRESSION uncompressed"
                                             if _WIDE_INT.match(c[1]) else "") for c in cols)
    return [f"CREATE OR REPLACE TABLE {table} ({defs})", f"INSERT INTO {table} {select_sql}"]


def phys(name: str) -> str:
    """Qualified physical name of a state table in the engine schema."""
    return f"{q(SCHEMA)}.{q(name)}"


def unphys(name: str) -> str:
    """The table's own name from its physical name (`phys`), as DuckDB's catalog lists it."""
    return name.rsplit(".", 1)[-1].strip('"')


def relation_kind(conn, name: str) -> str | None:
    """'BASE TABLE', 'VIEW' or None: what `_eddy.<name>` is."""
    row = conn.execute("SELECT table_type FROM information_schema.tables WHERE table_schema = ? "
                       "AND table_name = ?", [SCHEMA, name]).fetchone()
    return row[0] if row else None


class StateDB:
    """Owns the DuckDB connection; catalog, offsets and metadata live in the engine schema."""

    def __init__(self, data_dir: str | Path | None, storage: str | None = None):
        storage = storage or STORAGE
        if storage not in STORAGES:
            raise ValueError(f"EDDY_STATE_STORAGE must be one of {', '.join(STORAGES)}: {storage!r}")
        self.path = None
        self.snapshots: Snapshots | None = None
        self._offsets: dict[str, dict] = {}   # committed offsets per source (tick_offsets)
        if data_dir is not None:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            if storage == "file":
                self.path = str(Path(data_dir) / FILE_NAME)
                if (Path(data_dir) / SNAPSHOT_FILE).exists() and not Path(self.path).exists():
                    raise ValueError(f"{data_dir} holds the state of an engine that kept it in "
                                     "memory (eddy.snapshot): start it with --state-storage "
                                     "memory (EDDY_STATE_STORAGE=memory)")
        self.conn = duckdb.connect(self.path or ":memory:",
                                   config={"storage_compatibility_version": STORAGE_VERSION})
        self.conn.execute("SET GLOBAL TimeZone = 'UTC'")
        if data_dir is not None and storage == "memory":
            install_sql_functions(self.conn)   # before the restore: views may call them
            self.snapshots = Snapshots(self.conn, Path(data_dir), STORAGE_VERSION)
            self.snapshots.restore(legacy_file=Path(data_dir) / FILE_NAME)
        # One DuckDB thread: a tick's statements are small, and a second thread costs more
        # CPU in coordination than it saves in wall time on this 2-core machine shared with
        # Kafka (bench/profile_ticks.py, load ~7: 1,787 vs 2,330 ms CPU per 1k-event tick, wall
        # equal). EDDY_DUCKDB_THREADS overrides it.
        threads = int(os.environ.get("EDDY_DUCKDB_THREADS") or 1)
        self.conn.execute(f"SET GLOBAL threads = {threads}")
        install_sql_functions(self.conn)   # Materialize functions DuckDB lacks (eddy.sql)
        # A fold of the WAL into the file (a checkpoint) stops ticks: seconds, growing with the
        # state (the changed row groups rewritten, every ART index serialized again). The engine
        # folds when idle (Engine: IDLE_CHECKPOINT_*), and under sustained load once the WAL
        # passes `fold_bytes`, between ticks (`checkpoint()`: it also vacuums the keyed state).
        # Cost: a crash under load replays up to this much WAL at start (~3 s per 100 MB).
        self.fold_bytes = size_bytes(CHECKPOINT_THRESHOLD)
        self.vacuum_interval_s = VACUUM_INTERVAL_S
        self.conn.execute("SET checkpoint_threshold = ?", [f"{2 * self.fold_bytes}B"])
        # Most of a checkpoint's time went to choosing how to compress the new string columns
        # (FSST and dictionary analysis), not to writing them. Without those methods strings are
        # stored plain (numbers are still compressed): bench/profile_ticks.py --history 300000
        # --checkpoint folded 381 MB of WAL in 1.07 s instead of 2.7-2.9 s, ticks unchanged,
        # for a file of 448 MB instead of 200. The fold stops every tick (DuckDB 1.4).
        self.conn.execute("SET disabled_compression_methods = ?", [DISABLED_COMPRESSION])
        # DuckDB keeps every block a checkpoint writes in its buffer pool until its memory
        # limit, 80% of the machine's memory by default: the soak's RSS grew 1.1 -> 3.9 GB in
        # 6 minutes (the pool's BASE_TABLE blocks +770 MB a fold) while the rows in state stayed
        # flat. Those blocks are a cache (the OS page cache holds the file as well); what must
        # stay in memory is the data not yet checkpointed (about 1.3x the WAL, so up to ~0.35 GB
        # under the 256 MB threshold) and the ART indexes (~120 MB for the marts). With 1.5 GB
        # the soak's RSS stayed flat (+5.6%) at the same CPU; 2 GB leaves room for queries.
        if MEMORY_LIMIT and (self.snapshots is None or "EDDY_MEMORY_LIMIT" in os.environ):
            # (the limit is for a file's cached blocks; state held in memory must fit)
            self.conn.execute("SET GLOBAL memory_limit = ?", [MEMORY_LIMIT])
        # the limit as DuckDB prints it back (`1.8 GiB` for 2GB: to a tenth of the unit)
        self.memory_limit_bytes = size_bytes(
            self.conn.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        # Key-indexed state (eddy.dataflow.keyed_state): a hash join whose build side has up
        # to this many distinct keys pushes them into the probe scan as an IN filter, which
        # an ART index answers. DuckDB then fetches the matching rows by index when they are
        # fewer than max(512, 0.5% of the table), else scans: measured on DuckDB 1.4.5, one
        # fetched row costs about as much as ~200 scanned ones.
        for setting in ("dynamic_or_filter_threshold = 20000", "index_scan_max_count = 512",
                        "index_scan_percentage = 0.005"):
            self.conn.execute(f"SET GLOBAL {setting}")
        # DuckDB's common subplan pass (a subquery repeated in a statement planned once, as a
        # materialized CTE) costs a tick more than it saves: its statements repeat small
        # subqueries over tick-local tables. Paired in one process (bench/paired_ticks.py:
        # the setting toggled every tick, 100,000 events of history): CPU per 500-event tick
        # -6.4%, -1.7%, -2.5% (medians of 78-98 ticks), 3,000-event -3.9%, 20,000-event equal
        # (-1.9%, +1.5%). The setting is global in DuckDB: clients' queries are planned
        # without the pass too.
        if DISABLED_OPTIMIZERS:
            self.conn.execute("SET GLOBAL disabled_optimizers = ?", [DISABLED_OPTIMIZERS])
        self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(SCHEMA)}")
        for ddl in (
            f"CREATE TABLE IF NOT EXISTS {phys('catalog')} (id VARCHAR PRIMARY KEY, body VARCHAR)",
            f"CREATE TABLE IF NOT EXISTS {phys('offsets')} (id VARCHAR PRIMARY KEY, body VARCHAR)",
            f"CREATE TABLE IF NOT EXISTS {phys('meta')} (key VARCHAR PRIMARY KEY, value VARCHAR)",
        ):
            self.conn.execute(ddl)
        self._reindex()    # a fold that stopped between dropping indexes and rebuilding them
        self.unindexed: set[str] = set()  # keyed state tables whose index the load dropped

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A reader connection: sees the last committed tick."""
        cur = self.conn.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    # -- catalog -----------------------------------------------------------------------------
    def load_catalog(self) -> list[CatalogObject]:
        rows = self.conn.execute(f"SELECT body FROM {phys('catalog')}").fetchall()
        return [CatalogObject.from_json(r[0]) for r in rows]

    def save_object(self, obj: CatalogObject) -> None:
        self.conn.execute(f"DELETE FROM {phys('catalog')} WHERE id = ?", [obj.id])
        self.conn.execute(f"INSERT INTO {phys('catalog')} VALUES (?, ?)", [obj.id, obj.to_json()])

    def delete_object(self, object_id: str) -> None:
        self.conn.execute(f"DELETE FROM {phys('catalog')} WHERE id = ?", [object_id])

    # -- metadata and offsets ----------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        row = self.conn.execute(f"SELECT value FROM {phys('meta')} WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value, conn=None) -> None:
        # an UPDATE of the existing row (once per tick for last_ts) costs a fifth of
        # INSERT OR REPLACE (0.26 against 1.3 ms on DuckDB 1.4)
        conn = conn or self.conn
        body = json.dumps(value)
        updated = conn.execute(f"UPDATE {phys('meta')} SET value = ? WHERE key = ?",
                               [body, key]).fetchone()[0]
        if not updated:
            conn.execute(f"INSERT INTO {phys('meta')} VALUES (?, ?)", [key, body])

    def get_offsets(self, object_id: str, conn=None) -> dict:
        row = (conn or self.conn).execute(
            f"SELECT body FROM {phys('offsets')} WHERE id = ?", [object_id]).fetchone()
        return json.loads(row[0]) if row else {}

    def tick_offsets(self, object_id: str, conn) -> dict:
        """A source's committed offsets for a tick to add to: read once, then kept in memory
        (only the tick thread writes them, and `offsets_committed` after each commit)."""
        known = self._offsets.get(object_id)
        return dict(known) if known is not None else self.get_offsets(object_id, conn)

    def set_offsets(self, object_id: str, offsets: dict, conn=None) -> None:
        self.write_offsets({object_id: offsets}, conn)

    def write_offsets(self, offsets: dict[str, dict], conn=None) -> None:
        """The offsets of the sources a tick ingested, in one UPDATE of their rows (0.84 ms
        for seven against 1.9 for seven UPDATEs, DuckDB 1.4), INSERT only for a first time."""
        if not offsets:
            return
        conn = conn or self.conn
        rows = [(i, json.dumps(o)) for i, o in offsets.items()]
        values = ", ".join(["(?, ?)"] * len(rows))
        params = [x for r in rows for x in r]
        t = phys("offsets")
        updated = conn.execute(f"UPDATE {t} SET body = v.body FROM (VALUES {values}) AS "
                               f"v(id, body) WHERE {t}.id = v.id", params).fetchone()[0]
        if updated < len(rows):
            conn.execute(f"INSERT INTO {t} SELECT * FROM (VALUES {values}) AS v(id, body) "
                         f"WHERE v.id NOT IN (SELECT id FROM {t})", params)

    def offsets_committed(self, offsets: dict[str, dict]) -> None:
        """Remember offsets a tick has committed (`tick_offsets` starts from them)."""
        self._offsets.update({i: dict(o) for i, o in offsets.items()})

    def wal_bytes(self) -> int:
        """Size of the write-ahead log not yet folded into the database file."""
        if self.path is None:
            return 0
        try:
            return os.path.getsize(self.path + ".wal")
        except OSError:
            return 0

    def checkpoint(self) -> bool:
        """Fold the WAL into the file now, then vacuum the keyed state; False when DuckDB
        refuses (another transaction is open).

        DuckDB 1.4 never reclaims the deleted rows of a table with an ART index: a checkpoint
        vacuums only tables without one. So keyed state under a retention window (rows
        inserted, later deleted) kept every row it ever held: the file grew ~800 MB a fold in
        the soak while the rows in state stayed flat, and scans read the dead rows too. Once
        the fold is done, each table whose deleted rows pass VACUUM_DEAD_SHARE loses its index
        for a second checkpoint, which vacuums it, and gets it back (~0.13 s per 300k rows).
        The indexes to rebuild are noted in the transaction that drops them, and rebuilt at
        start if the process died in between."""
        try:
            self.conn.execute("CHECKPOINT")
        except duckdb.Error:
            return False
        try:
            self._vacuum()
        except duckdb.Error as e:    # the fold is done; the vacuum comes again with the next
            log.warning("vacuum of the keyed state failed: %s", e)
        return True

    def _vacuum(self) -> None:
        stale = self._stale_indexes()
        if not stale:
            return
        started = time.perf_counter()
        conn = self.conn
        self._drop_noted(stale)
        try:
            with contextlib.suppress(duckdb.Error):    # a reader's transaction came first
                conn.execute("CHECKPOINT")
        finally:   # under load (indexes off) only the vacuumed ones, else all noted
            self._reindex(stale if self.unindexed else None)
        log.info("vacuumed %d keyed state tables in %.2f s", len(stale),
                 time.perf_counter() - started)

    def _stale_indexes(self) -> list[tuple[str, str]]:
        """(index, table) of the keyed state's ART indexes (on its key hash: what `_reindex`
        rebuilds) whose tables hold enough deleted rows to vacuum (DuckDB's `estimated_size`
        counts them, `count(*)` does not)."""
        found = [f for f in self._key_indexes() if f[2] >= VACUUM_MIN_DEAD]
        if not found:
            return []
        live = self.conn.execute(" UNION ALL ".join(
            f"SELECT {i}, count(*) FROM {phys(t)}" for i, (_, t, _) in enumerate(found))
        ).fetchall()
        stale = []
        for i, n in live:
            name, table, stored = found[i]
            dead = stored - n
            if dead >= VACUUM_MIN_DEAD and dead >= VACUUM_DEAD_SHARE * stored:
                stale.append((name, table))
        return stale

    def _key_indexes(self) -> list[tuple[str, str, int]]:
        """(index, table, the table's estimated rows) of the keyed state's ART indexes (on its
        key hash: what `_reindex` rebuilds)."""
        return self.conn.execute(
            "SELECT i.index_name, i.table_name, t.estimated_size FROM duckdb_indexes() i "
            "JOIN duckdb_tables() t USING (database_name, schema_name, table_name) "
            "WHERE i.schema_name = ? AND NOT i.is_unique AND NOT i.is_primary "
            "AND i.expressions = ?", [SCHEMA, f"[{KEY_HASH}]"]).fetchall()

    @property
    def indexes_on(self) -> bool:
        """No keyed state index is off for the load (eddy.storage.key_indexes)."""
        return not self.unindexed

    def drop_key_indexes(self, keep=frozenset()) -> int:
        """Drop the keyed state indexes but those of the tables in `keep` (noted for
        `_reindex`, with any noted before); the number dropped."""
        found = [(name, table) for name, table, _ in self._key_indexes() if table not in keep]
        if found:
            self._drop_noted(found)
        self.unindexed |= {table for _, table in found}
        return len(found)

    def _drop_noted(self, pairs) -> None:
        """Drop (index, table) pairs' indexes, noting them among those to rebuild
        (REINDEX_META) in the same transaction."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            noted = [tuple(x) for x in self.get_meta(REINDEX_META) or []]
            self.set_meta(REINDEX_META, noted + [tuple(p) for p in pairs
                                                 if tuple(p) not in noted], conn)
            for name, _ in pairs:
                conn.execute(f"DROP INDEX {phys(name)}")
            conn.execute("COMMIT")
        except duckdb.Error:
            conn.execute("ROLLBACK")
            raise

    def rebuild_key_indexes(self, tables=None) -> None:
        """The indexes `drop_key_indexes` (or a fold's vacuum) dropped, built again; `tables`:
        only those of these tables."""
        if tables is None:
            self._reindex()
            self.unindexed.clear()
            return
        self._reindex([p for p in (self.get_meta(REINDEX_META) or []) if p[1] in tables])
        self.unindexed -= set(tables)

    def _reindex(self, only: list | None = None) -> None:
        """Rebuild the indexes a fold dropped (see checkpoint) or the load did (key_indexes);
        `only`: just these (index, table) pairs, the others stay noted."""
        pending = [tuple(x) for x in self.get_meta(REINDEX_META) or []]
        wanted = None if only is None else {tuple(x) for x in only}
        now = [p for p in pending if wanted is None or p in wanted]
        if not now:
            return
        conn = self.conn
        conn.execute("BEGIN")
        try:
            for name, table in now:
                if relation_kind(conn, table) == "BASE TABLE":    # not dropped since
                    conn.execute(f"CREATE INDEX IF NOT EXISTS {q(name)} ON {phys(table)} ({KEY_HASH})")
            rest = [p for p in pending if p not in now]
            if rest:
                self.set_meta(REINDEX_META, rest, conn)
            else:
                conn.execute(f"DELETE FROM {phys('meta')} WHERE key = ?", [REINDEX_META])
            conn.execute("COMMIT")
        except duckdb.Error:
            conn.execute("ROLLBACK")
            raise

    def durable(self) -> None:
        """Return once what has committed survives a crash (a file's commit already does)."""
        if self.snapshots is not None:
            self.snapshots.durable()

    def close(self) -> None:
        if self.snapshots is not None:
            self.snapshots.stop()
            with contextlib.suppress(duckdb.Error):
                self.snapshots.take()
        with contextlib.suppress(duckdb.Error):
            self.conn.execute("CHECKPOINT")
        self.conn.close()
        if self.snapshots is not None:
            self.snapshots.release()
