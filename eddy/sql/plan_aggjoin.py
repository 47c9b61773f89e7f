"""A relation joined with a GROUP BY on the group key, planned as one keyed recompute.

int_risky_events' new-device logins read like `logins JOIN (SELECT user_id, device_id,
min(event_time) AS first FROM logins GROUP BY user_id, device_id) f ON user_id, device_id
and event_time = first`. Planned join by join that is a min/max aggregate (its state and an
arrangement of every input row for retractions), an arrangement of its output, one of the
logins, and a delta join of three terms: 13 DuckDB statements a tick. An output row with key
k is made only of the relation's rows whose join column is k and of the group k (NULL keys
match nothing under `=`, and a NULL group's rows only NULL groups), so one keyed recompute
of the whole SELECT over the relation and the GROUP BY's input, each arranged by its key,
gives the same rows. When both are the same relation (the shape above) it is read once.
A touched key costs its rows (a user's logins on one device), not its change.
"""

from __future__ import annotations

from sqlglot import exp

from eddy.dataflow.operators_keyed import KeyedRecompute
from eddy.sql.plan_group import grouped_select, key_outputs, narrow
from eddy.sql.plan_keyjoin import plain_exprs, plain_item
from eddy.sql.rewrites import conjuncts, has_mz_now


def _key_pairs(on, rel: str, agg: str, outs: dict) -> list[tuple[str, str]]:
    """(relation column, group key output) pairs that ON equates, each output once."""
    pairs, seen = [], set()
    for c in conjuncts(on):
        if not isinstance(c, exp.EQ) or not all(isinstance(x, exp.Column) for x in
                                                 (c.this, c.expression)):
            continue
        for a, b in ((c.this, c.expression), (c.expression, c.this)):
            if a.table == rel and b.table == agg and b.name in outs and b.name not in seen:
                seen.add(b.name)
                pairs.append((a.name, b.name))
    return pairs


def _shape(sel: exp.Select):
    """(join, items, index of the grouped item) when `sel` is one relation and one grouped
    subquery, inner- or left-joined; else None."""
    from_ = sel.args.get("from_")
    joins = sel.args.get("joins") or []
    if from_ is None or len(joins) != 1 or any(sel.args.get(k) for k in (
            "group", "having", "distinct", "limit", "offset", "with_", "laterals", "qualify")):
        return None
    join = joins[0]
    if (join.side or "").upper() not in ("", "LEFT") or join.args.get("using") or \
            join.args.get("on") is None or (join.kind or "").upper() not in ("", "INNER",
                                                                                "OUTER"):
        return None
    items = [from_.this, join.this]
    aliases = [i.alias_or_name for i in items]
    if not all(plain_item(i) for i in items) or not all(aliases) or aliases[0] == aliases[1]:
        return None
    if not plain_exprs([*sel.expressions, sel.args.get("where"), join.args["on"]]) or \
            any(e.find(exp.Star) for e in sel.expressions):     # find() includes e itself
        return None
    grouped = [grouped_select(i) is not None for i in items]
    if grouped.count(True) != 1:
        return None
    return join, items, grouped.index(True)


def plan_agg_join(planner, sel: exp.Select):
    """(node, names) of a SELECT joining a relation with a grouped subquery on its group key
    as one keyed recompute, or None when the query is not that shape."""
    shape = _shape(sel)
    if shape is None:
        return None
    join, items, g = shape
    x = 1 - g
    rel, agg = items[x].alias_or_name, items[g].alias_or_name
    sub = grouped_select(items[g])
    outs = key_outputs(sub)
    pairs = _key_pairs(join.args["on"], rel, agg, outs)
    if not pairs:
        return None
    src = sub.args["from_"].this
    inner = src.alias_or_name
    xnode, xmap = planner.plan_from(items[x])
    ynode, ymap = planner.plan_from(src)
    where = conjuncts(sub.args["where"].this if sub.args.get("where") else None)
    shared = ynode is xnode and not where
    if shared:
        xnode = ynode = narrow(xnode, xmap, sel, rel, (ymap, sub, inner))
    else:
        xnode = narrow(xnode, xmap, sel, rel)
        ynode, ymap = planner.filtered(narrow(ynode, ymap, sub, inner), ymap,
                                       [c for c in where if not has_mz_now(c)])
        temporal = [c for c in where if has_mz_now(c)]
        if temporal:
            ynode = planner.temporal(ynode, [planner.rebind(c, ymap) for c in temporal])
    if any((rel, a) not in xmap for a, _ in pairs):
        return None
    xtypes = planner.types(xnode)
    ytypes = xtypes if ynode is xnode else planner.types(ynode)
    xkeys = [planner.render(planner.rebind(exp.column(a, table=rel), xmap), {"__in": xtypes})
             for a, _ in pairs]
    ykeys = [planner.render(planner.rebind(outs[b], ymap), {"__in": ytypes}) for _, b in pairs]
    shared = shared and xkeys == ykeys
    names_of = {x: "__in0", g: "__in0" if shared else "__in1"}
    body = sel.copy()
    body.set("order", None)
    bitems = [body.args["from_"].this, body.args["joins"][0].this]
    binner = bitems[g].this
    binner.set("from_", exp.From(this=exp.to_table(names_of[g])))
    binner.set("where", None)
    for c in list(binner.find_all(exp.Column)):
        if c.table != inner or (inner, c.name) not in ymap:
            return None
        c.replace(exp.column(ymap[(inner, c.name)], table=names_of[g], quoted=True))
    bitems[x].replace(exp.to_table(names_of[x]))
    for c in list(body.find_all(exp.Column)):
        if c.find_ancestor(exp.Subquery) is not None:
            continue
        if c.table == rel:
            if (rel, c.name) not in xmap:
                return None
            c.replace(exp.column(xmap[(rel, c.name)], table=names_of[x], quoted=True))
        elif c.table != agg:
            return None
    names = list(sel.named_selects)
    if len(names) != len(sel.expressions):
        return None
    # the key from the first item: for a LEFT join its rows are all kept, keyed by it
    kcols = [exp.column(xmap[(rel, a)], table=names_of[x], quoted=True) if x == 0 else
             exp.column(b, table=agg) for a, b in pairs]
    body.set("expressions", [exp.alias_(k, f"_k{i}", quoted=True) for i, k in enumerate(kcols)]
             + [exp.alias_(e.unalias().copy(), f"_c{i}", quoted=True)
                for i, e in enumerate(body.expressions)])
    nodes, kexprs = ([xnode], [xkeys]) if shared else ([xnode, ynode], [xkeys, ykeys])
    body_sql = planner.render(body, {"__in0": xtypes} if shared else
                              {"__in0": xtypes, "__in1": ytypes})
    what = "a relation joined with a GROUP BY on its key" + (
        " (the GROUP BY's input, read once)" if shared else "")
    out = KeyedRecompute(nodes, kexprs, body_sql, [f"_c{i}" for i in range(len(names))], what)
    return out, names
