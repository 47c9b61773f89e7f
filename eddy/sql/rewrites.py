"""Query rewrites before planning: Materialize's temporal-filter rule, output-alias
resolution, and decorrelation of subqueries into joins the planner maintains."""

from __future__ import annotations

from sqlglot import exp

from eddy.errors import EddyError

FLIP = {exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE, exp.EQ: exp.EQ}


def is_mz_now(node) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() in ("mz_now",
                                                                      "mz_logical_timestamp")


def has_mz_now(node) -> bool:
    return any(is_mz_now(n) for n in node.walk())


def conjuncts(node) -> list[exp.Expression]:
    if node is None:
        return []
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    if isinstance(node, exp.Paren):
        return conjuncts(node.this) if isinstance(node.this, exp.And) else [node]
    return [node]


def check_temporal(ast: exp.Expression) -> None:
    """Materialize's rule: in a maintained query, mz_now() may appear only in comparisons
    that are top-level conjuncts of WHERE or HAVING."""
    for node in ast.walk():
        if isinstance(node, exp.CurrentTimestamp | exp.CurrentDate | exp.CurrentTime | exp.Rand) \
                or (isinstance(node, exp.Anonymous) and node.name.lower() in (
                    "now", "random", "clock_timestamp", "statement_timestamp")):
            raise EddyError("0A000", f"calls to {node.sql('postgres')} in a maintained view "
                            "not supported (use mz_now() in a temporal filter)")
        if not is_mz_now(node):
            continue
        cmp = node.parent
        ok = type(cmp) in FLIP
        up = cmp.parent if ok else None
        while ok and isinstance(up, exp.And | exp.Paren):
            up = up.parent
        if not ok or not isinstance(up, exp.Where | exp.Having):
            raise EddyError("0A000", "mz_now() outside a temporal filter (a comparison in "
                            "WHERE or HAVING) in a maintained view not supported")


def resolve_output_aliases(sel: exp.Select) -> exp.Select:
    """ORDER BY / DISTINCT ON items naming an output column become that expression."""
    sel = sel.copy()
    outputs = {e.alias_or_name: e.unalias() for e in sel.expressions}

    def fn(n):
        if isinstance(n, exp.Column) and not n.table and n.name in outputs:
            return outputs[n.name].copy()
        return n
    order = sel.args.get("order")
    if order is not None:
        sel.set("order", order.transform(fn))
    distinct = sel.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        distinct.set("on", distinct.args["on"].transform(fn))
    return sel


def _safe_to_unnest(ast: exp.Expression) -> bool:
    """sqlglot's unnest_subqueries keeps semantics for IN/EXISTS and for scalar subqueries
    that are one aggregate row (else a multi-row scalar subquery must error, not multiply)."""
    for sub in ast.find_all(exp.Subquery):
        parent = sub.parent
        if isinstance(parent, exp.From | exp.Join) or sub.args.get("alias") is not None:
            continue
        if isinstance(parent, exp.In | exp.Exists):
            if isinstance(parent.parent, exp.Not):
                return False
            continue
        inner = sub.this
        if not isinstance(inner, exp.Select) or inner.args.get("group") or \
                inner.args.get("limit") or len(inner.expressions) != 1 or \
                not inner.expressions[0].find(exp.AggFunc):
            return False
    return all(not isinstance(ex.parent, exp.Not) for ex in ast.find_all(exp.Exists))


def unnest(ast: exp.Expression) -> exp.Expression:
    """Decorrelate subqueries into joins where that is known to keep the semantics."""
    if not any(isinstance(n, exp.Subquery | exp.Exists) for n in ast.walk()):
        return ast
    if not _safe_to_unnest(ast):
        return ast
    from sqlglot.optimizer.unnest_subqueries import unnest_subqueries
    try:
        return unnest_subqueries(ast.copy())
    except Exception:  # noqa: BLE001 - keep the original; the planner falls back
        return ast


def exists_to_lateral(sel: exp.Select) -> exp.Select:
    """[NOT] EXISTS (SELECT ... FROM r WHERE r.x = outer.y ...) conjuncts become LATERAL
    joins with LIMIT 1 (NOT: a LEFT JOIN whose row must be missing), which are maintained per
    correlation key."""
    where = sel.args.get("where")
    if where is None:
        return sel

    def exists_of(c):
        ex = c.this if isinstance(c, exp.Not) else c
        if not isinstance(ex, exp.Exists) or not isinstance(ex.this, exp.Select):
            return None
        inner = ex.this
        if inner.args.get("joins") or inner.args.get("group") or inner.args.get("having") or \
                inner.args.get("with_") or not inner.args.get("from_") or any(
                e.find(exp.AggFunc, exp.Window) for e in inner.expressions):
            return None
        return inner
    if not any(exists_of(c) is not None for c in conjuncts(where.this)):
        return sel
    sel = sel.copy()
    joins, kept = list(sel.args.get("joins") or []), []
    for i, c in enumerate(conjuncts(sel.args["where"].this)):
        inner = exists_of(c)
        if inner is None:
            kept.append(c)
            continue
        negated = isinstance(c, exp.Not)
        alias = f"__ex{i}"
        body = inner.copy()
        body.set("expressions", [exp.alias_(exp.Literal.number(1), "__ex")])
        body.set("order", None)
        body.set("limit", exp.Limit(expression=exp.Literal.number(1)))
        lateral = exp.Lateral(this=exp.Subquery(this=body),
                              alias=exp.TableAlias(this=exp.to_identifier(alias)))
        joins.append(exp.Join(this=lateral, side="LEFT", on=exp.true()) if negated
                     else exp.Join(this=lateral))
        if negated:
            kept.append(exp.Is(this=exp.column("__ex", table=alias), expression=exp.Null()))
    sel.set("joins", joins)
    sel.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    return sel




_NULL_IGNORING = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)


def filter_to_case(ast: exp.Expression) -> exp.Expression:
    """`agg(x) FILTER (WHERE c)` -> `agg(CASE WHEN c THEN x END)` for aggregates that ignore
    NULLs (count/sum/avg/min/max, DISTINCT too); `count(*) FILTER (WHERE c)` ->
    `count(CASE WHEN c THEN 1 END)`. Exact, also on empty input (count 0, the others NULL),
    and it makes the aggregate a linear accumulator."""
    def case(cond: exp.Expression, value: exp.Expression) -> exp.Expression:
        return exp.Case(ifs=[exp.If(this=cond.copy(), true=value)])

    def fn(node):
        if not (isinstance(node, exp.Filter) and isinstance(node.this, _NULL_IGNORING)
                and isinstance(node.expression, exp.Where)):
            return node
        agg, cond = node.this.copy(), node.expression.this
        arg = agg.this
        if agg.expressions or arg is None:
            return node
        if isinstance(arg, exp.Star):
            agg.set("this", case(cond, exp.Literal.number(1)))
        elif isinstance(arg, exp.Distinct):
            if len(arg.expressions) != 1:
                return node
            arg.set("expressions", [case(cond, arg.expressions[0].copy())])
        else:
            agg.set("this", case(cond, arg.copy()))
        return agg
    return ast.transform(fn)
