"""Dialect rules for result types: Materialize's aggregate result types and pg_typeof names."""

from __future__ import annotations

from sqlglot import exp

from eddy.sql.astutil import duckdb_func, transform_in_place, type_of

_SMALL_INTS = {exp.DataType.Type.INT, exp.DataType.Type.SMALLINT, exp.DataType.Type.TINYINT}
_EXACT = _SMALL_INTS | {exp.DataType.Type.BIGINT, exp.DataType.Type.DECIMAL,
                       exp.DataType.Type.BIGDECIMAL}


def aggregate_types(expression: exp.Expression) -> exp.Expression:
    """Materialize's result types: sum(int2/int4) bigint, sum(int8) numeric, avg(exact) numeric
    (DuckDB gives hugeint and double)."""
    def target(agg: exp.Expression) -> str | None:
        arg = agg.this
        if isinstance(arg, exp.Distinct):
            arg = arg.expressions[0] if len(arg.expressions) == 1 else None
        kind = type_of(arg) if arg is not None else None
        if isinstance(agg, exp.Sum):
            return "BIGINT" if kind in _SMALL_INTS else \
                "DECIMAL(38,0)" if kind == exp.DataType.Type.BIGINT else None
        if isinstance(agg, exp.Avg) and kind in _EXACT:
            return "DECIMAL(38,10)"
        return None

    def rule(node):
        # the cast goes around the outermost of agg / agg FILTER (...) / ... OVER (...)
        if isinstance(node.parent, exp.Window | exp.Filter):
            return node
        inner = node.this if isinstance(node, exp.Window) else node
        inner = inner.this if isinstance(inner, exp.Filter) else inner
        if not isinstance(inner, exp.Sum | exp.Avg):
            return node
        typ = target(inner)
        if typ is None:
            return node
        return exp.Cast(this=node, to=exp.DataType.build(typ, dialect="duckdb"))
    return transform_in_place(expression, rule)


def pg_typeof(expression: exp.Expression) -> exp.Expression:
    """``pg_typeof(x)`` names Materialize's types (DuckDB says ``hugeint``, ``decimal(p,s)``)."""
    from eddy.sql.types import DUCK_TO_MZ

    def rule(node):
        if not (isinstance(node, exp.Anonymous) and node.name.lower() == "pg_typeof"
                and len(node.expressions) == 1):
            return node
        duck = duckdb_func("typeof", node.expressions[0])
        ifs = [exp.If(this=exp.Like(this=duck.copy(), expression=exp.Literal.string("DECIMAL%")),
                      true=exp.Literal.string("numeric"))]
        ifs += [exp.If(this=exp.EQ(this=duck.copy(), expression=exp.Literal.string(d)),
                       true=exp.Literal.string(m))
                for d, m in DUCK_TO_MZ.items() if not d.startswith('"')]
        return exp.Case(ifs=ifs, default=duckdb_func("lower", duck))
    return transform_in_place(expression, rule)
