"""Query checks PostgreSQL and Materialize make that DuckDB does not, or words differently
(run on the typed tree, where columns carry their table; see eddy.sql.dialect).

- a grouped query may name a column of its FROM only inside an aggregate or as (part of) a
  GROUP BY expression: ``column "t.b" must appear in the GROUP BY clause ...`` (42803);
- ``SELECT DISTINCT ON (..)`` must lead its ORDER BY with the same expressions, and ``SELECT
  DISTINCT`` may only ORDER BY what it selects (42P10);
- the sides of ``UNION``/``INTERSECT``/``EXCEPT`` have as many columns (42601), and literal
  columns of types that do not match (``1 UNION '3'``: integer and text) are refused (42804);
- ``count()`` (42809), ``sum(NULL)``/``avg(NULL)`` (42725: no implementation for unknown) and
  ``sum(*)`` (42883) are refused as Materialize refuses them, and so is FILTER on a function
  known not to be an aggregate (42809);
- an ordinal in DISTINCT ON past the select list (42P10), a window function in JOIN .. ON
  (42P20), ``ANY``/``ALL`` over a subquery of more than one column (42601), and one WITH
  naming two queries alike (42712); an aggregate over outer columns only (a FROM-less
  subquery's ``count(outer.x)``) is refused (0A000), as Materialize does.
"""

from __future__ import annotations

from sqlglot import exp

from eddy.errors import EddyError


def _bare(node: exp.Expression) -> str:
    """SQL of an expression with its columns unqualified (written both ways, it compares equal)."""
    def strip(n):
        if isinstance(n, exp.Column) and n.table:
            return exp.column(n.name)
        return n
    return node.transform(strip).sql()


def _sources(select: exp.Select) -> set[str]:
    """The names the FROM items of one SELECT are known by."""
    names = set()
    for item in [select.args.get("from_") or select.args.get("from")] + list(select.args.get("joins") or []):
        node = item.this if item is not None else None
        if node is None:
            continue
        names.add(node.alias_or_name)
    return names


def _own_columns(node: exp.Expression):
    """Columns of an expression outside aggregates, window functions and subqueries."""
    stack = [node]
    while stack:
        cur = stack.pop()
        # aggregates (also FILTER/WITHIN GROUP parts, and functions sqlglot does not know,
        # which may be aggregates: jsonb_agg, list_agg ...), windows and subqueries
        if isinstance(cur, exp.AggFunc | exp.Window | exp.Subquery | exp.Select | exp.Filter |
                      exp.WithinGroup | exp.Anonymous):
            continue
        if isinstance(cur, exp.Column):
            yield cur
            continue
        stack.extend(cur.iter_expressions())


def _grouped(col: exp.Column, top: exp.Expression, keys: set[str]) -> bool:
    node: exp.Expression | None = col
    while node is not None:
        if _bare(node) in keys:
            return True
        if node is top:
            return False
        node = node.parent
    return False


def _check_group_by(select: exp.Select) -> None:
    group = select.args.get("group")
    if group is None or not group.expressions or any(
            group.args.get(k) for k in ("rollup", "cube", "grouping_sets")):
        return
    if any(isinstance(e, exp.Literal) for e in group.expressions):
        return                    # ordinals: left to the engine
    keys = {_bare(e) for e in group.expressions}
    keys |= {_bare(e.this) for e in select.expressions      # GROUP BY an output alias
             if isinstance(e, exp.Alias) and e.alias in keys}
    sources = _sources(select)
    tops = [e.this if isinstance(e, exp.Alias) else e for e in select.expressions]
    having = select.args.get("having")
    if having is not None:
        tops.append(having.this)
    order = select.args.get("order")
    if order is not None:
        tops += [o.this for o in order.expressions]
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        tops += list(distinct.args["on"].expressions)
    for top in tops:
        for col in _own_columns(top):
            if col.table and col.table in sources and not _grouped(col, top, keys):
                raise EddyError("42803", f'column "{col.table}.{col.name}" must appear in the '
                                "GROUP BY clause or be used in an aggregate function")


def _resolve(node: exp.Expression, select: exp.Select) -> str:
    """The select-list expression an ORDER BY/DISTINCT ON item stands for (alias, ordinal)."""
    outputs = select.expressions
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        index = int(node.this) - 1
        if 0 <= index < len(outputs):
            node = outputs[index]
    elif isinstance(node, exp.Column) and not node.table:
        for out in outputs:
            if isinstance(out, exp.Alias) and out.alias == node.name:
                node = out
                break
    if isinstance(node, exp.Alias):
        node = node.this
    return _bare(node)


def _check_distinct_order(select: exp.Select) -> None:
    distinct, order = select.args.get("distinct"), select.args.get("order")
    if distinct is None or order is None:
        return
    items = [_resolve(o.this, select) for o in order.expressions]
    on = distinct.args.get("on")
    if on is not None:
        keys = {_resolve(e, select) for e in on.expressions}
        if any(item not in keys for item in items[:len(keys)]):
            raise EddyError("42P10", "SELECT DISTINCT ON expressions must match initial ORDER "
                            "BY expressions")
        return
    selected = {_resolve(e, select) for e in select.expressions}
    if any(item not in selected for item in items):
        raise EddyError("42P10", "for SELECT DISTINCT, ORDER BY expressions must appear in "
                        "select list")


def _qualified(select: exp.Select) -> bool:
    """Whether the select's input columns carry their table (the tree was typed), so that an
    unqualified column can only be an output name."""
    if not (select.args.get("from_") or select.args.get("from")):
        return True
    return any(c.table for e in select.expressions for c in _own_columns(e))


def _check_output_names(select: exp.Select) -> None:
    """ORDER BY (or GROUP BY, when the name is no input column) naming two different outputs:
    ``column reference "a" is ambiguous`` (42702)."""
    outputs: dict[str, set[str]] = {}
    for e in select.expressions:
        if isinstance(e, exp.Alias | exp.Column) and not isinstance(e.this, exp.Star):
            outputs.setdefault(e.alias_or_name, set()).add(_bare(e.this if isinstance(
                e, exp.Alias) else e))
    order, group = select.args.get("order"), select.args.get("group")
    qualified = _qualified(select)
    items = [o.this for o in order.expressions] if order is not None else []
    if qualified and group is not None:
        items += list(group.expressions)
    for item in items:
        if isinstance(item, exp.Column) and not item.table and \
                len(outputs.get(item.name, ())) > 1:
            raise EddyError("42702", f'column reference "{item.name}" is ambiguous')


def _leftmost(node: exp.Expression) -> exp.Select | None:
    """The SELECT whose select list names a set operation's columns (None: VALUES etc.)."""
    while isinstance(node, exp.SetOperation | exp.Subquery):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def _literal_type(node: exp.Expression) -> str | None:
    """integer/numeric/text for a literal (and ``[]`` for an ARRAY of them), else None."""
    if isinstance(node, exp.Alias):
        node = node.this
    if isinstance(node, exp.Array) and node.expressions:
        inner = {_literal_type(e) for e in node.expressions}
        return f"{inner.pop()}[]" if len(inner) == 1 and None not in inner else None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "text"
        return "integer" if node.this.isdigit() else "numeric"
    return None


def _check_set_operation(node: exp.SetOperation) -> None:
    kind = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}.get(type(node))
    left, right = _leftmost(node.this), _leftmost(node.expression)
    if kind is None or left is None or right is None:
        return
    if any(isinstance(e, exp.Star) or isinstance(e, exp.Column) and isinstance(e.this, exp.Star)
           for e in left.expressions + right.expressions):
        return
    if len(left.expressions) != len(right.expressions):
        raise EddyError("42601", f"each {kind} query must have the same number of columns: "
                        f"{len(left.expressions)} vs {len(right.expressions)}")
    for a, b in zip(left.expressions, right.expressions, strict=True):
        ta, tb = _literal_type(a), _literal_type(b)
        if ta and tb and ta != tb and "text" in ta + tb:
            raise EddyError("42804", f"{kind} types {ta} and {tb} cannot be matched")


_NAMED_AGGREGATES = {exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}


def _check_aggregate_call(node: exp.Expression) -> None:
    if isinstance(node, exp.Count) and node.this is None and not node.expressions:
        raise EddyError("42809", "count(*) must be used to call a parameterless aggregate "
                        "function")
    name = _NAMED_AGGREGATES.get(type(node))
    if name and isinstance(node.this, exp.Star):
        raise EddyError("42883", f"Cannot call function {name}(*): arguments cannot be "
                        "implicitly cast to any implementation's parameters; try providing "
                        "explicit casts")
    if name in ("sum", "avg") and isinstance(node.this, exp.Null):
        raise EddyError("42725", f"function {name}(unknown) is not unique: unable to determine "
                        "which implementation to use; try providing explicit casts")


def _check_clauses(select: exp.Select) -> None:
    distinct = select.args.get("distinct")
    on = distinct.args.get("on") if distinct is not None else None
    width = len(select.expressions)
    for key in on.expressions if on is not None else ():
        if isinstance(key, exp.Literal) and not key.is_string and str(key.this).isdigit() and \
                not any(isinstance(e, exp.Star) for e in select.expressions) and \
                not 1 <= int(key.this) <= width:
            raise EddyError("42P10", f"column reference {key.this} in DISTINCT ON clause is out "
                            f"of range (1 - {width})")
    if not (select.args.get("from_") or select.args.get("from")) and \
            select.find_ancestor(exp.Select) is not None:
        for agg in select.find_all(exp.AggFunc):
            if agg.find_ancestor(exp.Select) is select and next(agg.find_all(exp.Column), None):
                raise EddyError("0A000", "aggregate functions that refer exclusively to outer "
                                "columns not yet supported")
    for join in select.args.get("joins") or ():
        condition = join.args.get("on")
        if condition is not None and any(w.find_ancestor(exp.Select) is select
                                         for w in condition.find_all(exp.Window)):
            raise EddyError("42P20", "window functions are not allowed in ON")


def _check_quantified(node: exp.Any | exp.All) -> None:
    query = node.this.this if isinstance(node.this, exp.Subquery) else node.this
    if isinstance(query, exp.Select) and len(query.expressions) > 1 and \
            not any(isinstance(e, exp.Star) for e in query.expressions):
        raise EddyError("42601", f"subquery has {len(query.expressions)} columns available but "
                        "1 columns specified")


def query_checks(expression: exp.Expression) -> exp.Expression:
    """GROUP BY, DISTINCT/ORDER BY and set-operation checks on every query of a tree."""
    for select in expression.find_all(exp.Select):
        _check_group_by(select)
        _check_distinct_order(select)
        _check_output_names(select)
        _check_clauses(select)
    for with_ in expression.find_all(exp.With):
        names = [cte.alias_or_name for cte in with_.expressions]
        if (twice := next((n for n in names if names.count(n) > 1), None)) is not None:
            raise EddyError("42712", f'WITH query name "{twice}" specified more than once')
    for quantified in expression.find_all(exp.Any, exp.All):
        _check_quantified(quantified)
    for setop in expression.find_all(exp.SetOperation):
        _check_set_operation(setop)
    for call in expression.find_all(exp.Count, *_NAMED_AGGREGATES):
        _check_aggregate_call(call)
    for node in expression.find_all(exp.Filter):
        func = node.this
        if isinstance(func, exp.Func) and not isinstance(func, exp.AggFunc | exp.Anonymous):
            raise EddyError("42809", f"FILTER specified, but {func.sql_name().lower()} is not an "
                            "aggregate function")
    return expression
