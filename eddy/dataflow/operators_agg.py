"""Counting operators: linear aggregates (count/sum/avg, count(DISTINCT x) of the same GROUP
BY) and set multiplicities (distinct, except, intersect), each keeping per-key accumulators
that deltas add to."""

from __future__ import annotations

from eddy.dataflow import key_presence, keyed_state
from eddy.dataflow.key_presence import KeyHashes
from eddy.dataflow.operators import Map, Node
from eddy.dataflow.runtime import W, apply_delta, cols_sql, consolidate_sql, nullsafe
from eddy.storage.state import phys, q

LINEAR_AGGS = ("count_star", "count", "sum", "avg", "count_distinct")


def _bounded(bound: keyed_state.TimeBound | None) -> tuple[str, str, dict | None]:
    """A bound on the stored rows (alias s) as ` WHERE ...`, as ` AND ...`, and its
    parameters; nothing without one."""
    if bound is None:
        return "", "", None
    return f" WHERE {bound.sql('s')}", f" AND {bound.sql('s')}", bound.params


class _ChangeAsSql(Node):
    """An aggregate whose tick applies its input delta to its state once (`_update`) and
    returns SQL of its output's change: fused into a consumer's statement, or run alone."""

    def __init__(self, children: list[Node], cols: list[str]):
        super().__init__(children, cols)
        self._advanced, self._change = None, None

    def _update(self, rt) -> str | None:
        raise NotImplementedError

    def _advance(self, rt) -> str | None:
        """`_update` once per tick; the SQL of this tick's output change, or None."""
        if self._advanced is not rt:
            self._advanced, self._change = rt, self._update(rt)
        return self._change

    def fused_sql(self, rt):
        sql = self._advance(rt)
        return None if sql is None else (sql, False)

    def _step(self, rt):
        sql = self._advance(rt)
        if sql is None:
            return None
        out = rt.arrow(sql)
        self.count(None, out)
        return out


class LinearAgg(_ChangeAsSql):
    """GROUP BY with count(*), count(x), sum(x), avg(x): accumulators updated by deltas.

    count(DISTINCT x) (kind "count_distinct") keeps, per such aggregate, a key-indexed table of
    (group, x) with its multiplicity (non-NULL x only); its accumulator is the number of x
    present, moved by the pairs a delta brings into or out of existence. So the distinct
    counts and the linear aggregates of one GROUP BY are one operator, not branches joined
    back on the group key."""

    label = "linear aggregate"
    stateful = True

    def __init__(self, child: Node, groups: list[str], aggs: list[tuple[str, str | None]],
                 out_types: list[str], names: list[str]):
        super().__init__([child], names)
        self.groups, self.aggs, self.out_types = groups, aggs, out_types
        self.gcols = [f"_g{i}" for i in range(len(groups))]
        self.hash = keyed_state.hash_sql([f"__in.{q(g)}" for g in self.gcols])
        self.distinct = [i for i, (kind, _) in enumerate(aggs) if kind == "count_distinct"]
        self.phash = keyed_state.hash_sql([f"__in.{q(g)}" for g in self.gcols + ["_x"]])
        self.sizes = keyed_state.Sizes()
        # per distinct aggregate, its stored pairs' hashes in memory (key_presence)
        self.present = {i: KeyHashes() for i in self.distinct}
        self._per_row = 1.0    # touched groups per input row, last tick (probes estimated)
        self._timed: list[int] = []    # the time groups (bounds on lookups: TimeBound)

    @property
    def table(self):
        return phys(self.key)

    def pairs(self, i: int) -> str:
        """The (group, x) multiplicities of distinct aggregate i."""
        return phys(f"{self.key}_d{i}")

    def state_tables(self):
        return [self.key] + [f"{self.key}_d{i}" for i in self.distinct]

    def _exprs(self, local: bool) -> tuple[list[str], list[str | None]]:
        """Group and argument expressions; `local`: columns of the projected delta."""
        if not local:
            return self.groups, [arg for _, arg in self.aggs]
        return ([f"__in.{q(g)}" for g in self.gcols],
                [None if arg is None else f"__in._a{i}" for i, (_, arg) in enumerate(self.aggs)])

    def _gsel(self) -> str:
        return "".join(f"{q(g)}, " for g in self.gcols)

    def _group_by(self) -> str:
        return f" GROUP BY {cols_sql(self.gcols)}" if self.gcols else ""

    def _pairs_sql(self, rel: str, i: int, local: bool = False) -> str:
        """(group, x) of a relation with their summed weight `_c` (x not NULL: count(DISTINCT)
        skips NULLs)."""
        groups, args = self._exprs(local)
        items = [f"{g} AS {q(n)}" for g, n in zip(groups, self.gcols, strict=True)]
        items.append(f"({args[i]}) AS _x")
        return (f"SELECT {', '.join(items)}, sum(__in.{W})::BIGINT AS _c FROM ({rel}) AS __in "
                f"WHERE ({args[i]}) IS NOT NULL GROUP BY ALL HAVING sum(__in.{W}) <> 0")

    def _present(self, pairs: str) -> str:
        """Per group, the number of distinct x present in a pairs relation (SQL)."""
        return (f"SELECT {self._gsel()}count(*)::BIGINT AS _dd FROM ({pairs}) "
                f"WHERE _c > 0{self._group_by()}")

    def _with_counts(self, acc: str, counts: dict[int, str]) -> str:
        """Accumulators `acc` (SQL) with distinct aggregate i's count `_dd` from `counts[i]`
        (SQL of the group columns and `_dd`)."""
        if not counts:
            return acc
        repl = ", ".join(f"coalesce(d{i}._dd, 0)::BIGINT AS _n{i}" for i in counts)
        joins = " ".join(f"LEFT JOIN ({sql}) d{i} ON {nullsafe('a', f'd{i}', self.gcols)}"
                         for i, sql in counts.items())
        return f"SELECT a.* REPLACE ({repl}) FROM ({acc}) a {joins}"

    def _acc_select(self, rel: str, unit: bool = False, local: bool = False) -> str:
        """Per-group accumulators of a relation; `unit`: every weight is +1 (faster)."""
        groups, args = self._exprs(local)
        items = [f"{g} AS {q(n)}" for g, n in zip(groups, self.gcols, strict=False)]
        items.append(f"coalesce(sum(__in.{W}), 0)::BIGINT AS __cnt")
        for i, ((_kind, _), arg) in enumerate(zip(self.aggs, args, strict=True)):
            if _kind == "count_distinct":
                items += [f"NULL::BIGINT AS _s{i}", f"0::BIGINT AS _n{i}"]
            elif unit and arg is not None:
                sum_ = "NULL::BIGINT" if _kind == "count" else f"sum({arg})"
                items += [f"{sum_} AS _s{i}", f"count({arg})::BIGINT AS _n{i}"]
            elif arg is None:
                items += [f"NULL::BIGINT AS _s{i}", f"0::BIGINT AS _n{i}"]
            elif _kind == "count":
                items += [f"NULL::BIGINT AS _s{i}",
                          f"coalesce(sum(CASE WHEN ({arg}) IS NULL THEN 0 ELSE __in.{W} END), 0)"
                          f"::BIGINT AS _n{i}"]
            else:
                items += [f"sum(({arg}) * __in.{W}) AS _s{i}",
                          f"coalesce(sum(CASE WHEN ({arg}) IS NULL THEN 0 ELSE __in.{W} END), 0)"
                          f"::BIGINT AS _n{i}"]
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(groups)))}" \
            if groups else ""
        return f"SELECT {', '.join(items)} FROM ({rel}) AS __in{group}"

    def _finish(self, alias: str, sign: str) -> str:
        items = [f"{alias}.{q(g)}" for g in self.gcols]
        for i, ((kind, _arg), typ) in enumerate(zip(self.aggs, self.out_types, strict=False)):
            s, n = f"{alias}._s{i}", f"{alias}._n{i}"
            value = {"count_star": f"{alias}.__cnt", "count": n, "count_distinct": n,
                     "sum": f"CASE WHEN {n} = 0 THEN NULL ELSE {s} END",
                     "avg": f"{s} / NULLIF({n}, 0)"}[kind]
            items.append(f"CAST({value} AS {typ})")
        outs = ", ".join(f"{i} AS {q(c)}" for i, c in zip(items, self.cols, strict=False))
        return f"SELECT {outs}, {sign}1::BIGINT AS {W} FROM"

    def _keep(self, alias: str) -> str:
        return f"{alias}.__cnt > 0" if self.groups else "TRUE"

    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        self.sizes = keyed_state.Sizes()
        for present in self.present.values():
            present.reset()
        if fresh:
            full = self.children[0].full()
            for i in self.distinct:
                keyed_state.create(rt, self.pairs(i), self._pairs_sql(full, i), self.phash)
            having = " HAVING coalesce(sum(__in.__w), 0) <> 0" if self.groups else ""
            acc = self._with_counts(f"{self._acc_select(full)}{having}", {
                i: self._present(f"SELECT * FROM {self.pairs(i)}") for i in self.distinct})
            keyed_state.create(rt, self.table, acc, self.hash)
        types = [r[1] for r in rt.conn.execute(f"DESCRIBE {self.table}").fetchall()]
        self._timed = [i for i, ty in enumerate(types[:len(self.gcols)])
                       if keyed_state.is_temporal(ty)]

    def _bound(self, rt, rel: str, local: bool) -> keyed_state.TimeBound | None:
        """The range of the change's time groups, once a state table is big enough for
        row groups to be skipped (keyed_state.TimeBound); `local`: `rel` is projected."""
        if not self._timed or all(
                self.sizes.estimate(rt, t) < keyed_state.BOUND_MIN_ROWS
                for t in [self.table] + [self.pairs(i) for i in self.distinct]):
            return None
        groups = self._exprs(local)[0]
        return keyed_state.TimeBound.of(rt, rel, {self.gcols[i]: groups[i] for i in self._timed})

    def full(self):
        return f"{self._finish('s', '')} {self.table} s WHERE {self._keep('s')}"

    def spec(self):
        rel = self.children[0].spec()
        acc = self._with_counts(self._acc_select(rel), {
            i: self._present(self._pairs_sql(rel, i)) for i in self.distinct})
        return f"{self._finish('s', '')} ({acc}) s WHERE {self._keep('s')}"

    def _distinct_step(self, rt, rel: str, unit: bool, bound: keyed_state.TimeBound | None
                       ) -> tuple[dict[int, str], list]:
        """Apply the delta (projected: `_g*`, `_a*`) to each distinct aggregate's pairs;
        per aggregate, SQL of the change of its count per group (`_dd`), and the pairs
        tables that SQL reads with the statements to run on them once it has. A pair may be stored in several entries whose
        counts add up: an insert-only delta is appended as it is after the accumulators'
        statement has counted the pairs it brings that no entry has (read there by key);
        one with retractions merges its pairs' entries into one."""
        counts, after = {}, []
        keys = self.gcols + ["_x"]
        exact = nullsafe("s", "t", keys)
        within, also, params = _bounded(bound)
        for i in self.distinct:
            dp = rt.table(f"SELECT *, {self.phash} AS __h FROM "
                          f"({self._pairs_sql(rel, i, local=True)}) AS __in")
            if not dp.num_rows:
                continue
            pairs = self.pairs(i)
            if unit or rt.conn.execute(f"SELECT min(_c) > 0 FROM {dp.name}").fetchone()[0]:
                # the pairs it brings that some entry has: only those whose hash may be
                # stored are compared with the entries, by index (key_presence), when the
                # pairs are many; else by the Sizes rule
                served, maybe = key_presence.probe(rt, self.present[i], pairs,
                                                   self.sizes.estimate(rt, pairs),
                                                   f"SELECT * FROM {dp.name}")
                if served and maybe is None:    # none of them is stored
                    found = f"SELECT {cols_sql(keys)} FROM {dp.name} WHERE FALSE"
                else:
                    probed, n = dp.name, dp.num_rows
                    if maybe is not None:
                        probed, n = (f"(SELECT t.* FROM {dp.name} t SEMI JOIN {maybe.name} m "
                                     f"ON t.__h = m.__h)"), maybe.num_rows
                    found = (f"SELECT {cols_sql(keys, 's')} FROM {pairs} s SEMI JOIN {probed} t "
                             f"ON {self.sizes.on(rt, pairs, n)}{exact}{within}")
                counts[i] = (f"SELECT {self._gsel()}count(*)::BIGINT AS _dd FROM {dp.name} d "
                             f"ANTI JOIN ({found}) o ON {nullsafe('d', 'o', keys)}"
                             f"{self._group_by()}")
                after.append((pairs, f"INSERT INTO {pairs} SELECT * FROM {dp.name}"))
                self.sizes.moved(pairs, dp.num_rows)
                self.rows_written += dp.num_rows
                continue
            key_presence.note(rt, self.present[i], f"SELECT * FROM {dp.name}")
            by = self.sizes.on(rt, pairs, dp.num_rows)
            old = (f"SELECT {cols_sql(keys)}, sum(_c) AS _c FROM (SELECT "
                   f"{cols_sql(keys + ['_c'], 's')} FROM {pairs} s SEMI JOIN {dp.name} t "
                   f"ON {by}{exact}{within}) GROUP BY ALL")
            new = rt.keyed_table(
                f"SELECT {cols_sql(keys, 'd')}, coalesce(o._c, 0) + d._c AS _c, "
                f"coalesce(o._c, 0) > 0 AS _was, d.__h FROM {dp.name} d LEFT JOIN ({old}) o "
                f"ON {nullsafe('d', 'o', keys)}", [pairs], params)
            self.sizes.delete(rt, pairs, dp, exact + also, params)
            self.sizes.insert(rt, pairs, f"INSERT INTO {pairs} SELECT "
                              f"{cols_sql(keys + ['_c'])}, __h FROM {new.name} WHERE _c <> 0")
            counts[i] = (f"SELECT {self._gsel()}sum((_c > 0)::BIGINT - _was::BIGINT) "
                         f"AS _dd FROM {new.name}{self._group_by()}")
            self.rows_read += new.num_rows
            self.rows_written += new.num_rows
        return counts, after

    def _accs(self) -> list[str]:
        return ["__cnt"] + [f"_{x}{i}" for i in range(len(self.aggs)) for x in "sn"]

    def _update(self, rt) -> str | None:
        """The delta added to the accumulators; the change: the touched groups' old rows
        retracted, their new rows inserted (not consolidated)."""
        child = self.children[0]
        if isinstance(child, Map):
            # fused: the maps' filters/projections run inside the accumulation query
            rel, delta = child.delta_sql(rt)
            if rel is None:
                return None
        else:
            delta = child.step(rt)
            if delta is None:
                return None
            rel = f"SELECT * FROM {rt.reg(delta)}"
        unit = delta.unit
        if not unit and delta.num_rows > 1000:   # worth a look: insert-only batches aggregate faster
            lo, hi = rt.conn.execute(f"SELECT min({W}), max({W}) FROM {delta.name}").fetchone()
            unit = lo == 1 and hi == 1
        self.count(delta, None)
        after: list[tuple[str, str]] = []
        if self.distinct:   # the delta's groups and arguments, computed once for both uses
            items = [f"{g} AS {q(n)}" for g, n in zip(self.groups, self.gcols, strict=True)]
            items += [f"({arg}) AS _a{i}" for i, (_, arg) in enumerate(self.aggs)
                      if arg is not None]
            items.append(f"__in.{W}")
            projected = rt.table(f"SELECT {', '.join(items)} FROM ({rel}) AS __in")
            rel = f"SELECT * FROM {projected.name}"
            bound = self._bound(rt, rel, local=True)
            counts, after = self._distinct_step(rt, rel, unit, bound)
            dacc = self._with_counts(self._acc_select(rel, unit, local=True), counts)
        else:
            bound = self._bound(rt, rel, local=False)
            dacc = self._acc_select(rel, unit)
        within, also, params = _bounded(bound)
        # one statement: the delta's accumulators, the touched groups' stored ones (read by
        # key), and their sums beside the old values (`_o<j>`, NULL: a new group)
        accs = self._accs()
        exact = nullsafe("s", "t", self.gcols)
        items = [f"d.{q(g)}" for g in self.gcols] + ["coalesce(o.__cnt, 0) + d.__cnt AS __cnt"]
        for i in range(len(self.aggs)):
            items += [f"CASE WHEN o._s{i} IS NULL THEN d._s{i} WHEN d._s{i} IS NULL THEN o._s{i} "
                      f"ELSE o._s{i} + d._s{i} END AS _s{i}",
                      f"coalesce(o._n{i}, 0) + d._n{i} AS _n{i}"]
        items += [f"o.{a} AS _o{j}" for j, a in enumerate(accs)] + ["d.__h"]
        rows = max(delta.num_rows, 1)
        by = self.sizes.on(rt, self.table, max(int(rows * self._per_row), 1))
        new = rt.keyed_table(
            f"WITH __d AS (SELECT __in.*, {self.hash} AS __h FROM ({dacc}) AS __in) "
            f"SELECT {', '.join(items)} FROM __d d LEFT JOIN (SELECT s.* FROM {self.table} s "
            f"SEMI JOIN __d t ON {by}{exact}{within}) o "
            f"ON {nullsafe('d', 'o', self.gcols)}", [self.table] + [t for t, _ in after], params)
        self._per_row = new.num_rows / rows
        for _, sql in after:
            rt.run(sql)
        nn = new.name
        if self.groups:
            self.sizes.delete(rt, self.table, new, f"t._o0 IS NOT NULL AND {exact}{also}",
                              params)
            self.sizes.insert(rt, self.table, f"INSERT INTO {self.table} SELECT "
                              f"{cols_sql(self.gcols + accs, '__in')}, __in.__h FROM {nn} AS __in "
                              f"WHERE __in.__cnt <> 0")
        else:   # the one row of a global aggregate, updated in place
            sets = ", ".join(f"{a} = n.{a}" for a in accs)
            if not rt.conn.execute(f"UPDATE {self.table} SET {sets} FROM {nn} n").fetchone()[0]:
                rt.run(f"INSERT INTO {self.table} SELECT {cols_sql(accs)}, __h FROM {nn}")
        self.rows_read += new.num_rows
        self.rows_written += new.num_rows
        olds = ", ".join([cols_sql(self.gcols)] * bool(self.gcols)
                         + [f"_o{j} AS {a}" for j, a in enumerate(accs)])
        had = "o.__cnt > 0" if self.groups else "o.__cnt IS NOT NULL"
        return (f"{self._finish('o', '-')} (SELECT {olds} FROM {nn}) o WHERE {had} UNION ALL "
                f"{self._finish('n', '')} {nn} n WHERE {self._keep('n')}")

    def describe(self):
        aggs = ", ".join(f"count(DISTINCT {a})" if k == "count_distinct" else f"{k}({a or '*'})"
                         for k, a in self.aggs)
        return (f"Aggregate (linear accumulators, state {self.key}) "
                f"group by [{', '.join(self.groups)}]: {aggs}")


_MULTIPLICITY = {
    "distinct": "CASE WHEN {l} > 0 THEN 1 ELSE 0 END",
    "except": "CASE WHEN {l} > 0 AND {r} <= 0 THEN 1 ELSE 0 END",
    "except_all": "greatest({l} - greatest({r}, 0), 0)",
    "intersect": "CASE WHEN {l} > 0 AND {r} > 0 THEN 1 ELSE 0 END",
    "intersect_all": "greatest(least({l}, {r}), 0)",
}


class SetCount(Node):
    """DISTINCT / EXCEPT [ALL] / INTERSECT [ALL]: per-row counts of each input; the output
    multiplicity is a function of them, so a delta touches only the rows it names."""

    label = "set count"
    stateful = True

    def __init__(self, children: list[Node], mode: str):
        super().__init__(children, list(children[0].cols))
        self.mode = mode

    @property
    def table(self):
        return phys(self.key)

    def state_tables(self):
        return [self.key]

    def _mult(self, alias: str) -> str:
        return _MULTIPLICITY[self.mode].format(l=f"{alias}._cl", r=f"{alias}._cr")

    def _counts(self, rels: list[str]) -> str:
        parts = [f"SELECT *, __w AS _cl, 0::BIGINT AS _cr FROM ({rels[0]})"]
        if len(rels) > 1 and rels[1] is not None:
            parts.append(f"SELECT *, 0::BIGINT AS _cl, __w AS _cr FROM ({rels[1]})")
        union = " UNION ALL ".join(parts)
        return (f"SELECT {cols_sql(self.cols)}, sum(_cl)::BIGINT AS _cl, sum(_cr)::BIGINT AS _cr "
                f"FROM ({union}) GROUP BY ALL")

    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        if fresh:
            rels = [c.full() for c in self.children]
            rt.create_state(self.table, f"SELECT * FROM ({self._counts(rels)}) "
                                        f"WHERE _cl <> 0 OR _cr <> 0")

    def full(self):
        return (f"SELECT {cols_sql(self.cols, 's')}, {self._mult('s')}::BIGINT AS {W} "
                f"FROM {self.table} s WHERE {self._mult('s')} > 0")

    def spec(self):
        counts = self._counts([c.spec() for c in self.children])
        return (f"SELECT {cols_sql(self.cols, 's')}, {self._mult('s')}::BIGINT AS {W} "
                f"FROM ({counts}) s WHERE {self._mult('s')} > 0")

    def _step(self, rt):
        deltas = [c.step(rt) for c in self.children]
        if all(d is None for d in deltas):
            return None
        rels = [f"SELECT * FROM {rt.reg(d)}" if d is not None else
                f"SELECT * FROM ({c.full()}) LIMIT 0" for d, c in zip(deltas, self.children, strict=False)]
        dn = rt.reg(rt.table(self._counts(rels)))
        old = rt.table(f"SELECT s.* FROM {self.table} s SEMI JOIN {dn} d "
                       f"ON {nullsafe('s', 'd', self.cols)}")
        on = rt.reg(old)
        new = rt.table(f"SELECT {cols_sql(self.cols, 'd')}, coalesce(o._cl, 0) + d._cl AS _cl, "
                       f"coalesce(o._cr, 0) + d._cr AS _cr FROM {dn} d LEFT JOIN {on} o "
                       f"ON {nullsafe('d', 'o', self.cols)}")
        nn = rt.reg(new)
        rt.run(f"DELETE FROM {self.table} s USING {dn} d WHERE {nullsafe('s', 'd', self.cols)}")
        rt.run(f"INSERT INTO {self.table} SELECT * FROM {nn} WHERE _cl <> 0 OR _cr <> 0")
        diff = f"{self._mult('n')} - coalesce({self._mult('o')}, 0)"
        out = rt.arrow(f"SELECT {cols_sql(self.cols, 'n')}, ({diff})::BIGINT AS {W} FROM {nn} n "
                       f"LEFT JOIN {on} o ON {nullsafe('n', 'o', self.cols)} WHERE {diff} <> 0")
        for d in deltas:
            self.count(d, None)
        self.count(old, out)
        return out

    def describe(self):
        return f"Set count ({self.mode}, per-row counters, state {self.key})"




class MinMaxAgg(_ChangeAsSql):
    """min(x) / max(x) per group. State: the input's distinct (group, x) with counts, and the
    current extreme per group. A group whose delta only adds rows takes the better of its old
    extreme and the delta's; only groups that lost rows re-read their distinct values.

    Input columns: the group columns, then `_x`; output: the group columns, then `_v`."""

    label = "min/max"
    stateful = True

    def __init__(self, child: Node, kind: str, names: list[str]):
        super().__init__([child], names)
        self.kind = kind                      # "min" or "max"
        self.gcols = list(child.cols[:-1])
        self.pick = "greatest" if kind == "max" else "least"
        self.vhash = keyed_state.hash_sql([f"__in.{q(g)}" for g in self.gcols])
        self.hash = keyed_state.hash_sql([f"__in.{q(g)}" for g in self.cols[:-1]])
        self.sizes = keyed_state.Sizes()

    @property
    def table(self):
        return phys(self.key)

    @property
    def values(self):
        return phys(self.key + "_a")

    def state_tables(self):
        return [self.key, self.key + "_a"]

    def _extreme(self, rel: str, alias: str = "__in") -> str:
        gsel = "".join(f"{alias}.{q(g)} AS {q(o)}, "
                       for g, o in zip(self.gcols, self.cols, strict=False))
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(self.gcols)))}" \
            if self.gcols else ""
        return (f"SELECT {gsel}{self.kind}({alias}._x) AS {q(self.cols[-1])}, 1::BIGINT AS {W} "
                f"FROM {rel}{group}")

    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        if fresh:
            child = self.children[0]
            keyed_state.create(rt, self.values, consolidate_sql(f"({child.full()})", child.cols),
                               self.vhash)
            keyed_state.create(rt, self.table, self._extreme(f"{self.values} AS __in"),
                               self.hash)

    def full(self):
        return f"SELECT {cols_sql(self.cols)}, {W} FROM {self.table}"

    def spec(self):
        return self._extreme(f"({self.children[0].spec()}) AS __in WHERE __in.{W} > 0")

    def _update(self, rt) -> str | None:
        """The delta applied to the state; the change: consolidated (a group whose extreme
        stays the same shows none)."""
        child = self.children[0]
        delta = child.step(rt)
        if delta is None:
            return None
        merged = apply_delta(rt, self.values, child.cols, delta, self.vhash, unit=delta.unit,
                             sizes=self.sizes)
        self.count(delta, None)
        if merged is None:
            return None
        dn = merged.name
        insert_only = merged.unit or merged.positive
        gsel = "".join(f"d.{q(g)}, " for g in self.gcols)
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(self.gcols)))}" \
            if self.gcols else ""
        # per touched group (its key hash, in both tables' key types): lost rows, best added
        trel = rt.table(
            f"SELECT {gsel}{'FALSE' if insert_only else f'bool_or(d.{W} < 0)'} AS __neg, "
            f"{self.kind}(d._x) FILTER (WHERE d.{W} > 0) AS __dv, "
            f"{keyed_state.hash_sql([f'd.{q(g)}' for g in self.gcols])} AS __h "
            f"FROM {dn} d{group}")
        tn, v = trel.name, q(self.cols[-1])
        # one statement: each touched group's old extreme (read by key) and its new one: the
        # better of the old and the delta's when the delta only adds rows, else the extreme
        # of the group's values (read by key; none left: the group is gone)
        old = (f"SELECT s.* FROM {self.table} s SEMI JOIN {tn} t ON "
               f"{self.sizes.on(rt, self.table, trel.num_rows)}"
               f"{nullsafe('s', 't', self.cols[:-1], self.gcols)}")
        lost = (f"SELECT s.* FROM {self.values} s SEMI JOIN (SELECT * FROM {tn} WHERE __neg) t "
                f"ON {self.sizes.on(rt, self.values, trel.num_rows)}"
                f"{nullsafe('s', 't', self.gcols)}") if not insert_only else ""
        # (no group lost rows: not read at all, so an empty probe does not scan the values)
        regrouped = self._extreme(f"({lost}) AS __in" if not insert_only else
                                  f"(SELECT * FROM {self.values} LIMIT 0) AS __in")
        merged = (f"CASE WHEN o.{v} IS NULL THEN t.__dv WHEN t.__dv IS NULL THEN o.{v} "
                  f"ELSE {self.pick}(o.{v}, t.__dv) END")
        outs = "".join(f"t.{q(g)} AS {q(o)}, " for g, o in zip(self.gcols, self.cols, strict=False))
        new = rt.keyed_table(
            f"SELECT {outs}CASE WHEN t.__neg THEN r.{v} ELSE {merged} END AS {v}, "
            f"NOT t.__neg OR r.{W} IS NOT NULL AS _has, o.{v} AS _ov, "
            f"o.{W} IS NOT NULL AS _had, t.__h FROM {tn} t "
            f"LEFT JOIN ({old}) o ON {nullsafe('t', 'o', self.gcols, self.cols[:-1])} "
            f"LEFT JOIN ({regrouped}) r ON {nullsafe('t', 'r', self.gcols, self.cols[:-1])}",
            [self.table] + [self.values] * (not insert_only))
        nn = new.name
        self.sizes.delete(rt, self.table, new, f"t._had AND {nullsafe('s', 't', self.cols[:-1])}")
        self.sizes.insert(rt, self.table, f"INSERT INTO {self.table} SELECT "
                          f"{cols_sql(self.cols)}, 1::BIGINT, __h FROM {nn} WHERE _has")
        self.rows_read += new.num_rows
        self.rows_written += new.num_rows
        same = f"_has AND _had AND _ov IS NOT DISTINCT FROM {v}"
        groups = "".join(f"{q(c)}, " for c in self.cols[:-1])
        return (f"SELECT {cols_sql(self.cols)}, 1::BIGINT AS {W} FROM {nn} "
                f"WHERE _has AND NOT ({same}) UNION ALL "
                f"SELECT {groups}_ov AS {v}, -1::BIGINT AS {W} FROM {nn} "
                f"WHERE _had AND NOT ({same})")

    def describe(self):
        return f"Aggregate ({self.kind}: arrangement of distinct values, state {self.key})"
