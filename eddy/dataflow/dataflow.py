"""A maintained relation: an operator tree whose output is kept in the object's table, or
served from the root operator's own state when that already holds exactly the output rows."""

from __future__ import annotations

from eddy.dataflow import jsonpaths, keyed_state
from eddy.dataflow.operators import Map, Node, UnionAll
from eddy.dataflow.operators_first import FirstRow
from eddy.dataflow.operators_keyed import FullRecompute, KeyedRecompute
from eddy.dataflow.runtime import (
    Deferred,
    Rel,
    TickContext,
    W,
    apply_delta,
    cols_sql,
    consolidate_sql,
)
from eddy.storage.state import SCHEMA, phys, q, relation_kind


class Dataflow:
    """Output relation `_eddy.<id>` (columns and weight) and reader view `_eddy.<id>_r`.

    The output is a table (with the row hash `__h` it is indexed by, so that retractions find
    their rows without a scan) that each tick merges the root's delta into; or, when the root
    keeps its whole output in its own state (`served_sql`), a DuckDB view over that state, so
    that a tick writes each output row once (the delta is only renamed, and consolidated where
    a map on top may merge rows)."""

    def __init__(self, object_id: str, root: Node, names: list[str]):
        self.object_id, self.root, self.names = object_id, root, names
        self.error: Exception | None = None
        self.rows_scanned = 0     # state rows the last step read (keyed lookups, scans)
        self.key = keyed_state.hash_sql([f"__in.{q(n)}" for n in names])
        self.served: str | None = None    # SQL of the output read from the root's state
        self.sizes = keyed_state.Sizes()
        _mark_forgetting_filters(root)

    @property
    def table(self) -> str:
        return phys(self.object_id)

    def state_tables(self) -> list[str]:
        return [t for n in self.root.walk() for t in n.state_tables()]

    def setup(self, rt: TickContext, fresh: bool) -> None:
        self.served = served_sql(self.root, self.names)
        kind = relation_kind(rt.conn, self.object_id)
        if kind is None or (kind == "BASE TABLE" and not self._keyed_layout(rt)):
            fresh = True     # no output, or written before tables were key-indexed: rebuild
        if self.served is None and kind == "VIEW":
            rt.run(f"DROP VIEW {self.table}")     # served by an earlier plan: rebuild
            fresh = True
        self.root.setup(rt, fresh)
        if self.served is not None:
            if kind == "BASE TABLE":
                rt.run(f"DROP TABLE {self.table}")     # a copy kept by an earlier build
            rt.run(f"CREATE OR REPLACE VIEW {self.table} AS {self.served}")
        elif fresh:
            items = ", ".join(f"{q(c)} AS {q(n)}" for c, n in zip(self.root.cols, self.names, strict=False))
            sep = ", " if items else ""
            keyed_state.create(rt, self.table, consolidate_sql(
                f"(SELECT {items}{sep}{W} FROM ({self.root.full()}))", self.names), self.key)
        if fresh or self.served is not None:
            # Rows of weight 1 (nearly all) straight from the table, so that a read's filter
            # reaches its scan; only heavier rows are repeated (an unnest blocks the pushdown:
            # 500 users out of 60,000 rows read in 11 ms instead of 23).
            cols = cols_sql(self.names)
            rt.run(f"CREATE OR REPLACE VIEW {phys(self.object_id + '_r')} AS "
                   f"SELECT {cols} FROM {self.table} WHERE {W} = 1 UNION ALL "
                   f"SELECT {cols} FROM (SELECT *, unnest(range({W})) AS __i "
                   f"FROM {self.table} WHERE {W} > 1)")

    def step(self, rt: TickContext) -> Rel | None:
        """This tick's change of the output; records the state rows read in `rows_scanned`."""
        before = rt.scanned
        try:
            return self._step(rt)
        finally:
            self.rows_scanned = rt.scanned - before

    def _step(self, rt: TickContext) -> Rel | None:
        items = ", ".join(f"{q(c)} AS {q(n)}" for c, n in zip(self.root.cols, self.names,
                                                               strict=True))
        sep = ", " if items else ""
        table = None    # the root's delta when it is a table (not SQL fused from below)
        if self.served is not None and type(self.root).fused_sql is Node.fused_sql:
            table = self.root.step(rt)
            if table is None or not table.num_rows:
                return None
            got = (f"SELECT * FROM {table.name}", table.unit)
        else:   # the top maps and unions (an aggregate's change below them) fused in
            got = self.root.fused_sql(rt)
        if got is None:
            return None
        sql, unit = got
        named = f"SELECT {items}{sep}{W} FROM ({sql})"
        if self.served is None:
            return apply_delta(rt, self.table, self.names, named, self.key, unit=unit,
                               sizes=self.sizes)
        # the root's state is the output: the delta only named (a keyed recompute's delta is
        # consolidated; a first-row delta of new winners only is a set; a map may merge
        # rows), made only if read (eddy.dataflow.runtime.Deferred): a table's columns
        # renamed by a view (stg_clicks: a 3.3 ms copy of 9,800 rows per 20k-event tick)
        recompute = isinstance(self.root, KeyedRecompute | FullRecompute)
        plain = unit or recompute
        if plain and table is not None:
            out = Deferred(rt, named, view=True, rows=table.num_rows)
        else:
            out = Deferred(rt, named if plain else consolidate_sql(f"({named})", self.names))
        out.unit, out.consolidated = unit, recompute or not plain
        return out

    def _keyed_layout(self, rt: TickContext) -> bool:
        row = rt.conn.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "AND column_name = ?", [SCHEMA, self.object_id, keyed_state.H]).fetchone()
        return bool(row[0])

    def drop(self, conn) -> None:
        conn.execute(f"DROP VIEW IF EXISTS {phys(self.object_id + '_r')}")
        kind = relation_kind(conn, self.object_id)
        if kind is not None:
            conn.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {self.table}")
        for v in (v for n in self.root.walk() for v in n.state_views()):
            conn.execute(f"DROP VIEW IF EXISTS {phys(v)}")
        for t in self.state_tables():
            conn.execute(f"DROP TABLE IF EXISTS {phys(t)}")

    def explain(self) -> list[str]:
        return self.root.explain()

    def counters(self) -> tuple[int, int]:
        nodes = list(self.root.walk())
        return sum(n.rows_read for n in nodes), sum(n.rows_written for n in nodes)

    def reset_counters(self) -> None:
        for n in self.root.walk():
            n.rows_read = n.rows_written = 0


def served_sql(root: Node, names: list[str]) -> str | None:
    """SQL of a dataflow's whole output (columns `names`, weight) read from the state of the
    operators below its top maps and unions, when each keeps exactly its output rows: a keyed
    recompute (its state is its output with the key columns), a recompute-and-diff (its last
    result), a first row per key (the winners), a grouped aggregate (a projection of its
    accumulators: groups whose count is not zero) or min/max (the extremes). The maps may
    filter only over aggregates (HAVING: a read scans the accumulators, the only copy); no
    shared JSON extraction (a read would parse documents again). None: keep an output table."""
    sql = _state_sql(root, False)
    if sql is None:
        return None
    items = ", ".join(f"{q(c)} AS {q(n)}" for c, n in zip(root.cols, names, strict=True))
    sep = ", " if items else ""
    return f"SELECT {items}{sep}{W} FROM ({sql})"


def _state_sql(node: Node, filtered: bool) -> str | None:
    """A node's whole output read from the states below it (`filtered`: under a filter)."""
    from eddy.dataflow.operators_agg import LinearAgg, MinMaxAgg

    if isinstance(node, Map):
        if jsonpaths.share(tuple(node.exprs), node.where) is not None:
            return None
        inner = _state_sql(node.children[0], filtered or node.where is not None)
        return None if inner is None else node.select_sql(inner)
    if isinstance(node, UnionAll):
        parts = [_state_sql(c, filtered) for c in node.children]
        if any(p is None for p in parts):
            return None
        names = cols_sql(node.cols + [W])
        return " UNION ALL ".join([f"SELECT * FROM ({parts[0]}) AS __u({names})"]
                                  + [f"SELECT * FROM ({p})" for p in parts[1:]])
    if isinstance(node, LinearAgg | MinMaxAgg):
        return node.full()
    if isinstance(node, KeyedRecompute | FullRecompute | FirstRow) and not filtered:
        return node.full()
    return None


def _mark_forgetting_filters(root: Node) -> None:
    """Temporal filters whose every consumer takes only deltas after setup (a linear aggregate,
    the dataflow's output table, or a map feeding only such) may drop the rows they released
    for good (TemporalFilter.forget_released)."""
    from eddy.dataflow.operators_agg import LinearAgg
    from eddy.dataflow.temporal import TemporalFilter

    parents: dict[int, list[Node]] = {}
    for node in root.walk():
        for child in node.children:
            parents.setdefault(id(child), []).append(node)

    def deltas_only(node: Node) -> bool:
        if node is not root and not parents.get(id(node)):
            return False
        consumers = parents.get(id(node), [])
        return all(isinstance(p, LinearAgg) or (isinstance(p, Map) and deltas_only(p))
                   for p in consumers)

    for node in root.walk():
        if isinstance(node, TemporalFilter):
            node.forget_released = deltas_only(node)
