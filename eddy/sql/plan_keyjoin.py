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


def plain_exprs(nodes: list) -> bool:
    """No subquery, window, aggregate or mz_now() in these expressions."""
    return not any(n is not None and (n.find(exp.Subquery, exp.Exists, exp.Select, exp.Window,
                                             exp.AggFunc) or has_mz_now(n)) for n in nodes)


def plain_item(item) -> bool:
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


def _same_item(a, b) -> bool:
    """Two FROM items that plan to the same node: equal subquery text, or the same relation."""
    if isinstance(a, exp.Subquery) and isinstance(b, exp.Subquery):
        return a.this.sql("postgres") == b.this.sql("postgres")
    return isinstance(a, exp.Table) and isinstance(b, exp.Table) and \
        (a.db, a.name) == (b.db, b.name)


def _key_union(items: list, keys: list[str]) -> tuple[list[int], bool] | None:
    """When the first item is a UNION of the key columns of later items (feat_user_logins'
    `users`: the user ids of last_login and of last_risky), those items' indexes and whether
    the union is distinct; else None. Its rows for a key are then made from those items' rows
    for that key, which the keyed recompute reads anyway: it needs no state of its own (a set
    count and an arrangement, 9 statements a tick)."""
    first = items[0]
    if not isinstance(first, exp.Subquery):
        return None
    branches, flags = [], set()

    def walk(e) -> bool:
        if isinstance(e, exp.Union):
            if any(e.args.get(k) for k in ("order", "limit", "offset", "with_")):
                return False
            flags.add(bool(e.args.get("distinct", True)))
            return walk(e.this) and walk(e.expression)
        if isinstance(e, exp.Select):
            branches.append(e)
            return True
        return False

    if not walk(first.this) or not isinstance(first.this, exp.Union) or len(flags) != 1:
        return None
    found = []
    for b in branches:
        if any(b.args.get(k) for k in ("where", "joins", "group", "having", "distinct", "with_",
                                       "limit", "offset", "order", "qualify", "laterals")) \
                or not b.args.get("from_") or len(b.expressions) != 1:
            return None
        col = b.expressions[0].unalias()
        src = b.args["from_"].this
        if not isinstance(col, exp.Column) or col.table not in ("", src.alias_or_name):
            return None
        j = next((j for j in range(1, len(items)) if _same_item(items[j], src)
                  and keys[j] == col.name), None)
        if j is None:
            return None
        found.append(j)
    return found, flags.pop()


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
    if not all(plain_item(i) for i in items) or len(set(aliases)) != len(aliases) or \
            not all(aliases):
        return None
    if not plain_exprs([*sel.expressions, sel.args.get("where"),
                        *(j.args["on"] for j in joins)]) or \
            any(isinstance(e, exp.Star) or isinstance(e.unalias(), exp.Star) or
                e.find(exp.Star) for e in sel.expressions):
        return None
    keys = _keys(aliases[0], joins)
    if keys is None:
        return None
    union = _key_union(items, keys)
    nodes, colmaps = [], []
    for i, (item, alias) in enumerate(zip(items, aliases, strict=True)):
        if i == 0 and union is not None:      # made from the later items' rows (below)
            nodes.append(None)
            colmaps.append({(alias, keys[0]): "_k"})
            continue
        node, colmap = planner.plan_from(item)
        nodes.append(narrow(node, colmap, sel, alias))
        colmaps.append(colmap)
    # the inputs' names in the recompute's SQL: __in0.. in the order of `nodes` kept
    shift = 1 if union is not None else 0
    names_of = [f"__in{i - shift}" for i in range(len(items))]
    if union is not None:
        names_of[0] = "__keys"
    body = sel.copy()
    body.set("order", None)
    body.set("from_", exp.From(this=exp.to_table(names_of[0])))
    for i, join in enumerate(body.args["joins"]):
        join.set("this", exp.to_table(names_of[i + 1]))
    where = {alias: i for i, alias in enumerate(aliases)}
    for c in list(body.find_all(exp.Column)):
        i = where.get(c.table)
        if i is None or (c.table, c.name) not in colmaps[i]:
            return None
        c.replace(exp.column(colmaps[i][(c.table, c.name)], table=names_of[i], quoted=True))
    if union is not None:     # the first item: the union of the later items' keys
        parts = [exp.select(exp.alias_(exp.column(colmaps[j][(aliases[j], keys[j])],
                                                  table=names_of[j], quoted=True),
                                       "_k", quoted=True)).from_(exp.to_table(names_of[j]))
                 for j in union[0]]
        keyset = parts[0]
        for p in parts[1:]:
            keyset = exp.union(keyset, p, distinct=union[1])
        body.set("from_", exp.From(this=exp.Subquery(this=keyset, alias=exp.TableAlias(
            this=exp.to_identifier("__keys")))))
    names = list(sel.named_selects)
    if len(names) != len(sel.expressions):
        return None
    body.set("expressions", [exp.alias_(exp.column(colmaps[0][(aliases[0], keys[0])],
                                                   table=names_of[0], quoted=True), "_k0",
                                        quoted=True)] + [
        exp.alias_(e.unalias().copy(), f"_c{i}", quoted=True)
        for i, e in enumerate(body.expressions)])
    kept = [(n, [f"__in.{q(colmaps[i][(aliases[i], keys[i])])}"])
            for i, n in enumerate(nodes) if n is not None]
    body_sql = planner.render(body, {f"__in{i}": planner.types(n)
                                     for i, (n, _) in enumerate(kept)})
    what = f"{len(items)} relations left-joined on one key" + (
        f" (the first, a union of {len(union[0])} of the others' keys, made from their rows)"
        if union is not None else "")
    out = KeyedRecompute([n for n, _ in kept], [k for _, k in kept], body_sql,
                         [f"_c{i}" for i in range(len(names))], what)
    return out, names
