"""Small sqlglot helpers shared by the dialect rules and the result-type rules."""

from __future__ import annotations

from sqlglot import exp


def duckdb_func(name: str, *args: exp.Expression) -> exp.Expression:
    """A DuckDB function call node."""
    return exp.func(name, *args, dialect="duckdb")


def type_of(node: exp.Expression) -> exp.DataType.Type | None:
    """The annotated type of a node (see ``dialect.to_duckdb(schema=...)``), None when unknown."""
    dtype = node.type
    if dtype is None or dtype.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return None
    return dtype.this


def transform_in_place(expression: exp.Expression, fn) -> exp.Expression:
    """`expression.transform(fn)` without copying the tree."""
    return expression.transform(fn, copy=False)


def literal_number(node: exp.Expression) -> float | None:
    """The value of a numeric literal (also negated), else None."""
    if isinstance(node, exp.Paren):
        return literal_number(node.this)
    if isinstance(node, exp.Neg):
        inner = literal_number(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    return None
