"""The state database: one DuckDB file holding tables, view state, catalog and offsets."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import duckdb

from eddy.catalog.objects import CatalogObject
from eddy.sql.functions import install as install_sql_functions

SCHEMA = "_eddy"
FILE_NAME = "eddy.duckdb"
# The WAL size at which a commit checkpoints (see StateDB); EDDY_CHECKPOINT_THRESHOLD overrides.
CHECKPOINT_THRESHOLD = os.environ.get("EDDY_CHECKPOINT_THRESHOLD") or "1GB"
# String compressions a checkpoint does not try (see StateDB); EDDY_DISABLED_COMPRESSION overrides
# ("" tries them all).
DISABLED_COMPRESSION = os.environ.get("EDDY_DISABLED_COMPRESSION", "fsst,dict_fsst,dictionary")


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def phys(name: str) -> str:
    """Qualified physical name of a state table in the engine schema."""
    return f"{q(SCHEMA)}.{q(name)}"


def relation_kind(conn, name: str) -> str | None:
    """'BASE TABLE', 'VIEW' or None: what `_eddy.<name>` is."""
    row = conn.execute("SELECT table_type FROM information_schema.tables WHERE table_schema = ? "
                       "AND table_name = ?", [SCHEMA, name]).fetchone()
    return row[0] if row else None


class StateDB:
    """Owns the DuckDB connection; catalog, offsets and metadata live in the engine schema."""

    def __init__(self, data_dir: str | Path | None):
        self.path = None
        self._offsets: dict[str, dict] = {}   # committed offsets per source (tick_offsets)
        if data_dir is not None:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            self.path = str(Path(data_dir) / FILE_NAME)
        self.conn = duckdb.connect(self.path or ":memory:")
        self.conn.execute("SET GLOBAL TimeZone = 'UTC'")
        # One DuckDB thread: a tick's statements are small, and a second thread costs more
        # CPU in coordination than it saves in wall time on this 2-core machine shared with
        # Kafka (bench/profile_ticks.py, load ~7: 1,787 vs 2,330 ms CPU per 1k-event tick, wall
        # equal). EDDY_DUCKDB_THREADS overrides it.
        threads = int(os.environ.get("EDDY_DUCKDB_THREADS") or 1)
        self.conn.execute(f"SET GLOBAL threads = {threads}")
        install_sql_functions(self.conn)   # Materialize functions DuckDB lacks (eddy.sql)
        # DuckDB folds the WAL into the file (a checkpoint) at the commit that passes this
        # threshold, and the tick waits for it: seconds, growing with the state (the changed row
        # groups rewritten, every ART index serialized again). The engine folds it when idle
        # instead (Engine: IDLE_CHECKPOINT_*); under sustained load only this cap applies.
        # Cost: a crash under load replays up to this much WAL at start (~3 s per 100 MB).
        self.conn.execute("SET checkpoint_threshold = ?", [CHECKPOINT_THRESHOLD])
        # Most of a checkpoint's time went to choosing how to compress the new string columns
        # (FSST and dictionary analysis), not to writing them. Without those methods strings are
        # stored plain (numbers are still compressed): bench/profile_ticks.py --history 300000
        # --checkpoint folded 381 MB of WAL in 1.07 s instead of 2.7-2.9 s, ticks unchanged,
        # for a file of 448 MB instead of 200. The fold stops every tick (DuckDB 1.4).
        self.conn.execute("SET disabled_compression_methods = ?", [DISABLED_COMPRESSION])
        # Key-indexed state (eddy.dataflow.keyed_state): a hash join whose build side has up
        # to this many distinct keys pushes them into the probe scan as an IN filter, which
        # an ART index answers. DuckDB then fetches the matching rows by index when they are
        # fewer than max(512, 0.5% of the table), else scans: measured on DuckDB 1.4.5, one
        # fetched row costs about as much as ~200 scanned ones.
        for setting in ("dynamic_or_filter_threshold = 20000", "index_scan_max_count = 512",
                        "index_scan_percentage = 0.005"):
            self.conn.execute(f"SET GLOBAL {setting}")
        self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(SCHEMA)}")
        for ddl in (
            f"CREATE TABLE IF NOT EXISTS {phys('catalog')} (id VARCHAR PRIMARY KEY, body VARCHAR)",
            f"CREATE TABLE IF NOT EXISTS {phys('offsets')} (id VARCHAR PRIMARY KEY, body VARCHAR)",
            f"CREATE TABLE IF NOT EXISTS {phys('meta')} (key VARCHAR PRIMARY KEY, value VARCHAR)",
        ):
            self.conn.execute(ddl)

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
        """Fold the WAL into the file now; False when DuckDB refuses (a transaction is open)."""
        try:
            self.conn.execute("CHECKPOINT")
        except duckdb.Error:
            return False
        return True

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.conn.execute("CHECKPOINT")
        self.conn.close()
