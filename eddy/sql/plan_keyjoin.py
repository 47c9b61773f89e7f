"""A chain of left joins on one key, planned as one keyed recompute.

`feat_user_logins` reads like `users LEFT JOIN last_login ON user_id LEFT JOIN
new_device_logins ON user_id and event_id LEFT JOIN last_risky ON user_id`. Planned join by
join, each left join is a keyed recompute of its own with an arrangement of each side: the
second join's left side is the first join's output, arranged again. When every ON equates a
column of the joined item with the key (the first item's key column, or a column an earlier ON
equated with it), an output row with key k is made only of input rows whose key column is k
(NULLs match nothing under `=`), so one keyed recompute of the whole SELECT over each item
arranged by its key column gives the same rows: each touched key's rows are read once per
input and the chain runs in one statement.
"""

from __future__ import annotations

from sqlglot import exp

from eddy.dataflow.operators_keyed import KeyedRecompute
from eddy.sql.plan_group import narrow
from eddy.sql.rewrites import conjuncts, has_mz_now
from eddy.storage.state import q


def _plain(nodes: list) -> bool:
    """No subquery, window, aggregate or mz_now() in these expressions."""
    return not any(n is not None and (n.find(exp.Subquery, exp.Exists, exp.Select, exp.Window,
                                             exp.AggFunc) or has_mz_now(n)) for n in nodes)


def _item(item) -> bool:
    """A FROM item planned on its own: a relation or a non-lateral subquery."""
    return isinstance(item, exp.Table) or (
        isinstance(item, exp.Subquery) and not item.args.get("lateral"))


def _linked(on, alias: str, keyed: set[tuple[str, str]]) -> str | None:
    """The column of `alias` that ON equates (`=`) with a column of the key's class."""
    for c in conjuncts(on):
        if not isinstance(c, exp.EQ) or not all(isinstance(x, exp.Column) for x in
                                                 (c.this, c.expression)):
            continue
        for a, b in ((c.this, c.expression), (c.expression, c.this)):
            if a.table == alias and (b.table, b.name) in keyed:
                return a.name
    return None


def _keys(first: str, joins: list) -> list[str] | None:
    """The key column of each item, the first item's choice tried in turn among the columns
    the first ON equates with the second item."""
    second = joins[0].this.alias_or_name
    candidates = []
    for c in conjuncts(joins[0].args.get("on")):
        if isinstance(c, exp.EQ) and all(isinstance(x, exp.Column) for x in
                                         (c.this, c.expression)):
            for a, b in ((c.this, c.expression), (c.expression, c.this)):
                if a.table == first and b.table == second:
                    candidates.append(a.name)
    for name in candidates:
        keyed = {(first, name)}
        keys = [name]
        for join in joins:
            alias = join.this.alias_or_name
            col = _linked(join.args.get("on"), alias, keyed)
            if col is None:
                break
            keyed.add((alias, col))
            keys.append(col)
        else:
            return keys
    return None


def plan_key_joins(planner, sel: exp.Select):
    """(node, names) of a SELECT over two or more LEFT JOINs that all join on the first item's
    key as one keyed recompute, or None when the query is not that shape."""
    from_ = sel.args.get("from_")
    joins = sel.args.get("joins") or []
    if from_ is None or len(joins) < 2 or any(sel.args.get(k) for k in (
            "group", "having", "distinct", "limit", "offset", "with_", "laterals", "qualify")):
        return None
    if any((j.side or "").upper() != "LEFT" or j.args.get("using") or j.args.get("on") is None
           or (j.kind or "").upper() not in ("", "OUTER") for j in joins):
        return None
    items = [from_.this, *(j.this for j in joins)]
    aliases = [i.alias_or_name for i in items]
    if not all(_item(i) for i in items) or len(set(aliases)) != len(aliases) or not all(aliases):
        return None
    if not _plain([*sel.expressions, sel.args.get("where"), *(j.args["on"] for j in joins)]) or \
            any(isinstance(e, exp.Star) or isinstance(e.unalias(), exp.Star) or
                e.find(exp.Star) for e in sel.expressions):
        return None
    keys = _keys(aliases[0], joins)
    if keys is None:
        return None
    nodes, colmaps = [], []
    for item, alias in zip(items, aliases, strict=True):
        node, colmap = planner.plan_from(item)
        nodes.append(narrow(node, colmap, sel, alias))
        colmaps.append(colmap)
    body = sel.copy()
    body.set("order", None)
    body.set("from_", exp.From(this=exp.to_table("__in0")))
    for i, join in enumerate(body.args["joins"]):
        join.set("this", exp.to_table(f"__in{i + 1}"))
    where = {alias: i for i, alias in enumerate(aliases)}
    for c in list(body.find_all(exp.Column)):
        i = where.get(c.table)
        if i is None or (c.table, c.name) not in colmaps[i]:
            return None
        c.replace(exp.column(colmaps[i][(c.table, c.name)], table=f"__in{i}", quoted=True))
    names = list(sel.named_selects)
    if len(names) != len(sel.expressions):
        return None
    body.set("expressions", [exp.alias_(exp.column(colmaps[0][(aliases[0], keys[0])],
                                                   table="__in0", quoted=True), "_k0",
                                        quoted=True)] + [
        exp.alias_(e.unalias().copy(), f"_c{i}", quoted=True)
        for i, e in enumerate(body.expressions)])
    body_sql = planner.render(body, {f"__in{i}": planner.types(n) for i, n in enumerate(nodes)})
    kexprs = [[f"__in.{q(colmaps[i][(a, k)])}"] for i, (a, k) in
              enumerate(zip(aliases, keys, strict=True))]
    out = KeyedRecompute(nodes, kexprs, body_sql, [f"_c{i}" for i in range(len(names))],
                         f"{len(items)} relations left-joined on one key")
    return out, names
