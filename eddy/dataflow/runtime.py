"""The per-tick execution context that operators run their delta SQL in."""

from __future__ import annotations

import contextlib
import itertools

import pyarrow as pa
import pyarrow.compute as pc

from eddy.storage.state import q

W = "__w"  # the weight column of every Z-set relation
_names = itertools.count()


class TickContext:
    """One tick: DuckDB connection (inside the tick transaction), time, and base deltas."""

    def __init__(self, conn, now: int, prev: int):
        self.conn = conn
        self.now = now
        self.prev = prev
        self.deltas: dict[str, pa.Table] = {}   # object id -> consolidated Z-set delta
        self._registered: list[str] = []

    def reg(self, table: pa.Table) -> str:
        """Register an Arrow table under a fresh name usable in SQL for this tick."""
        name = f"__d{next(_names)}"
        self.conn.register(name, table)
        self._registered.append(name)
        return name

    def arrow(self, sql: str, params=None) -> pa.Table | None:
        """Run a query; its result as Arrow, or None when it has no rows."""
        table = self.conn.execute(sql, params or []).fetch_arrow_table()
        return table if table.num_rows else None

    def table(self, sql: str, params=None) -> pa.Table:
        return self.conn.execute(sql, params or []).fetch_arrow_table()

    def run(self, sql: str, params=None) -> None:
        self.conn.execute(sql, params or [])

    def close(self) -> None:
        for name in self._registered:
            with contextlib.suppress(Exception):  # the connection may be gone after a failure
                self.conn.unregister(name)
        self._registered.clear()


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


def apply_delta(rt: TickContext, table: str, cols: list[str], delta: pa.Table) -> pa.Table | None:
    """Merge a Z-set delta into a weighted state table; returns the consolidated delta."""
    d = rt.arrow(consolidate_sql(rt.reg(delta), cols))
    if d is None:
        return None
    dn = rt.reg(d)
    if pc.min(d.column(W)).as_py() > 0:
        # insert-only: append; a row may then be stored in several entries whose weights
        # add up (readers expand weights, merges consolidate), so no scan of the state
        rt.run(f"INSERT INTO {table} SELECT * FROM {dn}")
        return d
    merged = rt.table(consolidate_sql(
        f"(SELECT s.* FROM {table} s SEMI JOIN {dn} d ON {nullsafe('s', 'd', cols)} "
        f"UNION ALL SELECT * FROM {dn})", cols))
    rt.run(f"DELETE FROM {table} s USING {dn} d WHERE {nullsafe('s', 'd', cols)}")
    if merged.num_rows:
        rt.run(f"INSERT INTO {table} SELECT * FROM {rt.reg(merged)}")
    return d


def expand_sql(rel: str, cols: list[str]) -> str:
    """Plain multiset rows (each repeated weight times) of a weighted relation."""
    return (f"SELECT {cols_sql(cols)} FROM (SELECT *, unnest(range({W})) AS __i FROM {rel} "
            f"WHERE {W} > 0)")
