"""Fusing a chain of per-key levels into one keyed recompute.

Sessionization reads like `group by user_id, session` over `sum(...) over (partition by
user_id)` over `lag(...) over (partition by user_id)` over the events. Every level keeps the
rows of one `user_id` together and passes `user_id` through, so the whole chain's output for a
user depends only on that user's input rows: one keyed recompute of the chain, over one
arrangement of the input, replaces a recompute per window level plus aggregates, joins and
arrangements between them (fewer operators, statements and state per tick).
"""

from __future__ import annotations

import duckdb
from sqlglot import exp

from eddy.dataflow.operators_keyed import KeyedRecompute
from eddy.errors import EddyError
from eddy.sql import plan_sessions
from eddy.sql.rewrites import has_mz_now


def _is_col(e: exp.Expression, table: str, name: str) -> bool:
    return isinstance(e, exp.Column) and e.table == table and e.name == name


def _chainable(sel: exp.Expression) -> bool:
    """One FROM item, no joins, LIMIT, subqueries or mz_now(): a candidate chain level."""
    if not isinstance(sel, exp.Select) or not sel.args.get("from_"):
        return False
    if sel.args.get("joins") or sel.args.get("limit") or sel.args.get("offset") or \
            sel.args.get("with_") or sel.args.get("laterals"):
        return False
    item = sel.args["from_"].this
    if isinstance(item, exp.Subquery) and item.args.get("lateral"):
        return False
    body = [*sel.expressions, *(sel.args[k] for k in ("where", "group", "having", "distinct")
                                if sel.args.get(k) is not None)]
    return not any(n.find(exp.Subquery, exp.Exists, exp.Select) for n in body) and \
        not any(has_mz_now(n) for n in body)


def _levels(sel: exp.Select) -> list[exp.Select]:
    levels = [sel]
    while True:
        item = levels[-1].args["from_"].this
        if isinstance(item, exp.Subquery) and _chainable(item.this):
            levels.append(item.this)
        else:
            return levels


def _keeps_key(sel: exp.Select, key: exp.Column) -> bool:
    """The level's groups, window partitions and DISTINCT ON all include the key column."""
    match = lambda es: any(_is_col(e, key.table, key.name) for e in es)  # noqa: E731
    windows = [w for e in sel.expressions for w in e.find_all(exp.Window)]
    if any(not match(w.args.get("partition_by") or []) for w in windows):
        return False
    group = sel.args.get("group")
    has_agg = any(a for e in sel.expressions for a in e.find_all(exp.AggFunc)
                  if not a.find_ancestor(exp.Window)) or sel.args.get("having") is not None
    if (group is not None or has_agg) and not (group is not None and match(group.expressions)):
        return False
    distinct = sel.args.get("distinct")
    on = distinct.args.get("on") if distinct is not None else None
    return on is None or match(on.expressions)


def _trace(levels: list[exp.Select], base_alias: str, name: str) -> list[exp.Column] | None:
    """The key column in each level's scope, bottom level last (None: a level drops or mixes
    it)."""
    keys: list[exp.Column] = []
    table, col = base_alias, name
    for sel in reversed(levels):
        key = exp.column(col, table=table)
        if not _keeps_key(sel, key):
            return None
        keys.append(key)
        out = [e.alias_or_name for e in sel.expressions
               if _is_col(e.unalias(), table, col)]
        if not out:
            return None
        table = sel.parent.alias_or_name if isinstance(sel.parent, exp.Subquery) else ""
        col = out[0]
    return keys[::-1]


def plan_fused(planner, sel: exp.Select):
    """(node, names) for a chain with window functions fused into one keyed recompute, or
    None when the shape is not such a chain."""
    if not _chainable(sel):
        return None
    levels = _levels(sel)
    if not any(e.find(exp.Window) for s in levels for e in s.expressions):
        return None
    base = levels[-1].args["from_"].this
    alias = base.alias_or_name
    node, colmap = planner.plan_from(base)
    for (table, name), _col in colmap.items():
        if table != alias:
            continue
        keys = _trace(levels, alias, name)
        if keys is not None:
            break
    else:
        return None
    names = list(sel.named_selects)
    body = sel.copy()
    body.set("order", None)
    body.set("expressions", [exp.alias_(keys[0].copy(), "_k0", quoted=True)] + [
        exp.alias_(e.unalias().copy(), f"_c{i}", quoted=True)
        for i, e in enumerate(body.expressions)])
    inner = body
    for _ in levels[1:]:
        inner = inner.args["from_"].this.this
    for c in list(inner.find_all(exp.Column)):
        if c.table == alias:
            if (alias, c.name) not in colmap:
                return None
            c.replace(exp.column(colmap[(alias, c.name)], table="__in0", quoted=True))
    inner.set("from_", exp.From(this=exp.to_table("__in0")))
    schema = planner.types(node)
    body_sql = planner.render(body, {"__in0": schema})
    ksql = planner.render(planner.rebind(exp.column(name, table=alias), colmap),
                          {"__in": schema})
    what = f"{len(levels)} fused levels with window functions"
    try:
        sessions = plan_sessions.build(planner, body, node, ksql, schema, names, what)
    except (duckdb.Error, EddyError):     # a part the merge cannot type: recompute the key
        sessions = None
    if sessions is not None:
        return sessions, names
    out = KeyedRecompute([planner.arranged(node)], [[ksql]], body_sql,
                         [f"_c{i}" for i in range(len(names))], what)
    return out, names
