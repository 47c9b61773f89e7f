"""Grouped subqueries joined on their group key, planned as one keyed recompute.

`feat_user_transactions` reads like `last_day LEFT JOIN last_ten_minutes ON user_id`, each a
`GROUP BY user_id` over the transactions under its own temporal filter, with count(*), sums,
count(DISTINCT ...) and max(). Planned level by level that is a linear aggregate, two set
counts with their own aggregates, a min/max, joins putting the branches together and
arrangements under every join and the outer join: about 140 DuckDB statements per tick. An
output row depends only on the input rows of its key, so one keyed recompute of the whole
query over each subquery's filtered input (arranged by that key) gives the same rows: the
touched keys' rows are read by index and every aggregate of every subquery is computed in one
statement. The cost of a touched key is its rows (a user's transactions of the last day),
not its change: a lone GROUP BY keeps its per-aggregate accumulators (eddy.sql.planner), whose
cost per change does not grow with the group.
"""

from __future__ import annotations

from sqlglot import exp

from eddy.dataflow.operators import Map, Node
from eddy.dataflow.operators_keyed import KeyedRecompute
from eddy.sql.rewrites import conjuncts, has_mz_now
from eddy.storage.state import q


def _plain(nodes: list) -> bool:
    """No subquery, window, or mz_now() in these expressions."""
    return not any(n is not None and (n.find(exp.Subquery, exp.Exists, exp.Select, exp.Window)
                                      or has_mz_now(n)) for n in nodes)


def grouped_select(item) -> exp.Select | None:
    """The SELECT of a FROM item that is a plain grouped subquery: one FROM item, GROUP BY,
    no windows, DISTINCT, ORDER BY, LIMIT or subqueries; mz_now() only in WHERE."""
    if not isinstance(item, exp.Subquery) or item.args.get("lateral"):
        return None
    sel = item.this
    if not isinstance(sel, exp.Select) or not sel.args.get("group") or \
            not sel.args.get("from_"):
        return None
    if any(sel.args.get(k) for k in ("joins", "limit", "offset", "with_", "laterals",
                                     "distinct", "order")):
        return None
    src = sel.args["from_"].this
    if not isinstance(src, exp.Table | exp.Subquery) or (
            isinstance(src, exp.Subquery) and src.args.get("lateral")):
        return None
    if not _plain([*sel.expressions, sel.args["group"], sel.args.get("having")]):
        return None
    where = sel.args.get("where")
    if where is not None and where.find(exp.Subquery, exp.Exists, exp.Select):
        return None
    return sel


def key_outputs(sel: exp.Select) -> dict[str, exp.Column]:
    """Output name -> group column, for the group columns the subquery outputs as they are."""
    groups = [g for g in sel.args["group"].expressions if isinstance(g, exp.Column)]
    out = {}
    for e in sel.expressions:
        inner = e.unalias()
        for g in groups:
            if inner == g:
                out.setdefault(e.alias_or_name, g)
    return out


def _link(on, alias: str, outs: dict, keyed: dict[str, str]) -> str | None:
    """The key output of `alias` that ON equates with the key of an already keyed item."""
    for c in conjuncts(on):
        if not isinstance(c, exp.EQ) or not all(isinstance(x, exp.Column) for x in
                                                 (c.this, c.expression)):
            continue
        for a, b in ((c.this, c.expression), (c.expression, c.this)):
            if a.table == alias and a.name in outs and keyed.get(b.table) == b.name:
                return a.name
    return None


def _keys(items: list[tuple[str, exp.Select]], joins: list) -> list[str] | None:
    """The key output column of each item (the first item's choice tried in turn)."""
    outs = [key_outputs(s) for _, s in items]
    for first in outs[0]:
        keyed = {items[0][0]: first}
        for (alias, _), out, join in zip(items[1:], outs[1:], joins, strict=True):
            name = _link(join.args.get("on"), alias, out, keyed)
            if name is None:
                break
            keyed[alias] = name
        else:
            return [keyed[a] for a, _ in items]
    return None


def narrow(node: Node, colmap: dict, sel: exp.Expression, alias: str,
           *more: tuple[dict, exp.Expression, str]) -> Node:
    """Only the columns of item `alias` that `sel` reads, and those `more` readers of the
    same node (colmap, expression, alias) read (its arrangement then stores no others); also
    used by eddy.sql.plan_keyjoin and eddy.sql.plan_aggjoin."""
    used = set()
    for cmap, e, a in ((colmap, sel, alias), *more):
        used |= {cmap.get((c.table, c.name)) for c in e.find_all(exp.Column) if c.table == a}
    keep = [c for c in node.cols if c in used]
    if not keep or len(keep) == len(node.cols):
        return node
    return Map(node, [f"__in.{q(c)}" for c in keep], keep, None)


def plan_grouped(planner, sel: exp.Select):
    """(node, names) of a SELECT over grouped subqueries joined (inner or left) on their group
    key as one keyed recompute, or None when the query is not that shape."""
    from_ = sel.args.get("from_")
    joins = sel.args.get("joins") or []
    if from_ is None or any(sel.args.get(k) for k in (
            "group", "having", "distinct", "limit", "offset", "with_", "laterals")):
        return None
    if any((j.side or "").upper() not in ("", "LEFT") or j.args.get("using") or
           j.args.get("on") is None or (j.kind or "").upper() not in ("", "INNER", "OUTER")
           for j in joins):
        return None
    if not _plain([*sel.expressions, sel.args.get("where"), *(j.args["on"] for j in joins)]) \
            or any(e.find(exp.AggFunc) for e in sel.expressions):
        return None
    items = []
    for item in [from_.this, *(j.this for j in joins)]:
        sub = grouped_select(item)
        if sub is None:
            return None
        items.append((item.alias_or_name, sub))
    if len(items) < 2 or len({a for a, _ in items}) != len(items):
        return None     # one grouped subquery: planned on its own (Planner.plan_select)
    keys = _keys(items, joins)
    if keys is None:
        return None
    nodes, kexprs, colmaps = [], [], []
    for (_, sub), key in zip(items, keys, strict=True):
        src = sub.args["from_"].this
        node, colmap = planner.plan_from(src)
        node = narrow(node, colmap, sub, src.alias_or_name)
        where = conjuncts(sub.args["where"].this if sub.args.get("where") else None)
        node, colmap = planner.filtered(node, colmap, [c for c in where if not has_mz_now(c)])
        temporal = [c for c in where if has_mz_now(c)]
        if temporal:
            node = planner.temporal(node, [planner.rebind(c, colmap) for c in temporal])
        group = key_outputs(sub)[key]
        kexprs.append([planner.render(planner.rebind(group, colmap),
                                      {"__in": planner.types(node)})])
        nodes.append(node)
        colmaps.append(colmap)
    body = sel.copy()
    body.set("order", None)
    subs = [body.args["from_"].this] + [j.this for j in body.args.get("joins") or []]
    for i, sub in enumerate(subs):
        inner = sub.this
        src = inner.args["from_"].this.alias_or_name
        for c in list(inner.find_all(exp.Column)):
            if c.table == src:
                if (src, c.name) not in colmaps[i]:
                    return None
                c.replace(exp.column(colmaps[i][(src, c.name)], table=f"__in{i}", quoted=True))
        inner.set("from_", exp.From(this=exp.to_table(f"__in{i}")))
        inner.set("where", None)
    names = list(sel.named_selects)
    body.set("expressions", [exp.alias_(exp.column(keys[0], table=items[0][0]), "_k0",
                                        quoted=True)] + [
        exp.alias_(e.unalias().copy(), f"_c{i}", quoted=True)
        for i, e in enumerate(sel.expressions)])
    body_sql = planner.render(body, {f"__in{i}": planner.types(n) for i, n in enumerate(nodes)})
    out = KeyedRecompute(nodes, kexprs, body_sql, [f"_c{i}" for i in range(len(names))],
                         f"{len(items)} grouped subqueries joined on their key")
    return out, names
