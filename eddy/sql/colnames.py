"""The names PostgreSQL gives unaliased select-list expressions (``sum``, ``?column?``,
``int4``), applied as aliases before sqlglot's qualify would name them ``_col_N``."""

from __future__ import annotations

import re

from sqlglot import exp

_TYPE_NAMES = {"INT": "int4", "BIGINT": "int8", "SMALLINT": "int2", "DOUBLE": "float8",
               "FLOAT": "float4", "DECIMAL": "numeric", "TEXT": "text", "VARCHAR": "varchar",
               "BOOLEAN": "bool", "TIMESTAMPTZ": "timestamptz", "TIMESTAMP": "timestamp",
               "DATE": "date", "JSONB": "jsonb", "JSON": "json", "INTERVAL": "interval"}


_OPERATORS = (exp.Binary, exp.Unary, exp.Predicate, exp.JSONExtract, exp.JSONExtractScalar,
              exp.JSONBExtract, exp.JSONBExtractScalar, exp.JSONBContainsTopKey)


def column_name(node: exp.Expression) -> str:
    """The name PostgreSQL gives an unaliased select-list expression."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Cast):
        inner = column_name(node.this)
        if inner != "?column?":
            return inner
        return _TYPE_NAMES.get(node.to.this.name, node.to.this.name.lower())
    if isinstance(node, exp.Window | exp.Filter):
        return column_name(node.this)
    if isinstance(node, exp.Case):
        return "case"
    if isinstance(node, exp.CurrentTimestamp):
        return "now"
    if isinstance(node, exp.Exists):
        return "exists"
    if isinstance(node, exp.Interval):
        return "interval"
    if isinstance(node, exp.Boolean):
        return "bool"
    if isinstance(node, exp.Literal) and node.is_string:  # CurrentSchema etc. after binding
        return "?column?"
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select):
        return node.this.named_selects[0] if node.this.named_selects else "?column?"
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, _OPERATORS):
        return "?column?"
    if isinstance(node, exp.Func):
        text = node.sql("postgres")
        match = re.match(r"([A-Za-z_][A-Za-z_0-9]*)\s*\(", text)
        if match:
            return match.group(1).lower()
    return "?column?"


def name_columns(expression: exp.Expression) -> exp.Expression:
    """Alias unnamed select-list expressions with PostgreSQL's names (``count``, ``?column?``)."""
    for select in expression.find_all(exp.Select):
        projections = []
        for projection in select.expressions:
            if isinstance(projection, exp.Alias | exp.Star | exp.Column):
                projections.append(projection)
            else:
                projections.append(exp.alias_(projection, column_name(projection), quoted=True))
        select.set("expressions", projections)
    return expression
