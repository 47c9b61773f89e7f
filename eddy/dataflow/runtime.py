"""The per-tick execution context that operators run their delta SQL in."""

from __future__ import annotations

import contextlib
import itertools

import pyarrow as pa

from eddy.dataflow import keyed_state
from eddy.storage.state import create_table_sql, q

W = "__w"  # the weight column of every Z-set relation
_names = itertools.count()


class Rel:
    """A tick-local relation: a DuckDB temp table (scanning Arrow from Python costs several
    ms per statement; a temp table costs well under one)."""

    rowids = False   # its last column `__rid` holds the rowids of a state table's rows

    def __init__(self, rt: TickContext, name: str):
        self.rt, self.name = rt, name
        self._rows: int | None = None
        self.unit = False    # known: every weight is 1 (an insert-only batch, no consolidation)
        self.positive = False    # known: no weight is negative (insert-only)
        self.consolidated = False    # known: each row once, no weight 0

    @property
    def num_rows(self) -> int:
        if self._rows is None:
            self._rows = self.rt.conn.execute(f"SELECT count(*) FROM {self.name}").fetchone()[0]
        return self._rows

    @property
    def column_names(self) -> list[str]:
        return [d[0] for d in self.rt.conn.execute(f"SELECT * FROM {self.name} LIMIT 0")
                .description]

    def to_arrow(self) -> pa.Table:
        return self.rt.conn.execute(f"SELECT * FROM {self.name}").fetch_arrow_table()


class Deferred(Rel):
    """A tick-local relation made when first read (its name, rows or Arrow asked for): a
    dataflow's output change that no later dataflow reads (a mart's, 7 of 16 views) costs
    no statement. `view`: made as a temp view (a renaming of columns of a relation that is
    already a table: no copy); `rows`: its row count when known. Its SQL reads only
    tick-local relations, which no statement changes once made."""

    def __init__(self, rt: TickContext, sql: str, view: bool = False, rows: int | None = None):
        self.rt, self.sql, self.view = rt, sql, view
        self._name: str | None = None
        self._rows = rows
        self.unit = self.positive = self.consolidated = False

    @property
    def name(self) -> str:
        if self._name is None:
            self._make()
        return self._name

    def _make(self) -> None:
        if self.view:
            self._name = self.rt.view(self.sql)
        else:
            made = self.rt.table(self.sql)
            self._name, self._rows = made.name, made._rows

    @property
    def num_rows(self) -> int:
        if self._rows is None and self._name is None:
            self._make()    # a table's row count comes with its CREATE: no count(*) after it
        return super().num_rows

    def to_arrow(self) -> pa.Table:
        if self._name is None:   # read once (a subscriber's copy): no table needed
            return self.rt.conn.execute(self.sql).fetch_arrow_table()
        return super().to_arrow()


class TickContext:
    """One tick: a DuckDB connection inside the tick transaction, time, and base deltas.

    Intermediate results are temp tables of this connection; `close()` drops them (a tick
    runs on its own cursor, and closing that cursor drops them too)."""

    profile_scans = False   # count state reads from DuckDB's profile (index or full scan)
    # keyed state tables whose index is off under load (eddy.storage.key_indexes)
    unindexed: frozenset = frozenset()

    def __init__(self, conn, now: int, prev: int):
        self.conn = conn
        self.now = now
        self.prev = prev
        self.deltas: dict[str, Rel] = {}   # object id -> Z-set delta of this tick
        self.scanned = 0    # state rows read (fetched by key, or whole tables scanned)
        self.index_wanted: set[str] = set()  # tables whose lookups this tick suit their index
        self._temps: list[str] = []
        self._views: list[str] = []
        # (input object id, filter SQL) that maps of several dataflows apply to the same
        # input: filtered once per tick (`filtered`), each map projects from the result;
        # each with the input columns that those maps read from the filtered rows
        self.shared_filters: dict[tuple[str, str], frozenset[str]] = {}
        self._filtered: dict[tuple[str, str], Rel] = {}

    def _new(self) -> str:
        name = f"__d{next(_names)}"
        self._temps.append(name)
        return name

    def reg(self, data: Rel | pa.Table) -> str:
        """A name usable in SQL for a tick-local relation or an Arrow table (copied once)."""
        if isinstance(data, Rel):
            return data.name
        view = self._new() + "_arrow"
        self.conn.register(view, data)
        try:
            name = self._new()
            self.conn.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {view}")
        finally:
            self.conn.unregister(view)
        return name

    def rel(self, data: Rel | pa.Table) -> Rel:
        if isinstance(data, Rel):
            return data
        rel = Rel(self, self.reg(data))
        rel._rows = data.num_rows     # known: no count(*) statement when asked
        return rel

    def table(self, sql: str, params=None) -> Rel:
        """Run a query into a new tick-local relation."""
        name = self._new()
        row = self.conn.execute(f"CREATE TEMP TABLE {name} AS {sql}", params or []).fetchone()
        rel = Rel(self, name)
        rel._rows = row[0] if row else None
        return rel

    def view(self, sql: str) -> str:
        """A tick-local view of `sql` (over tick-local relations); its name."""
        name = f"__d{next(_names)}"
        self._views.append(name)
        self.conn.execute(f"CREATE TEMP VIEW {name} AS {sql}")
        return name

    def keyed_table(self, sql: str, tables: list[str], params: dict | None = None) -> Rel:
        """Like table(), for a query that reads state `tables` by key inside it (a lookup
        fused into the statement that uses its rows): counts the state rows it reads, from
        DuckDB's profile under `profile_scans`, else as the result's rows (the touched keys)."""
        if not self.profile_scans:
            rel = self.table(sql, params)
            self.scanned += rel.num_rows
            return rel
        empty = self.table(f"SELECT * FROM ({sql}) LIMIT 0", params)
        self.scanned += keyed_state.profiled(self, f"INSERT INTO {empty.name} {sql}", tables,
                                             params)
        return Rel(self, empty.name)

    def arrow(self, sql: str, params=None) -> Rel | None:
        """Like table(), but None when the result has no rows."""
        rel = self.table(sql, params)
        return rel if rel.num_rows else None

    def filtered(self, delta: Rel, where: str, sql: str) -> Rel:
        """`sql` (the rows of `delta` meeting `where`) as a relation, run once per tick for
        a given delta and condition however many maps ask."""
        key = (delta.name, where)
        if key not in self._filtered:
            rel = self.table(sql)
            rel.unit = delta.unit
            self._filtered[key] = rel
        return self._filtered[key]

    def run(self, sql: str, params=None) -> None:
        self.conn.execute(sql, params or [])

    def create_state(self, table: str, sql: str) -> None:
        """(Re)create a state table holding the rows of a query (eddy.storage.state's
        create_table_sql)."""
        for stmt in create_table_sql(self.conn, table, sql):
            self.run(stmt)

    def close(self) -> None:
        for name in reversed(self._views):   # before the tables they read
            with contextlib.suppress(Exception):
                self.conn.execute(f"DROP VIEW IF EXISTS temp.{name}")
        self._views.clear()
        for name in self._temps:
            with contextlib.suppress(Exception):  # the connection may be gone after a failure
                self.conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        self._temps.clear()


def union_all(rt: TickContext, rels: list[Rel], cols: list[str] | None = None) -> Rel:
    """The sum of Z-sets with the same columns (by position)."""
    if len(rels) == 1:
        return rels[0]
    out = rt.table(" UNION ALL ".join(f"SELECT * FROM {r.name}" for r in rels))
    out.unit = all(r.unit for r in rels)
    return out


def cols_sql(cols: list[str], alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{q(c)}" for c in cols)


def nullsafe(a: str, b: str, a_cols: list[str], b_cols: list[str] | None = None) -> str:
    """Null-safe equality of column lists of two aliases (TRUE when there are none)."""
    b_cols = a_cols if b_cols is None else b_cols
    terms = [f"{a}.{q(x)} IS NOT DISTINCT FROM {b}.{q(y)}" for x, y in zip(a_cols, b_cols, strict=False)]
    return " AND ".join(terms) or "TRUE"


def consolidate_sql(rel: str, cols: list[str]) -> str:
    """SQL summing weights per distinct row and dropping rows whose weight is zero."""
    if not cols:
        return f"SELECT sum({W})::BIGINT AS {W} FROM {rel} HAVING sum({W}) <> 0"
    return (f"SELECT {cols_sql(cols)}, sum({W})::BIGINT AS {W} FROM {rel} "
            f"GROUP BY ALL HAVING sum({W}) <> 0")


def apply_delta(rt: TickContext, table: str, cols: list[str], delta: Rel | str,
                key: str | None = None, unit: bool = False, *,
                sizes: keyed_state.Sizes) -> Rel | None:
    """Merge a Z-set delta (a relation or SQL text) into a weighted state table; returns
    the consolidated delta (`positive` set when it only inserts). `key`: the table is
    key-indexed (eddy.dataflow.keyed_state) and this is the hash SQL of a row; retractions
    then read only the rows of their keys, by index or by scan as `sizes` (the owner's)
    chooses. `unit`: every weight of the delta is 1: appended as it is (no consolidation
    needed)."""
    source = f"({delta})" if isinstance(delta, str) else rt.reg(delta)
    if unit:
        # a tick-local relation is never changed once made: appended and passed on as it is
        d = (delta if delta.num_rows else None) if isinstance(delta, Rel) else \
            rt.arrow(f"SELECT * FROM {source}")
        if d is not None:
            d.unit = True
            items = "*" if key is None else f"__in.*, {key}"
            rt.run(f"INSERT INTO {table} SELECT {items} FROM {d.name} AS __in")
        return d
    if isinstance(delta, Rel) and delta.consolidated:
        # a view's change read by another dataflow is consolidated already (an arrangement of
        # int_risky_events under account_takeover_alerts): no copy
        d = delta if delta.num_rows else None
    else:
        d = rt.arrow(consolidate_sql(source, cols))
    if d is None:
        return None
    d.consolidated = True
    dn = rt.reg(d)
    # insert-only (no negative weight; consolidated weights are never 0): append, in the
    # statement that checks it; a row may then be stored in several entries whose weights
    # add up (readers expand weights, merges consolidate), so no scan of the state
    items = "*" if key is None else f"__in.*, {key}"
    appended = rt.conn.execute(
        f"INSERT INTO {table} SELECT {items} FROM {dn} AS __in "
        f"WHERE NOT EXISTS (SELECT 1 FROM {dn} WHERE {W} < 0)").fetchone()[0]
    if appended:
        d.positive = True
        return d
    if key is None:
        _merge_scanning(rt, table, cols, dn)
        return d
    dh = rt.table(f"SELECT __in.*, {key} AS __h FROM {dn} AS __in")
    # the stored rows of the delta's rows (exact match) merged in one statement
    found = (f"SELECT {cols_sql(cols + [W], 's')} FROM {table} s SEMI JOIN {dh.name} t "
             f"ON {sizes.on(rt, table, dh.num_rows)}{nullsafe('s', 't', cols)}")
    merged = rt.keyed_table(consolidate_sql(f"({found} UNION ALL SELECT * FROM {dn})", cols),
                            [table])
    sizes.delete(rt, table, dh, nullsafe("s", "t", cols))
    if not rt.profile_scans:
        rt.scanned += merged.num_rows       # read again by the DELETE
    if merged.num_rows:
        sizes.insert(rt, table, f"INSERT INTO {table} SELECT __in.*, {key} FROM {merged.name} "
                     f"AS __in")
    return d


def _merge_scanning(rt: TickContext, table: str, cols: list[str], dn: str) -> None:
    """Retractions into a table without a key index: finds its rows by scanning it."""
    rt.scanned += rt.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    merged = rt.table(consolidate_sql(
        f"(SELECT s.* FROM {table} s SEMI JOIN {dn} d ON {nullsafe('s', 'd', cols)} "
        f"UNION ALL SELECT * FROM {dn})", cols))
    rt.run(f"DELETE FROM {table} s USING {dn} d WHERE {nullsafe('s', 'd', cols)}")
    if merged.num_rows:
        rt.run(f"INSERT INTO {table} SELECT * FROM {merged.name}")


def expand_sql(rel: str, cols: list[str]) -> str:
    """Plain multiset rows (each repeated weight times) of a weighted relation. (No `WHERE
    __w > 0`: range() of a weight below 1 is empty anyway, and that filter, pushed into the
    scan of a state table read by key inside the statement, made DuckDB scan it whole.)"""
    return f"SELECT {cols_sql(cols)} FROM (SELECT *, unnest(range({W})) AS __i FROM {rel})"
