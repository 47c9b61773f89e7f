"""Planner: a qualified SELECT (postgres dialect, relations bound to ids) becomes a tree of
incremental operators. Shapes without an incremental rule raise `Fallback`; the caller then
uses the recompute-and-diff operator."""

from __future__ import annotations

from sqlglot import exp

from eddy.catalog.objects import Catalog
from eddy.dataflow.operators import Join, Map, Node, Scan, UnionAll, arranged
from eddy.dataflow.operators_agg import LinearAgg, MinMaxAgg, SetCount
from eddy.dataflow.operators_keyed import KeyedRecompute
from eddy.dataflow.temporal import TemporalFilter
from eddy.errors import EddyError
from eddy.sql import dialect
from eddy.sql.plan_aggjoin import plan_agg_join
from eddy.sql.plan_first import plan_first_row
from eddy.sql.plan_fuse import plan_fused
from eddy.sql.plan_group import plan_grouped
from eddy.sql.plan_keyjoin import plan_key_joins
from eddy.sql.rewrites import (
    FLIP,
    conjuncts,
    exists_to_lateral,
    has_mz_now,
    is_mz_now,
    resolve_output_aliases,
)
from eddy.sql.types import from_duckdb
from eddy.storage.state import q

REF = "__ref"


class Fallback(Exception):
    """The shape has no incremental rule here; recompute-and-diff instead."""


def _has_subquery(node) -> bool:
    return any(isinstance(n, exp.Select | exp.Subquery | exp.Exists) for n in node.walk()
               if n is not node) or isinstance(node, exp.Exists)


_CMP = {exp.LT: ("until", "ceil"), exp.LTE: ("until", "floor+1"),
        exp.GT: ("from", "floor+1"), exp.GTE: ("from", "ceil")}



class Planner:
    """Builds operator trees; `conn` is used to learn column types (DESCRIBE)."""

    def __init__(self, conn, catalog: Catalog):
        self.conn, self.catalog = conn, catalog
        self.nodes = 0
        self.memo: dict[str, tuple[Node, list[str]]] = {}   # subquery SQL -> its plan
        self.arrangements: dict[int, Node] = {}             # id(node) -> its Arrange

    def arranged(self, node: Node) -> Node:
        """One arrangement per node, however many joins and recomputes read it."""
        if id(node) not in self.arrangements:
            self.arrangements[id(node)] = arranged(node)
        return self.arrangements[id(node)]

    # -- helpers -------------------------------------------------------------------------
    def types(self, node: Node) -> dict[str, str]:
        rows = self.conn.execute(f"DESCRIBE SELECT * FROM ({node.spec()})").fetchall()
        return {r[0]: from_duckdb(r[1]) for r in rows}

    @staticmethod
    def translate(e: exp.Expression, schema: dict | None = None) -> exp.Expression:
        """DuckDB form of an expression; typed by evaluating it as a projection over the
        schema's relations (type-dependent rules need a scope)."""
        if isinstance(e, exp.Query) or not schema:
            return dialect.to_duckdb(e, schema=schema)
        tables = list(schema)
        sel = exp.select(e.copy()).from_(exp.to_table(tables[0]))
        for t in tables[1:]:
            sel = sel.join(exp.to_table(t), join_type="cross")
        out = dialect.to_duckdb(sel, schema=schema)
        return out.expressions[0].unalias()

    def render(self, e: exp.Expression, schema: dict | None = None) -> str:
        return dialect.render(self.translate(e, schema))

    @staticmethod
    def rebind(e: exp.Expression, colmap: dict, table: str | dict = "__in") -> exp.Expression:
        """Column refs (alias, name) -> the node's column, qualified by `table`."""
        def fn(node):
            if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                key = (node.table, node.name)
                if key not in colmap:
                    raise Fallback(f"column reference {node.sql('postgres')}")
                t = table if isinstance(table, str) else table[key]
                return exp.column(colmap[key], table=t, quoted=True)
            return node
        return e.copy().transform(fn)

    # -- queries ---------------------------------------------------------------------------
    def plan_query(self, e: exp.Expression) -> tuple[Node, list[str]]:
        if isinstance(e, exp.Subquery):
            return self.plan_query(e.this)
        if isinstance(e, exp.Select):
            return self.plan_select(e)
        if isinstance(e, exp.Union | exp.Except | exp.Intersect):
            if e.args.get("order") or e.args.get("limit") or e.args.get("offset"):
                raise Fallback("ORDER BY/LIMIT on a set operation")
            left, lnames = self.plan_query(e.this)
            right, _ = self.plan_query(e.expression)
            if len(left.cols) != len(right.cols):
                raise EddyError("42601", "each set operation input must have the same number "
                                "of columns")
            distinct = e.args.get("distinct", True)
            if isinstance(e, exp.Union):
                node = UnionAll([left, right], list(left.cols))
                return (SetCount([node], "distinct") if distinct else node), lnames
            mode = ("except" if isinstance(e, exp.Except) else "intersect") + \
                ("" if distinct else "_all")
            return SetCount([left, right], mode), lnames
        raise Fallback(f"{e.key} in a maintained query")

    def plan_from(self, item) -> tuple[Node, dict]:
        if isinstance(item, exp.Table) and item.db == REF:
            obj = self.catalog.get(item.name)
            if obj is None:
                raise EddyError("42P01", f"unknown relation {item.name}")
            cols = [c[0] for c in obj.columns]
            weighted = obj.kind == "materialized-view" or obj.internal.get("maintained", False)
            node = Scan(obj.id, obj.qualified, cols, weighted)
            alias = item.alias_or_name
            return node, {(alias, c): c for c in cols}
        if isinstance(item, exp.Subquery) and not item.args.get("lateral"):
            # identical subqueries (a CTE referenced twice, a view read twice) share one plan:
            # a FROM subquery cannot see outer columns, so equal text means equal output
            key = item.this.sql("postgres")
            if key not in self.memo:
                self.memo[key] = self.plan_query(item.this)
            node, names = self.memo[key]
            alias = item.alias_or_name
            return node, {(alias, n): c for n, c in zip(names, node.cols, strict=False)}
        raise Fallback(f"{item.key} in FROM")

    def plan_lateral(self, left: Node, lmap: dict, join: exp.Join) -> tuple[Node, dict]:
        """`left, LATERAL (SELECT ... FROM r WHERE r.x = left.y ...)`: the output for a key
        y depends only on the left rows and the r rows with that key: keyed recompute."""
        lateral = join.this
        side = (join.side or "").upper()
        on = join.args.get("on")
        if side not in ("", "LEFT") or (on is not None and not (
                isinstance(on, exp.Boolean) and on.this)):
            raise Fallback("LATERAL join form")
        sub = lateral.this
        inner = sub.this if isinstance(sub, exp.Subquery) else sub
        alias = lateral.alias or (sub.alias if isinstance(sub, exp.Subquery) else "")
        if not isinstance(inner, exp.Select) or inner.args.get("joins") or \
                inner.args.get("with_") or not inner.args.get("from_"):
            raise Fallback("LATERAL subquery shape")
        rnode, rmap = self.plan_from(inner.args["from_"].this)
        left_aliases = {a for a, _ in lmap}
        lkeys, rkeys = [], []
        for c in conjuncts(inner.args["where"].this if inner.args.get("where") else None):
            if isinstance(c, exp.EQ):
                a, b = c.this, c.expression
                ta = {x.table for x in a.find_all(exp.Column)}
                tb = {x.table for x in b.find_all(exp.Column)}
                if ta and tb and ta <= left_aliases and not tb & left_aliases:
                    a, b, ta, tb = b, a, tb, ta
                if ta and tb and tb <= left_aliases and not ta & left_aliases:
                    rkeys.append(a)
                    lkeys.append(b)
        for node in inner.walk():
            if isinstance(node, exp.Subquery | exp.Exists) and node is not inner:
                raise Fallback("subquery inside LATERAL")
        names = list(inner.named_selects)
        n = len(left.cols)
        out = [f"_c{i}" for i in range(n + len(names))]
        sides = {**{k: "__in0" for k in lmap}, **{k: "__in1" for k in rmap}}
        both = {**lmap, **rmap}
        body_inner = self.rebind(inner, both, sides)
        body_inner.set("from_", exp.From(this=exp.to_table("__in1")))
        items = [f"{self.render(self.rebind(k, lmap, '__in0'))} AS _k{i}"
                 for i, k in enumerate(lkeys)]
        items += [f"__in0.{q(c)} AS {q(out[i])}" for i, c in enumerate(left.cols)]
        items += [f"__lat.{q(nm)} AS {q(out[n + j])}" for j, nm in enumerate(names)]
        join_sql = "LEFT JOIN LATERAL" if side == "LEFT" else "CROSS JOIN LATERAL"
        tail = " ON TRUE" if side == "LEFT" else ""
        body = (f"SELECT {', '.join(items)} FROM __in0 {join_sql} "
                f"({self.render(body_inner)}) AS __lat{tail}")
        lk = [self.render(self.rebind(k, lmap)) for k in lkeys]
        rk = [self.render(self.rebind(k, rmap)) for k in rkeys]
        node = KeyedRecompute([self.arranged(left), self.arranged(rnode)],
                              [lk, rk] if lk else [], body, out,
                              "LATERAL join")
        colmap = {k: out[left.cols.index(v)] for k, v in lmap.items()}
        colmap.update({(alias, nm): out[n + j] for j, nm in enumerate(names)})
        return node, colmap

    def filtered(self, node: Node, colmap: dict, conds: list | None) -> tuple[Node, dict]:
        """The node with WHERE conjuncts that read only it applied first (before joins)."""
        if not conds:
            return node, colmap
        schema = {"__in": self.types(node)}
        where = " AND ".join(f"({self.render(self.rebind(c, colmap), schema)})" for c in conds)
        return Map(node, [f"__in.{q(c)}" for c in node.cols], list(node.cols), where), colmap

    def plan_join(self, left: Node, lmap: dict, join: exp.Join,
                  pushed: list | None = None) -> tuple[Node, dict]:
        if isinstance(join.this, exp.Lateral):
            return self.plan_lateral(left, lmap, join)
        if join.args.get("using"):
            raise Fallback("USING join")
        right, rmap = self.filtered(*self.plan_from(join.this), pushed)
        n = len(left.cols)
        names = [f"_c{i}" for i in range(n + len(right.cols))]
        lpos = {c: i for i, c in enumerate(left.cols)}
        rpos = {c: n + i for i, c in enumerate(right.cols)}
        colmap = {k: names[lpos[v]] for k, v in lmap.items()}
        colmap.update({k: names[rpos[v]] for k, v in rmap.items()})
        on = join.args.get("on")
        side = (join.side or "").upper()
        sides = {**{k: "__l" for k in lmap}, **{k: "__r" for k in rmap}}
        both = {**lmap, **rmap}
        if on is not None and _has_subquery(on):
            raise Fallback("subquery in ON")
        if side not in ("LEFT", "RIGHT", "FULL"):
            on_sql = None
            if on is not None:
                schema = {"__l": self.types(left), "__r": self.types(right)}
                on_sql = self.render(self.rebind(on, both, sides), schema)
            return Join(self.arranged(left), self.arranged(right), on_sql, names), colmap
        # outer join: recompute per equi-join key
        lkeys, rkeys = [], []
        for c in conjuncts(on):
            if isinstance(c, exp.EQ):
                a, b = c.this, c.expression
                sa = {sides.get((x.table, x.name)) for x in a.find_all(exp.Column)}
                sb = {sides.get((x.table, x.name)) for x in b.find_all(exp.Column)}
                if sa == {"__r"} and sb == {"__l"}:
                    a, b, sa, sb = b, a, sb, sa
                if sa == {"__l"} and sb == {"__r"}:
                    lkeys.append(a)
                    rkeys.append(b)
        in_sides = {**{k: "__in0" for k in lmap}, **{k: "__in1" for k in rmap}}
        lk = [self.render(self.rebind(k, lmap)) for k in lkeys]
        rk = [self.render(self.rebind(k, rmap)) for k in rkeys]
        body_l = [self.render(self.rebind(k, both, in_sides)) for k in lkeys]
        body_r = [self.render(self.rebind(k, both, in_sides)) for k in rkeys]
        if side == "LEFT":
            kexprs = body_l
        elif side == "RIGHT":
            kexprs = body_r
        else:
            kexprs = [f"coalesce({a}, {b})" for a, b in zip(body_l, body_r, strict=False)]
        items = [f"{k} AS _k{i}" for i, k in enumerate(kexprs)]
        items += [f"__in0.{q(c)} AS {q(names[lpos[c]])}" for c in left.cols]
        items += [f"__in1.{q(c)} AS {q(names[rpos[c]])}" for c in right.cols]
        on_sql = self.render(self.rebind(on, both, in_sides)) if on is not None else "TRUE"
        body = (f"SELECT {', '.join(items)} FROM __in0 {side} JOIN __in1 ON {on_sql}")
        node = KeyedRecompute([self.arranged(left), self.arranged(right)],
                              [lk, rk] if lk else [], body, names,
                              f"{side.lower()} join")
        return node, colmap

    def plan_select(self, sel: exp.Select) -> tuple[Node, list[str]]:
        if sel.args.get("with_"):
            raise Fallback("nested WITH")
        sel = exists_to_lateral(sel)
        fused = plan_fused(self, sel) or plan_grouped(self, sel) or \
            plan_key_joins(self, sel) or plan_agg_join(self, sel)
        if fused is not None:
            return fused
        from_ = sel.args.get("from_")
        if from_ is None:
            raise Fallback("SELECT without FROM")
        joins = sel.args.get("joins") or []
        where = conjuncts(sel.args.get("where").this if sel.args.get("where") else None)
        pushed, where = _push_down(from_.this, joins, where)
        node, colmap = self.filtered(*self.plan_from(from_.this), pushed.get(
            from_.this.alias_or_name))
        for join in joins:
            node, colmap = self.plan_join(node, colmap, join, pushed.get(join.this.alias_or_name))
        names = list(sel.named_selects)
        if len(names) != len(sel.expressions):
            raise Fallback("unnamed select items")
        # WHERE: plain conjuncts filter; mz_now() comparisons become a temporal filter
        plain, temporal = [], []
        for c in where:
            if _has_subquery(c):
                raise Fallback("subquery in WHERE")
            (temporal if has_mz_now(c) else plain).append(c)
        if plain:
            schema = {"__in": self.types(node)}
            where = " AND ".join(f"({self.render(self.rebind(c, colmap), schema)})" for c in plain)
            node = Map(node, [f"__in.{q(c)}" for c in node.cols], list(node.cols), where)
        if temporal:
            node = self.temporal(node, [self.rebind(c, colmap) for c in temporal])
        for e in sel.expressions:
            if _has_subquery(e) or has_mz_now(e):
                raise Fallback("subquery or mz_now() in the select list")
        aggs = [a for e in sel.expressions for a in e.find_all(exp.AggFunc)
                if not a.find_ancestor(exp.Window)]
        having = sel.args.get("having")
        if having is not None:
            if has_mz_now(having.this):
                raise Fallback("mz_now() in HAVING is re-evaluated every tick")
            aggs += list(having.this.find_all(exp.AggFunc))
        windows = [w for e in sel.expressions for w in e.find_all(exp.Window)]
        group = list(sel.args["group"].expressions) if sel.args.get("group") else []
        distinct = sel.args.get("distinct")
        distinct_on = distinct.args.get("on") if distinct else None
        limited = bool(sel.args.get("limit") or sel.args.get("offset"))
        plain_distinct = distinct is not None and distinct_on is None
        if not (aggs or group or windows or limited or having) and (
                distinct is None or plain_distinct):
            schema = {"__in": self.types(node)}
            exprs = [self.render(self.rebind(e.unalias(), colmap), schema)
                     for e in sel.expressions]
            if exprs == [f'"__in".{q(c)}' for c in node.cols]:
                out = node     # `select *` and other identity projections: no operator
            else:
                out = Map(node, exprs, [f"_c{i}" for i in range(len(exprs))], None)
            return (SetCount([out], "distinct") if plain_distinct else out), names
        if (aggs or group) and not (windows or distinct_on or limited) and all(
                _linear(a) or _distinct_count(a) or _minmax(a) for a in aggs):
            return self.linear_agg(sel, node, colmap, group, aggs, names)
        return self.keyed(sel, node, colmap, group, windows, distinct_on, limited, names)

    def linear_agg(self, sel, node, colmap, group, aggs, names):
        schema = {"__in": self.types(node)}
        gsql = [self.render(self.rebind(g, colmap), schema) for g in group]
        uniq: list[exp.Expression] = []
        for a in aggs:
            if a not in uniq:
                uniq.append(a)
        extremes = [a for a in uniq if _minmax(a)]
        uniq = [a for a in uniq if not _minmax(a)]
        specs, types = [], []
        for a in uniq:
            # count(DISTINCT x) is counted in the same operator (its own (group, x) counts)
            kind = "count_star" if isinstance(a, exp.Count) and isinstance(
                a.this, exp.Star) else "count_distinct" if _distinct_count(a) else a.key
            arg = a.this.expressions[0] if kind == "count_distinct" else a.this
            arg = None if kind == "count_star" else self.render(self.rebind(arg, colmap),
                                                                schema)
            specs.append((kind, arg))
            agg_sql = self.render(self.rebind(a, colmap), schema)
            typ = self.conn.execute(
                f"DESCRIBE SELECT {agg_sql} FROM ({node.spec()}) AS __in").fetchall()[0][1]
            types.append(typ)
        gnames = [f"_g{i}" for i in range(len(group))]
        anames = [f"_a{i}" for i in range(len(uniq))]
        # min/max: a branch each, joined to the other aggregates on the group key; the
        # branches share the input operators
        branches: list[tuple[Node, int]] = []      # (node, column of its value(s))
        if uniq or not extremes:
            branches.append((LinearAgg(node, gsql, specs, types, gnames + anames),
                             len(group)))
        for m in extremes:
            x = self.render(self.rebind(_minmax_arg(m), colmap), schema)
            names_ = [f"_g{i}" for i in range(len(gsql))] + ["_x"]
            branches.append((MinMaxAgg(Map(node, gsql + [x], names_, None), m.key,
                                       names_[:-1] + ["_v"]), len(group)))
        agg, _ = branches[0]
        values = list(agg.cols[len(group):])
        for right, _ in branches[1:]:
            width = len(agg.cols)
            cols = [f"_c{i}" for i in range(width + len(right.cols))]
            lnames = agg.cols[:len(group)]
            on = " AND ".join(f"__l.{q(a)} IS NOT DISTINCT FROM __r.{q(b)}"
                              for a, b in zip(lnames, right.cols[:len(group)], strict=True))
            values = [cols[agg.cols.index(v)] for v in values]
            agg = Join(self.arranged(agg), self.arranged(right), on or "TRUE", cols)
            values.append(cols[width + len(group)])
        gnames = agg.cols[:len(group)]
        uniq = uniq + extremes
        anames = values

        def post(e):
            def fn(n):
                for g, name in zip(group, gnames, strict=False):
                    if n == g:
                        return exp.column(name, table="__in", quoted=True)
                for a, name in zip(uniq, anames, strict=False):
                    if n == a:
                        return exp.column(name, table="__in", quoted=True)
                if isinstance(n, exp.Column):
                    raise EddyError("42803", f"column {n.sql('postgres')} must appear in the "
                                    "GROUP BY clause or be used in an aggregate function")
                return n
            return e.copy().transform(fn)
        having = sel.args.get("having")
        where = self.render(post(having.this)) if having is not None else None
        exprs = [self.render(post(e.unalias())) for e in sel.expressions]
        out = Map(agg, exprs, [f"_c{i}" for i in range(len(exprs))], where)
        if sel.args.get("distinct"):
            return SetCount([out], "distinct"), names
        return out, names

    def keyed(self, sel, node, colmap, group, windows, distinct_on, limited, names):
        sel = resolve_output_aliases(sel)
        distinct = sel.args.get("distinct")
        distinct_on = distinct.args.get("on") if distinct else None
        keys: list[exp.Expression] = []
        what = "aggregate" if group or any(
            e.find(exp.AggFunc) for e in sel.expressions) else "DISTINCT"
        if windows:
            what = "window functions"
            parts = [tuple(w.args.get("partition_by") or []) for w in windows]
            if len(set(parts)) == 1 and parts[0] and not limited and (
                    not group or all(p in group for p in parts[0])):
                keys = list(parts[0])
        elif group and not limited:
            keys = group
        elif distinct_on is not None and not limited:
            what = "DISTINCT ON"
            keys = list(distinct_on.expressions)
        elif limited:
            what = "ORDER BY ... LIMIT"
        node = self.narrow(sel, node, colmap)
        if what == "DISTINCT ON":
            first = plan_first_row(self, sel, node, colmap, names)
            if first is not None:
                return first
        body = sel.copy()
        body.set("where", None)
        body.set("joins", None)
        body.set("from_", exp.From(this=exp.to_table("__in0")))
        if not (limited or distinct_on is not None):
            body.set("order", None)
        kitems = [exp.alias_(k.copy(), f"_k{i}", quoted=True) for i, k in enumerate(keys)]
        body.set("expressions", kitems + [
            exp.alias_(e.unalias().copy(), f"_c{i}", quoted=True)
            for i, e in enumerate(sel.expressions)])
        schema0 = self.types(node)
        body = self.rebind_body(body, colmap)
        body_sql = self.render(body, {"__in0": schema0})
        ksql = [self.render(self.rebind(k, colmap), {"__in": schema0}) for k in keys]
        out = KeyedRecompute([self.arranged(node)], [ksql] if keys else [], body_sql,
                             [f"_c{i}" for i in range(len(names))], what)
        return out, names

    @staticmethod
    def narrow(sel: exp.Select, node: Node, colmap: dict) -> Node:
        """Only the columns the recompute reads, so that its arrangement holds one row per
        distinct (key, values) with a count rather than every input row (min/max over a
        group then reads the group's distinct values, not its history)."""
        sel = sel.copy()
        for applied in ("where", "joins", "from_", "from"):    # already applied below
            sel.set(applied, None)
        if not isinstance(node, Map) or any(
                isinstance(c.this, exp.Star) for c in sel.find_all(exp.Column)) or \
                any(isinstance(e, exp.Star) for e in sel.expressions):
            return node
        used = {colmap.get((c.table, c.name)) for c in sel.find_all(exp.Column)}
        keep = [c for c in node.cols if c in used]
        if not keep or len(keep) == len(node.cols):
            return node
        return Map(node, [f"__in.{q(c)}" for c in keep], keep, None)

    def rebind_body(self, body: exp.Select, colmap: dict) -> exp.Select:
        def fn(n):
            if isinstance(n, exp.Column) and not isinstance(n.this, exp.Star) and n.table:
                key = (n.table, n.name)
                if key not in colmap:
                    raise Fallback(f"column reference {n.sql('postgres')}")
                return exp.column(colmap[key], table="__in0", quoted=True)
            return n
        return body.transform(fn)

    def temporal(self, node: Node, conds: list[exp.Expression]) -> Node:
        schema = {"__in": self.types(node)}
        froms, untils = [], []
        for c in conds:
            if type(c) not in FLIP or (is_mz_now(c.this) == is_mz_now(c.expression)):
                raise EddyError("0A000", "mz_now() must be compared directly to an expression "
                                "(mz_now() <op> expr) in a temporal filter; this form not supported")
            if not is_mz_now(c.this):
                c = FLIP[type(c)](this=c.expression, expression=c.this)
            if has_mz_now(c.expression):
                raise EddyError("0A000", "mz_now() on both sides of a comparison not supported")
            translated = self.translate(c, schema)
            bound = dialect.render(translated.expression)
            if isinstance(c, exp.EQ):
                froms.append(f"ceil({bound})")
                untils.append(f"floor({bound}) + 1")
                continue
            which, how = _CMP[type(c)]
            sql = f"ceil({bound})" if how == "ceil" else f"floor({bound}) + 1"
            (froms if which == "from" else untils).append(sql)
        return TemporalFilter(node, froms, untils)


def _push_down(first, joins: list, where: list) -> tuple[dict, list]:
    """With only inner/cross joins, WHERE conjuncts that read one FROM item move to it."""
    if not joins or any(j.side or isinstance(j.this, exp.Lateral) or j.args.get("using")
                        for j in joins):
        return {}, where
    aliases = {first.alias_or_name} | {j.this.alias_or_name for j in joins}
    pushed: dict[str, list] = {}
    rest = []
    for c in where:
        tables = {col.table for col in c.find_all(exp.Column)}
        if len(tables) == 1 and tables <= aliases and not _has_subquery(c) and \
                not has_mz_now(c) and not c.find(exp.AggFunc, exp.Window):
            pushed.setdefault(next(iter(tables)), []).append(c)
        else:
            rest.append(c)
    return pushed, rest


def _distinct_count(a: exp.Expression) -> bool:
    return isinstance(a, exp.Count) and isinstance(a.this, exp.Distinct) and \
        len(a.this.expressions) == 1 and not a.args.get("filter") and \
        not a.find_ancestor(exp.Filter)


def _minmax_arg(a: exp.Expression) -> exp.Expression:
    return a.this.expressions[0] if isinstance(a.this, exp.Distinct) else a.this


def _minmax(a: exp.Expression) -> bool:
    """min(x) / max(x) (DISTINCT changes nothing) of one argument, without FILTER."""
    if not isinstance(a, exp.Min | exp.Max) or a.expressions or a.args.get("filter") or \
            a.find_ancestor(exp.Filter):
        return False
    return not isinstance(a.this, exp.Distinct) or len(a.this.expressions) == 1


def _linear(a: exp.Expression) -> bool:
    if not isinstance(a, exp.Count | exp.Sum | exp.Avg):
        return False
    if isinstance(a.this, exp.Distinct) or a.args.get("filter"):
        return False
    return not a.find_ancestor(exp.Filter)


def assign_keys(root: Node, prefix: str) -> list[str]:
    """Deterministic state-table names for every stateful node; returns them."""
    names = []
    for i, node in enumerate(root.walk()):
        node.key = f"{prefix}_n{i}"
        names += node.state_tables()
    return names
