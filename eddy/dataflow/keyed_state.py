"""Key-indexed state: a state table finds the rows of a key without a full scan.

Layout: the table's columns, the weight, then `__h`, a UBIGINT hash of the row's key, with an
ART index on `__h`. A lookup semi-joins the table with the tick's (small) relation of touched
hashes; DuckDB pushes the build side of that hash join into the probe scan as an IN filter,
which the ART index answers (an Index Scan reading only the matching rows). When a change
touches a large share of the table DuckDB scans it instead (settings in eddy/storage/state.py);
both cost about the same there. Hash collisions only add candidates: callers keep their exact
key comparison.

Key expressions are DuckDB SQL over the alias `__in`. A table hashes its own key values as
they are; a probe from another input casts its key to the table's key types first (TRY_CAST:
a value the type cannot hold equals no stored key), so equal keys hash alike."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eddy.storage.state import KEY_HASH, q, unphys

if TYPE_CHECKING:
    from eddy.dataflow.runtime import Rel, TickContext

H = KEY_HASH   # the key hash column every keyed state table is indexed on
RID = "__rid"  # a looked-up row's DuckDB rowid (Sizes.lookup, Sizes.delete_found)


def hash_sql(exprs: list[str], types: list[str | None] | None = None) -> str:
    """SQL of the key hash (UBIGINT) of a row under alias `__in`; `types`: cast each key
    expression to that type first (None: as it is)."""
    if not exprs:
        return "0::UBIGINT"
    types = types or [None] * len(exprs)
    parts = [f"TRY_CAST(({e}) AS {t})" if t else f"({e})"
             for e, t in zip(exprs, types, strict=True)]
    return f"hash({', '.join(parts)})"


def key_types(conn, rel: str, exprs: list[str]) -> list[str]:
    """The DuckDB types of key expressions over a relation (SQL)."""
    if not exprs:
        return []
    items = ", ".join(f"({e}) AS _k{i}" for i, e in enumerate(exprs))
    return [r[1] for r in conn.execute(f"DESCRIBE SELECT {items} FROM ({rel}) AS __in")
            .fetchall()]


def probe_types(mine: list[str], theirs: list[str]) -> list[str | None]:
    """Casts for probing a table keyed by types `theirs` with keys of types `mine`."""
    return [None if a == b else b for a, b in zip(mine, theirs, strict=True)]


def create(rt: TickContext, table: str, select_sql: str, key: str) -> None:
    """(Re)create a keyed state table from a query (its rows under alias __in); `key` is
    the hash SQL of a row."""
    rt.create_state(table, f"SELECT __in.*, {key} AS {H} FROM ({select_sql}) AS __in")
    index_on(rt, table)


def index_on(rt: TickContext, table: str) -> None:
    """The ART index on `__h` (named after the table; dropped with it)."""
    name = unphys(table) + "_h"
    rt.run(f"CREATE INDEX IF NOT EXISTS {q(name)} ON {table} ({H})")


def hashes(rt: TickContext, rel: str, key: str) -> Rel:
    """The distinct key hashes of a relation (a tick-local relation of one column)."""
    return rt.table(f"SELECT DISTINCT {key} AS {H} FROM ({rel}) AS __in")


def join_on_hash(alias: str, indexed: bool) -> str:
    """The condition joining a state table's rows (`alias`) with probed hashes (t): on `__h`
    itself, which DuckDB reads by the index, or through xor(), which it only scans."""
    if indexed:
        return f"{alias}.{H} = t.{H}"
    return f"xor({alias}.{H}, 1::UBIGINT) = xor(t.{H}, 1::UBIGINT)"


# DuckDB reads a table by its ART index when fewer rows than max(index_scan_max_count,
# index_scan_percentage * rows) match (the values eddy/storage/state.py sets); with more, it
# still pushes the probe's hashes into the table's scan as an IN filter (up to
# dynamic_or_filter_threshold, 20000) and tests every row against it: a lookup of 6,373 keys
# in 11,662 sessions took 9.5 ms, as a plain hash join (the hashes compared through xor(),
# which it does not push down) 1.7 ms.
INDEX_SCAN_MAX = 512
INDEX_SCAN_SHARE = 0.005
# A lookup of N keys by index costs ~2.3 µs a key; a hash join over the whole table ~35-60 ns
# a row. So a table with fewer than this many rows per probed key is scanned: 9,800 (group,
# user) pairs of a 20k-event tick looked up in 50,000 stored pairs took 23 ms by index, 3 ms
# by scan (295,000 pairs: 29 against 10 ms).
ROWS_PER_PROBE = 40
# DuckDB's own dynamic_or_filter_threshold: a join pushes only its keys' min and max into the
# other side's scan (delete_found)
RANGE_ONLY = 50


class Sizes:
    """The one rule for reading or deleting the rows of some keys of an operator's state
    tables: by the `__h` index, or by a hash join over a scan of the table. It keeps each
    table's estimated rows (counted, moved by the rows the operator's statements insert and
    delete, counted again every RECOUNT uses)."""

    RECOUNT = 64    # uses of an estimate before it is counted again (rows moved unseen)

    def __init__(self):
        self.rows: dict[str, int] = {}
        self.uses: dict[str, int] = {}

    def estimate(self, rt: TickContext, table: str) -> int:
        self.uses[table] = uses = self.uses.get(table, 0) + 1
        n = self.rows.get(table)
        if n is None or uses % self.RECOUNT == 0:
            n = self.rows[table] = rt.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return n

    def by_index(self, rt: TickContext, table: str, probes: int) -> bool:
        """Whether `probes` keys are read from `table` by index: cheaper than a scan, and few
        enough that DuckDB serves them from the index. Such a table is noted in
        `rt.index_wanted` even while its index is off (eddy.storage.key_indexes)."""
        n = self.estimate(rt, table)
        if not (n > ROWS_PER_PROBE * probes and (probes <= INDEX_SCAN_MAX or
                                                 probes <= INDEX_SCAN_SHARE * n)):
            return False
        rt.index_wanted.add(table)
        return table not in rt.unindexed

    def match(self, rt: TickContext, table: str, alias: str, probes: int) -> str:
        """The join condition of the table's rows (`alias`) with the probed hashes (t)."""
        return join_on_hash(alias, self.by_index(rt, table, probes))

    def on(self, rt: TickContext, table: str, probes: int, alias: str = "s") -> str:
        """`match` as the start of a condition that an exact key comparison completes."""
        return f"{self.match(rt, table, alias, probes)} AND "

    def moved(self, table: str, n: int | None) -> None:
        """`n` rows added (negative: removed); None: unknown, counted again when next asked."""
        if n is None:
            self.rows.pop(table, None)
        elif table in self.rows:
            self.rows[table] += n

    def insert(self, rt: TickContext, table: str, sql: str) -> None:
        self.moved(table, rt.conn.execute(sql).fetchone()[0])

    def lookup(self, rt: TickContext, table: str, cols: list[str], touched: Rel | str,
               exact: str | None = None, alias: str = "s", residual: str | None = None,
               params: dict | None = None, rowids: bool = False) -> Rel:
        """The rows of the state table whose key hash is in `touched` (a relation with `__h`,
        or SQL of one: then by index); columns `cols`, in that order. `exact`: and that meet
        this condition (SQL over the aliases `alias`, the table, and t, `touched`), in the
        same statement. `residual`: a further condition over both, applied after an inner join
        (`exact` must then match each row to at most one row of `touched`): in the join's ON,
        a comparison of both sides (a time range) makes DuckDB drop the hash join for a
        nested loop. `params`: the named parameters of `residual`. `rowids`: when the table
        is scanned (not read by index), each row's `rowid` too, as a last column `__rid` (the
        Rel's `rowids` then True), for `delete_found`."""
        items = ", ".join(f"{alias}.{q(c)}" for c in cols)
        cond = f" AND {exact}" if exact else ""
        src = f"({touched})" if isinstance(touched, str) else touched.name
        indexed = isinstance(touched, str) or self.by_index(rt, table, touched.num_rows)
        match = join_on_hash(alias, indexed)
        rowids = rowids and not indexed
        if rowids:
            items += f", {alias}.rowid AS {RID}"
        sql = f"SELECT {items} FROM {table} {alias} SEMI JOIN {src} t ON {match}{cond}"
        if residual:
            sql = (f"SELECT {items} FROM {table} {alias} JOIN {src} t ON {match}{cond} "
                   f"WHERE {residual}")
        if not isinstance(touched, str) and not touched.num_rows:
            out = rt.table(f"{sql} LIMIT 0", params)
        elif not rt.profile_scans:
            out = rt.table(sql, params)
            rt.scanned += out.num_rows
        else:
            empty = rt.table(f"SELECT * FROM ({sql}) LIMIT 0", params)
            rt.scanned += profiled(rt, f"INSERT INTO {empty.name} {sql}", table, params)
            out = type(empty)(rt, empty.name)
        out.rowids = rowids
        return out

    def delete_found(self, rt: TickContext, table: str, found: Rel, touched: Rel, exact: str,
                     params: dict | None = None) -> None:
        """Delete the rows that `lookup` found, as `delete` with the same `touched`, `exact`
        and `params` would. When the lookup scanned the table it kept their rowids, and the
        DELETE goes by them rather than by a second hash join over the table's key columns
        (the session merge's DELETE at 3,000-event ticks over 440,000 events of state: 9.3 ms
        by the keys, 4.3 by rowid). The rows were read in the same transaction, so their
        rowids still hold."""
        if not found.rowids:
            self.delete(rt, table, touched, exact, params)
            return
        if not found.num_rows:
            return
        sql = f"DELETE FROM {table} s USING {found.name} f WHERE s.rowid = f.{RID}"
        # Under the engine's dynamic_or_filter_threshold (20,000: eddy/storage/state.py) DuckDB
        # would push the thousands of rowids into the table's scan as an IN filter and test
        # every stored row against it: the session merge's DELETE of 13,258 sessions among
        # 191,597 rows took 17-27 ms so, 1.5-1.8 with only the rowids' range pushed (DuckDB's
        # default threshold) on a copy of that state.
        rt.run(f"SET dynamic_or_filter_threshold = {RANGE_ONLY}")
        try:
            if rt.profile_scans:
                rt.scanned += profiled(rt, sql, table)
                self.moved(table, None)
            else:
                self.moved(table, -rt.conn.execute(sql).fetchone()[0])
        finally:
            rt.run("RESET dynamic_or_filter_threshold")

    def delete(self, rt: TickContext, table: str, touched: Rel, exact: str,
               params: dict | None = None) -> None:
        """Delete the rows whose key hash is in `touched` and that meet `exact` (SQL over the
        aliases s, the table, and t, `touched`, with `params`); counts the rows it reads as
        `lookup` does."""
        if not touched.num_rows:
            return
        sql = (f"DELETE FROM {table} s USING {touched.name} t WHERE "
               f"{self.on(rt, table, touched.num_rows)}{exact}")
        if rt.profile_scans:
            rt.scanned += profiled(rt, sql, table, params)
            self.moved(table, None)
        else:
            self.moved(table, -rt.conn.execute(sql, params or []).fetchone()[0])


# DuckDB skips the row groups of a table whose min/max (its zonemap) exclude a scan's constant
# filter. The state of an aggregate grouped by a time bucket (page views per minute) is
# clustered by that bucket, as its groups are written when their rows arrive; so the range of
# the change's buckets, as a WHERE bound on the stored rows, keeps a lookup from reading all
# of history: 10,000 (minute, page, user) pairs looked up among 1.2 M took 64.5 ms, 6.2 ms
# with the bound. The bound must be parameters in the WHERE: in the join's ON, or from a
# subquery, DuckDB does not push it into the scan.
BOUND_MIN_ROWS = 2 * 122_880    # two of DuckDB's row groups: a smaller table gains nothing


def is_temporal(duckdb_type: str) -> bool:
    return duckdb_type.startswith("TIMESTAMP") or duckdb_type == "DATE"


@dataclass(frozen=True)
class TimeBound:
    """Each of some time columns of a state table within the range of a change's values
    (NULL too where the change has NULLs): a condition every stored row of the change's keys
    meets, as SQL with named parameters."""

    cols: tuple[str, ...]
    nulls: tuple[bool, ...]
    params: dict

    @classmethod
    def of(cls, rt: TickContext, rel: str, cols: dict[str, str]) -> TimeBound | None:
        """The bound of stored columns `cols` (name: its expression over `rel`, alias __in)."""
        items = ", ".join(f"min({e}), max({e}), count(*) FILTER (WHERE ({e}) IS NULL)"
                          for e in cols.values())
        row = rt.conn.execute(f"SELECT {items} FROM ({rel}) AS __in").fetchone()
        params, nulls = {}, []
        for i in range(len(cols)):
            lo, hi, n = row[3 * i:3 * i + 3]
            if lo is not None:
                params[f"__lo{i}"], params[f"__hi{i}"] = lo, hi
            nulls.append(n > 0)
        if not params and not any(nulls):
            return None
        return cls(tuple(cols), tuple(nulls), params)

    def sql(self, alias: str) -> str:
        parts = []
        for i, (c, null) in enumerate(zip(self.cols, self.nulls, strict=True)):
            col = f"{alias}.{q(c)}"
            some = [f"{col} BETWEEN $__lo{i} AND $__hi{i}"] if f"__lo{i}" in self.params else []
            parts.append("(" + " OR ".join(some + [f"{col} IS NULL"] * null) + ")")
        return " AND ".join(parts)


def profiled(rt: TickContext, sql: str, tables: str | list[str],
             params: dict | None = None) -> int:
    """Run a statement under DuckDB's profiler; returns the rows it read from `tables` (one
    name or several): the rows fetched where DuckDB used the index, the whole table where it
    scanned it."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        rt.run("PRAGMA enable_profiling = 'json'")
        rt.run(f"PRAGMA profiling_output = '{path}'")
        try:
            rt.run(sql, params)
        finally:
            rt.run("PRAGMA disable_profiling")
        with open(path) as f:
            plan = json.load(f)
    finally:
        os.unlink(path)
    names = {unphys(t): t
             for t in ([tables] if isinstance(tables, str) else tables)}
    total = 0
    stack = [plan]
    while stack:
        node = stack.pop()
        stack += node.get("children", [])
        info = node.get("extra_info") or {}
        # DuckDB 1.5 names it catalog.schema.table, 1.4 the table alone
        table = names.get(str(info.get("Table", "")).rsplit(".", 1)[-1])
        if table is None:
            continue
        if info.get("Type") == "Index Scan":
            total += int(node.get("operator_cardinality", 0))
        else:
            total += rt.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return total


def insert(rt: TickContext, table: str, rel: str, key: str) -> None:
    """Append rows (a relation with the table's columns but `__h`), hashing their keys."""
    rt.run(f"INSERT INTO {table} SELECT __in.*, {key} AS {H} FROM ({rel}) AS __in")
