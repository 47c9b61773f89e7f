"""Stateless and bilinear operators: scan, map/filter, union all, arrange, inner join."""

from __future__ import annotations

import re

from eddy.dataflow import jsonpaths, keyed_state
from eddy.dataflow.joinkeys import equi_keys
from eddy.dataflow.runtime import (
    Rel,
    TickContext,
    W,
    apply_delta,
    cols_sql,
    consolidate_sql,
)
from eddy.storage.state import phys, q, relation_kind


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

    def state_views(self) -> list[str]:
        """Views this node keeps over other nodes' state (dropped with the dataflow)."""
        return []

    def keyed_rows(self, keys: list[str], src: str | None = None) -> tuple[str, str] | None:
        """(SQL, state table): this node's whole output (columns, weight) with `__h`, the hash
        of the output columns `keys`, read from a state table that already stores it under
        that hash (and its index); None when none does. `src`: SQL of the rows of that table
        to read instead of all. Names are right only once the planner has assigned them
        (eddy.sql.planner.assign_keys)."""
        return None

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

    def fused_sql(self, rt: TickContext) -> tuple[str, bool] | None:
        """This tick's output delta as SQL for a consumer to run inside its own statement,
        and whether every weight is 1; None: no change. Here the delta materialized by step();
        linear nodes (maps, unions) and aggregates return SQL over their inputs' deltas."""
        delta = self.step(rt)
        return None if delta is None else (f"SELECT * FROM {delta.name}", delta.unit)

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
        # a view's change is made when first read (runtime.Deferred), and may be empty
        return delta if delta is not None and delta.num_rows else None

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
        exprs, cond = self.exprs, self.where
        shared = jsonpaths.share(tuple(exprs), cond)
        if shared is not None:     # each JSON document parsed once, below the map
            extra, exprs, cond = shared
            rel = f"SELECT *, {', '.join(extra)} FROM ({rel}) AS __in"
        items = ", ".join(f"{e} AS {q(n)}" for e, n in zip(exprs, self.cols, strict=False))
        where = f" WHERE {cond}" if cond else ""
        sep = ", " if items else ""
        return f"SELECT {items}{sep}__in.{W} FROM ({rel}) AS __in{where}"

    def full(self):
        return self._select(self.children[0].full())

    def spec(self):
        return self._select(self.children[0].spec())

    def keyed_rows(self, keys, src=None):
        """A projection of columns passes its input's keyed rows through, renamed."""
        below = [column_of(e) for e in self.exprs]
        if self.where is not None or None in below or \
                any(k not in self.cols for k in keys):
            return None
        got = self.children[0].keyed_rows([below[self.cols.index(k)] for k in keys], src)
        if got is None:
            return None
        items = "".join(f"__in.{q(c)} AS {q(n)}, " for c, n in zip(below, self.cols,
                                                                  strict=True))
        return f"SELECT {items}__in.{W}, __in.{keyed_state.H} FROM ({got[0]}) AS __in", got[1]

    def _composed(self) -> Map:
        """An equal map over a deeper input: a projection over a map that only filters and
        renames columns is one map (one SELECT: a JSON document is then parsed once for the
        filter and the projection together). Itself when there is nothing to compose."""
        if "_flat" not in self.__dict__:
            self._flat = self
            child = self.children[0]
            if isinstance(child, Map) and self.where is None:
                inner = child._composed()
                renames = jsonpaths.renames(tuple(inner.exprs), tuple(inner.cols))
                exprs = renames and jsonpaths.renamed(tuple(self.exprs), renames)
                if exprs is not None:
                    flat = Map(inner.children[0], list(exprs), self.cols, inner.where)
                    self._flat = flat
        return self._flat

    def shared_filter(self) -> tuple[str, str] | None:
        """(input object id, filter) when this map's fused chain filters a scanned input:
        the key under which dataflows share the filtered rows of a tick (eddy.engine)."""
        flat = self._composed()
        child = flat.children[0]
        if flat.where is None or not isinstance(child, Scan):
            return None
        return child.object_id, flat.where

    def shared_reads(self) -> frozenset[str]:
        """The input columns this map's projection reads from the rows of its shared filter
        (the JSON values the filter extracts are carried: the document itself often is not
        read again)."""
        flat = self._composed()
        exprs = jsonpaths.reuse(tuple(flat.exprs), flat.where)
        return jsonpaths.columns_read(exprs, tuple(flat.children[0].cols))

    def composes(self) -> list[Map]:
        """The maps below this one that its fused chain takes in."""
        out, node, leaf = [], self.children[0], self._composed().children[0]
        while node is not leaf:
            out.append(node)
            node = node.children[0]
        return out

    def delta_sql(self, rt) -> tuple[str, Rel] | tuple[None, None]:
        """SQL of this tick's delta and the input delta under the chain of maps it fuses."""
        flat = self._composed()
        child = flat.children[0]
        if isinstance(child, Map):
            inner, leaf = child.delta_sql(rt)
            return (None, None) if inner is None else (flat._select(inner), leaf)
        delta = child.step(rt)
        if delta is None:
            return None, None
        self.count(delta, None)
        rel = f"SELECT * FROM {rt.reg(delta)}"
        reads = rt.shared_filters.get(self.shared_filter())
        if reads is not None:
            # another dataflow applies the same filter to this input (a staging view and
            # stg_expired_events both check each message's contract): rows filtered once,
            # carrying the filter's JSON extractions, which the projections reuse, and the
            # input columns that some of them read
            keep = tuple(c for c in child.cols if c in reads)
            rows = rt.filtered(delta, flat.where, jsonpaths.filter_rows(rel, keep, flat.where))
            exprs = jsonpaths.reuse(tuple(flat.exprs), flat.where)
            project = Map(child, list(exprs), flat.cols, None)
            return project._select(f"SELECT * FROM {rows.name}"), delta
        return flat._select(rel), delta

    def fused_sql(self, rt):
        flat = self._composed()
        child = flat.children[0]
        if isinstance(child, Map) or type(child).fused_sql is not Node.fused_sql:
            got = child.fused_sql(rt)
            return None if got is None else (flat._select(got[0]), got[1])
        sql, leaf = self.delta_sql(rt)
        return None if sql is None else (sql, leaf.unit)

    def _step(self, rt):
        got = self.fused_sql(rt)
        if got is None:
            return None
        out = rt.arrow(got[0])
        if out is not None:
            out.unit = got[1]        # a filter and projection keep each row's weight
        self.count(None, out)
        return out

    def describe(self):
        parts = []
        if self.where:
            parts.append(f"filter {self.where}")
        parts.append("project " + ", ".join(self.exprs))
        return "Map (linear): " + "; ".join(parts)


def shared_filter_reads(root: Node) -> dict[tuple[str, str], frozenset[str]]:
    """Per shared-filter key (`Map.shared_filter`) of a dataflow, the input columns that its
    maps read from the filtered rows: the maps that run on their own, not those that every
    consumer composes into its own map (they never read the filtered rows)."""
    nodes = list(root.walk())
    parents: dict[int, list[Node]] = {}
    for n in nodes:
        for c in n.children:
            parents.setdefault(id(c), []).append(n)
    reads: dict[tuple[str, str], frozenset[str]] = {}
    for n in nodes:
        if not isinstance(n, Map) or (f := n.shared_filter()) is None:
            continue
        ups = parents.get(id(n), [])
        alone = not ups or any(not isinstance(p, Map) or n not in p.composes() for p in ups)
        reads[f] = reads.get(f, frozenset()) | (n.shared_reads() if alone else frozenset())
    return reads


class UnionAll(Node):
    """Linear: the sum of its inputs (columns aligned by position)."""

    label = "union all"

    def full(self):
        names = [f"SELECT * FROM ({c.full()})" for c in self.children]
        return " UNION ALL ".join(names)

    def spec(self):
        return " UNION ALL ".join(f"SELECT * FROM ({c.spec()})" for c in self.children)

    def fused_sql(self, rt):
        """The inputs' deltas (maps and unions below fused) in one UNION ALL, the first
        renamed to this node's columns by position."""
        parts = [got for c in self.children if (got := c.fused_sql(rt)) is not None]
        if not parts:
            return None
        names = cols_sql(self.cols + [W])
        sql = " UNION ALL ".join([f"SELECT * FROM ({parts[0][0]}) AS __u({names})"]
                                 + [f"SELECT * FROM ({p})" for p, _ in parts[1:]])
        return sql, all(unit for _, unit in parts)

    def _step(self, rt):
        got = self.fused_sql(rt)
        if got is None:
            return None
        out = rt.table(got[0])
        out.unit = got[1]   # weights kept: an arrangement just appends
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
    """Keeps its input's whole output in a key-indexed state table (eddy.dataflow.keyed_state)
    so that others can read the rows of given keys, or all of it, cheaply.

    `kexprs`: the key (SQL over __in); None until a reader claims it, then the index is on
    the whole row (which is what retractions look up)."""

    label = "arrange"

    def __init__(self, child: Node, kexprs: list[str] | None = None):
        super().__init__([child], list(child.cols))
        self.kexprs = kexprs
        self.ktypes: list[str] | None = None
        self.sizes = keyed_state.Sizes()

    @property
    def table(self) -> str:
        return phys(f"{self.key}")

    @property
    def scan_table(self) -> str:
        """The state table a read of this arrangement scans (counted under profile_scans)."""
        return self.table

    @property
    def key_exprs(self) -> list[str]:
        return self.kexprs if self.kexprs is not None else [f"__in.{q(c)}" for c in self.cols]

    @property
    def hash(self) -> str:
        return keyed_state.hash_sql(self.key_exprs)

    def state_tables(self):
        return [self.key]

    def types(self, conn) -> list[str]:
        """The DuckDB types of the key (probes cast theirs to these)."""
        if self.ktypes is None:
            self.ktypes = keyed_state.key_types(conn, self.children[0].spec(), self.key_exprs)
        return self.ktypes

    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        if fresh:
            keyed_state.create(rt, self.table, consolidate_sql(
                f"({self.children[0].full()})", self.cols), self.hash)

    def full(self):
        return f"SELECT {cols_sql(self.cols + [W])} FROM {self.table}"

    def spec(self):
        return self.children[0].spec()

    def rows_for(self, rt: TickContext, probe: Rel, exprs: list[str], types: list[str],
                 exact: str | None = None, hashed: bool = False) -> Rel:
        """The stored rows (columns + weight) whose key may equal `exprs` (over __in) of some
        row of `probe`, of key types `types`: a superset (hash collisions), found by index.
        `exact`: only those meeting it (SQL over __in, the stored row, and t, the probe);
        `hashed`: the probe's `__h` already is the key hash in this arrangement's types."""
        touched = self._probe(rt, probe, exprs, types, exact, hashed)
        return self.sizes.lookup(rt, self.table, self.cols + [W], touched, exact, "__in")

    def _probe(self, rt, probe: Rel, exprs, types, exact, hashed) -> Rel | str:
        """The probe with `__h`, its key hash in this arrangement's types (SQL, or itself)."""
        if hashed:
            return probe
        cast = keyed_state.probe_types(types, self.types(rt.conn))
        # `exact` compares the probe's own columns: keep them beside the new hash
        keep = f"COLUMNS(c -> c <> '{keyed_state.H}'), " if exact else ""
        return (f"SELECT DISTINCT {keep}{keyed_state.hash_sql(exprs, cast)} AS "
                f"{keyed_state.H} FROM {probe.name} AS __in")

    def rows_sql(self, rt: TickContext, probe: Rel, exprs: list[str], types: list[str],
                 exact: str, hashed: bool = False) -> str:
        """SQL of rows_for()'s rows with `exact`, for the statement that uses them: by index,
        or by a hash join over the whole table when it is small for the keys probed
        (eddy.dataflow.keyed_state.Sizes)."""
        if self.sizes.by_index(rt, self.table, probe.num_rows):
            # by index: a statement of its own (inside a larger one, DuckDB may start the
            # table's scan before the probe's hashes are known, and scan it whole)
            rows = self.rows_for(rt, probe, exprs, types, exact, hashed)
            return f"SELECT * FROM {rows.name}"
        return (f"SELECT {cols_sql(self.cols + [W], '__in')} FROM {self.table} __in "
                f"SEMI JOIN {probe.name} t ON {exact}")

    def _step(self, rt):
        delta = self.children[0].step(rt)
        if delta is None:
            return None
        out = apply_delta(rt, self.table, self.cols, delta, self.hash, unit=delta.unit,
                          sizes=self.sizes)
        if out is not None and (out.unit or out.positive):
            self.sizes.moved(self.table, out.num_rows)
        self.count(delta, out)
        return out

    def describe(self):
        on = f"; key {', '.join(self.kexprs).replace('__in.', '')}" if self.kexprs else ""
        return f"Arrange (state {self.key}{on})"


class SharedArrange(Arrange):
    """An arrangement read from state that another operator already keeps under the same key
    hash (`keyed_rows`: a first row's winners), through a view of that name: the rows are not
    stored twice, as Materialize reads an index another dataflow keeps. Its change is its
    input's, as it comes. A lookup by key finds the rows in the state table itself: DuckDB
    does not take a join's keys through a view (or any subquery) to the table's index."""

    label = "arrange (shared)"

    def __init__(self, child: Node, kexprs: list[str], keys: list[str]):
        super().__init__(child, kexprs)
        self.keys = keys    # the key's output columns
        self.base = ""      # the state table read

    def state_tables(self):
        return []

    def state_views(self):
        return [self.key]

    @property
    def scan_table(self) -> str:
        return self.base

    def setup(self, rt, fresh):
        Node.setup(self, rt, fresh)
        if relation_kind(rt.conn, self.key) == "BASE TABLE":
            rt.run(f"DROP TABLE {self.table}")     # a copy kept by an earlier build
        rows, self.base = self.children[0].keyed_rows(self.keys)
        rt.run(f"CREATE OR REPLACE VIEW {self.table} AS SELECT {cols_sql(self.cols)}, {W}, "
               f"{keyed_state.H} FROM ({rows})")

    def rows_for(self, rt, probe, exprs, types, exact=None, hashed=False):
        touched = self._probe(rt, probe, exprs, types, exact, hashed)
        src = f"({touched})" if isinstance(touched, str) else touched.name
        match = f"s.{keyed_state.H} = t.{keyed_state.H}" if isinstance(touched, str) else \
            self.sizes.match(rt, self.base, "s", touched.num_rows)
        rows, _ = self.children[0].keyed_rows(self.keys, "__found")
        cond = f" AND {exact}" if exact else ""
        # materialized: inlined, the two semi joins are planned together, and the table is
        # then scanned whole instead of read by index (DuckDB 1.4.5)
        return rt.keyed_table(
            f"WITH __found AS MATERIALIZED (SELECT s.* FROM {self.base} s SEMI JOIN {src} t ON "
            f"{match}) SELECT {cols_sql(self.cols + [W], '__in')} FROM ({rows}) __in "
            f"SEMI JOIN {src} t ON __in.{keyed_state.H} = t.{keyed_state.H}{cond}",
            [self.base])

    def _step(self, rt):
        delta = self.children[0].step(rt)
        self.count(delta, None)
        return delta

    def describe(self):
        keys = ", ".join(self.kexprs).replace("__in.", "")
        return f"Arrange (shared: a view {self.key} over its input's state; key {keys})"


def column_of(expr: str, alias: str = "__in") -> str | None:
    """The column of `alias` that an expression only reads as it is, else None."""
    m = re.fullmatch(rf'(?:"{alias}"|{alias})\.(?:"((?:[^"]|"")+)"|([A-Za-z_]\w*))',
                     expr.strip())
    if m is None:
        return None
    return m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)


def arranged(node: Node) -> Node:
    """The node itself when it can produce its full output cheaply, else an Arrange over it."""
    if isinstance(node, Scan | Arrange) or getattr(node, "stateful", False):
        return node
    return Arrange(node)


def keyed(node: Node, kexprs: list[str]) -> Arrange:
    """An arrangement of `node` indexed by `kexprs` (SQL over __in): the node itself if it is
    an unclaimed or same-keyed Arrange, else one shared by every reader of `node` with that
    key."""
    if isinstance(node, Arrange):
        if node.kexprs is None and not node._ready:
            node.kexprs = list(kexprs)
        if node.kexprs == list(kexprs):
            return node
        node = node.children[0]
    shared = node.__dict__.setdefault("_keyed", {})
    if tuple(kexprs) not in shared:
        cols = [column_of(k) for k in kexprs]
        rows = None if None in cols else node.keyed_rows(cols)
        shared[tuple(kexprs)] = Arrange(node, list(kexprs)) if rows is None else \
            SharedArrange(node, list(kexprs), cols)
    return shared[tuple(kexprs)]


def full_rows(rt: TickContext, node: Node) -> str:
    """SQL of a node's whole output, counting the rows read as scanned state."""
    rt.scanned += rt.conn.execute(f"SELECT count(*) FROM ({node.full()})").fetchone()[0]
    return node.full()


class Join(Node):
    """Inner (or cross) join: dA⋈B + A⋈dB - dA⋈dB over the inputs' new states. With equality
    conjuncts between the sides in ON, each side is arranged by its part of them and a delta
    reads only the other side's rows of its keys."""

    label = "join"

    def __init__(self, left: Node, right: Node, on: str | None, names: list[str]):
        self.on = on or "TRUE"
        lk, rk = equi_keys(self.on, "__l", "__r", "__in")
        sides = (keyed(left, lk), keyed(right, rk)) if lk else (arranged(left), arranged(right))
        super().__init__(list(sides), names)
        self.lk, self.rk = lk, rk

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

    def _other(self, rt, delta: Rel, mine: Node, other: Node, exprs: list[str]) -> str:
        """SQL of the other side's rows that can join a delta of this side."""
        if not self.lk:
            return full_rows(rt, other)
        rows = other.rows_for(rt, delta, exprs, mine.types(rt.conn))
        self.rows_read += rows.num_rows
        return f"SELECT * FROM {rows.name}"

    def _step(self, rt):
        left, right = self.children
        dl, dr = left.step(rt), right.step(rt)
        parts = []
        if dl is not None:
            parts.append(self._select(f"SELECT * FROM {rt.reg(dl)}",
                                      self._other(rt, dl, left, right, self.lk)))
        if dr is not None:
            parts.append(self._select(self._other(rt, dr, right, left, self.rk),
                                      f"SELECT * FROM {rt.reg(dr)}"))
        if dl is not None and dr is not None:
            parts.append(self._select(f"SELECT * FROM {rt.reg(dl)}",
                                      f"SELECT * FROM {rt.reg(dr)}", "-"))
        if not parts:
            return None
        out = rt.arrow(" UNION ALL ".join(f"({p})" for p in parts))
        self.count(dl, None)
        self.count(dr, out)
        return out

    def describe(self):
        return f"Join (inner, delta rule dA⋈B + A⋈dB - dA⋈dB) on {self.on}"
