"""Stateless and bilinear operators: scan, map/filter, union all, arrange, inner join."""

from __future__ import annotations

from eddy.dataflow.runtime import Rel, TickContext, W, apply_delta, cols_sql, consolidate_sql
from eddy.storage.state import phys, q


class Node:
    """A dataflow operator; its output is a Z-set with columns `cols` plus the weight."""

    label = "node"

    def __init__(self, children: list[Node], cols: list[str]):
        self.children = children
        self.cols = cols
        self.key = ""            # state-table prefix, assigned by the planner
        self.rows_read = 0
        self.rows_written = 0
        self._tick = None
        self._delta = None
        self._ready = False

    # state tables this node owns (physical names)
    def state_tables(self) -> list[str]:
        return []

    def setup(self, rt: TickContext, fresh: bool) -> None:
        for child in self.children:
            if not child._ready:
                child.setup(rt, fresh)
                child._ready = True

    def full(self) -> str:
        """SQL of the node's whole current output (columns + weight)."""
        raise NotImplementedError

    def spec(self) -> str:
        """SQL of the node's output computed from base relations only (no state tables)."""
        return self.full()

    def step(self, rt: TickContext) -> Rel | None:
        """This tick's output delta. A node may feed several parents (the input of
        count(DISTINCT) branches): it runs once per tick and later calls get the same delta."""
        if self._tick is not rt:
            self._tick, self._delta = rt, self._step(rt)
        return self._delta

    def _step(self, rt: TickContext) -> Rel | None:
        raise NotImplementedError

    def describe(self) -> str:
        return self.label

    def walk(self, seen: set | None = None):
        """Every node once (a shared input is visited at its first place)."""
        seen = set() if seen is None else seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield self
        for child in self.children:
            yield from child.walk(seen)

    def count(self, read: Rel | None = None, written: Rel | None = None) -> None:
        self.rows_read += read.num_rows if read is not None else 0
        self.rows_written += written.num_rows if written is not None else 0

    def explain(self, depth: int = 0) -> list[str]:
        lines = ["  " * depth + self.describe()]
        for child in self.children:
            lines += child.explain(depth + 1)
        return lines

    def next_event(self) -> int | None:
        """Earliest future time at which this subtree changes by itself (temporal filters)."""
        times = [t for c in self.children if (t := c.next_event()) is not None]
        return min(times) if times else None


class Scan(Node):
    """An input relation: a table, source or maintained view, read by object id."""

    label = "scan"

    def __init__(self, object_id: str, name: str, cols: list[str], weighted: bool):
        super().__init__([], cols)
        self.object_id, self.name, self.weighted = object_id, name, weighted

    def full(self) -> str:
        if self.weighted:
            return f"SELECT {cols_sql(self.cols)}, {W} FROM {phys(self.object_id)}"
        return f"SELECT {cols_sql(self.cols)}, 1::BIGINT AS {W} FROM {phys(self.object_id)}"

    def _step(self, rt):
        delta = rt.deltas.get(self.object_id)
        self.count(delta, delta)
        return delta

    def describe(self):
        return f"Scan {self.name} ({self.object_id})"


class Map(Node):
    """Linear: filter rows and compute expressions (rendered DuckDB SQL over alias __in)."""

    label = "map"

    def __init__(self, child: Node, exprs: list[str], names: list[str], where: str | None):
        super().__init__([child], names)
        self.exprs, self.where = exprs, where

    def select_sql(self, rel: str) -> str:
        """The map applied to a relation (SQL text)."""
        return self._select(rel)

    def _select(self, rel: str) -> str:
        items = ", ".join(f"{e} AS {q(n)}" for e, n in zip(self.exprs, self.cols, strict=False))
        where = f" WHERE {self.where}" if self.where else ""
        sep = ", " if items else ""
        return f"SELECT {items}{sep}__in.{W} FROM ({rel}) AS __in{where}"

    def full(self):
        return self._select(self.children[0].full())

    def spec(self):
        return self._select(self.children[0].spec())

    def delta_sql(self, rt) -> tuple[str, Rel] | tuple[None, None]:
        """SQL of this tick's delta and the input delta under the chain of maps it fuses."""
        child = self.children[0]
        if isinstance(child, Map):
            inner, leaf = child.delta_sql(rt)
            return (None, None) if inner is None else (self._select(inner), leaf)
        delta = child.step(rt)
        if delta is None:
            return None, None
        self.count(delta, None)
        return self._select(f"SELECT * FROM {rt.reg(delta)}"), delta

    def _step(self, rt):
        sql, _leaf = self.delta_sql(rt)
        if sql is None:
            return None
        out = rt.arrow(sql)
        self.count(None, out)
        return out

    def describe(self):
        parts = []
        if self.where:
            parts.append(f"filter {self.where}")
        parts.append("project " + ", ".join(self.exprs))
        return "Map (linear): " + "; ".join(parts)


class UnionAll(Node):
    """Linear: the sum of its inputs (columns aligned by position)."""

    label = "union all"

    def full(self):
        names = [f"SELECT * FROM ({c.full()})" for c in self.children]
        return " UNION ALL ".join(names)

    def spec(self):
        return " UNION ALL ".join(f"SELECT * FROM ({c.spec()})" for c in self.children)

    def _step(self, rt):
        deltas = [c.step(rt) for c in self.children]
        parts = [d for d in deltas if d is not None]
        if not parts:
            return None
        first = f"SELECT * FROM {parts[0].name}"
        names = parts[0].column_names
        if names != self.cols + [W]:
            pairs = zip(names, self.cols + [W], strict=True)
            items = ", ".join(f"{q(a)} AS {q(b)}" for a, b in pairs)
            first = f"SELECT {items} FROM {parts[0].name}"
        out = rt.table(" UNION ALL ".join([first] + [f"SELECT * FROM {p.name}"
                                                      for p in parts[1:]]))
        self.count(out, out)
        return out

    def describe(self):
        return "Union all (linear)"


class Negate(Node):
    """Linear: weights negated (used for EXCEPT ALL style differences)."""

    def full(self):
        return f"SELECT {cols_sql(self.cols)}, -{W} AS {W} FROM ({self.children[0].full()})"

    def spec(self):
        return f"SELECT {cols_sql(self.cols)}, -{W} AS {W} FROM ({self.children[0].spec()})"

    def _step(self, rt):
        d = self.children[0].step(rt)
        if d is None:
            return None
        return rt.arrow(f"SELECT {cols_sql(self.cols)}, -{W} AS {W} FROM {rt.reg(d)}")


class Arrange(Node):
    """Keeps its input's whole output in a state table so that others can read it cheaply."""

    label = "arrange"

    def __init__(self, child: Node):
        super().__init__([child], list(child.cols))

    @property
    def table(self) -> str:
        return phys(f"{self.key}")

    def state_tables(self):
        return [self.key]

    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        if fresh:
            rt.run(f"CREATE OR REPLACE TABLE {self.table} AS "
                   + consolidate_sql(f"({self.children[0].full()})", self.cols))

    def full(self):
        return f"SELECT * FROM {self.table}"

    def spec(self):
        return self.children[0].spec()

    def _step(self, rt):
        delta = self.children[0].step(rt)
        if delta is None:
            return None
        out = apply_delta(rt, self.table, self.cols, delta)
        self.count(delta, out)
        return out

    def describe(self):
        return f"Arrange (state {self.key})"


def arranged(node: Node) -> Node:
    """The node itself when it can produce its full output cheaply, else an Arrange over it."""
    if isinstance(node, Scan | Arrange) or getattr(node, "stateful", False):
        return node
    return Arrange(node)


class Join(Node):
    """Inner (or cross) join: dA⋈B + A⋈dB - dA⋈dB over the inputs' new states."""

    label = "join"

    def __init__(self, left: Node, right: Node, on: str | None, names: list[str]):
        super().__init__([arranged(left), arranged(right)], names)
        self.on = on or "TRUE"

    def _select(self, lrel: str, rrel: str, sign: str = "") -> str:
        left, right = self.children
        items = [f"__l.{q(c)}" for c in left.cols] + [f"__r.{q(c)}" for c in right.cols]
        outs = ", ".join(f"{i} AS {q(n)}" for i, n in zip(items, self.cols, strict=False))
        return (f"SELECT {outs}, {sign}(__l.{W} * __r.{W}) AS {W} FROM ({lrel}) AS __l "
                f"JOIN ({rrel}) AS __r ON {self.on}")

    def full(self):
        left, right = self.children
        return self._select(left.full(), right.full())

    def spec(self):
        left, right = self.children
        return self._select(left.spec(), right.spec())

    def _step(self, rt):
        left, right = self.children
        dl, dr = left.step(rt), right.step(rt)
        parts = []
        if dl is not None:
            parts.append(self._select(f"SELECT * FROM {rt.reg(dl)}", right.full()))
        if dr is not None:
            parts.append(self._select(left.full(), f"SELECT * FROM {rt.reg(dr)}"))
        if dl is not None and dr is not None:
            parts.append(self._select(f"SELECT * FROM {rt.reg(dl)}",
                                      f"SELECT * FROM {rt.reg(dr)}", "-"))
        if not parts:
            return None
        out = rt.arrow(" UNION ALL ".join(f"({p})" for p in parts))
        self.count(dl, None)
        self.count(dr, out)
        if out is not None:
            self.rows_read += out.num_rows
        return out

    def describe(self):
        return f"Join (inner, delta rule dA⋈B + A⋈dB - dA⋈dB) on {self.on}"
