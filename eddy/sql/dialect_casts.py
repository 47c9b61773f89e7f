"""Dialect rules for casts and text forms (see eddy.sql.dialect for the order the rules run in).

- ``pg_catalog.<type>`` names the built-in type.
- ``varchar(n)``/``char(n)`` need 1 <= n <= 10485760; an integer literal cast to a smaller
  integer type that cannot hold it is Materialize's out-of-range error, raised at plan time.
- text to boolean reads PostgreSQL's words (``'tr'``, ``' yes '``, ``'0'``) or fails with
  ``invalid input syntax for type boolean``.
- text forms as Materialize prints them: ``bytea`` as ``\\x..`` hex, bare ``numeric`` without
  padding zeros, ``interval`` in PostgreSQL's style; ``concat``/``concat_ws`` print booleans as
  ``t``/``f`` (their output function) and the others as the casts do.
- ``time - time`` is an interval.
"""

from __future__ import annotations

from sqlglot import exp

from eddy.errors import EddyError
from eddy.sql.astutil import duckdb_func, transform_in_place, type_of
from eddy.sql.astutil import literal_number as _literal_number

T = exp.DataType.Type
_TEXT = {T.VARCHAR, T.TEXT, T.NVARCHAR, T.CHAR, T.NCHAR}
_INT_RANGES = {T.SMALLINT: ("smallint", 2**15), T.INT: ("integer", 2**31),
               T.BIGINT: ("bigint", 2**63)}
_MAX_LENGTH = 10485760


def _is_text(node: exp.Expression) -> bool:
    if isinstance(node, exp.Literal):
        return node.is_string
    if isinstance(node, exp.Cast | exp.TryCast):
        return node.to.this in _TEXT
    return type_of(node) in _TEXT


def kind_of(node: exp.Expression) -> exp.DataType | None:
    """The declared or annotated type of a node (casts first: sqlglot's annotation of a cast
    is its target)."""
    if isinstance(node, exp.Paren):
        return kind_of(node.this)
    if isinstance(node, exp.Cast | exp.TryCast):
        return node.to
    if isinstance(node, exp.Boolean):
        return exp.DataType.build("BOOLEAN")
    if isinstance(node, exp.Interval):
        return exp.DataType.build("INTERVAL")
    if isinstance(node, exp.Literal):
        return None
    if isinstance(node, exp.Array | exp.ArrayAgg) or (
            isinstance(node, exp.Anonymous) and node.name.lower() in ("list", "list_agg")):
        return exp.DataType.build("ARRAY<TEXT>")
    return node.type if type_of(node) is not None else None


def _is_bare_numeric(dtype: exp.DataType | None) -> bool:
    if dtype is None or dtype.this not in (T.DECIMAL, T.BIGDECIMAL):
        return False
    params = [p.sql() for p in dtype.expressions]
    return not params or params == ["38", "10"]


def _builtin(to: exp.DataType) -> exp.DataType:
    """``pg_catalog.varchar(5)`` as ``varchar(5)``."""
    kind = to.args.get("kind")
    if to.this != T.USERDEFINED or not isinstance(kind, exp.Dot) or \
            kind.this.name.lower() != "pg_catalog":
        return to
    name = kind.expression.name.lower()
    name = {"bpchar": "char"}.get(name, name)
    params = ", ".join(p.sql() for p in to.expressions)
    try:
        return exp.DataType.build(f"{name}({params})" if params else name, dialect="postgres")
    except Exception:  # noqa: BLE001 - not a built-in type: left for the engine to refuse
        return to


def _check_length(to: exp.DataType) -> None:
    if to.this not in (T.VARCHAR, T.CHAR, T.NVARCHAR, T.NCHAR) or not to.expressions:
        return
    value = _literal_number(to.expressions[0].this if isinstance(to.expressions[0], exp.DataTypeParam)
                            else to.expressions[0])
    if value is not None and not 1 <= value <= _MAX_LENGTH:
        name = "character varying" if to.this in (T.VARCHAR, T.NVARCHAR) else "character"
        raise EddyError("22023", f"length for type {name} must be between 1 and {_MAX_LENGTH}")


def _check_int_range(node: exp.Cast) -> None:
    target = _INT_RANGES.get(node.to.this)
    inner = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    negative = isinstance(inner, exp.Neg)
    literal = inner.this if negative else inner
    if target is None or not isinstance(literal, exp.Literal) or literal.is_string or \
            not literal.this.isdigit():
        return
    value = -int(literal.this) if negative else int(literal.this)
    name, bound = target
    if not -bound <= value < bound:
        raise EddyError("22003", f"\"{node.this.sql()}\" {name} out of range")


def text_of(node: exp.Expression, for_concat: bool = False) -> exp.Expression | None:
    """A node's text form where DuckDB's cast to VARCHAR differs from Materialize's, else None."""
    dtype = kind_of(node)
    if dtype is None:
        return None
    if dtype.this == T.BOOLEAN and for_concat:
        return exp.Case(ifs=[exp.If(this=node.copy(), true=exp.Literal.string("t")),
                             exp.If(this=exp.Not(this=exp.paren(node.copy())),
                                    true=exp.Literal.string("f"))])
    if dtype.this in (T.VARBINARY, T.BINARY) or dtype.sql().upper() in ("BLOB", "BYTEA"):
        return exp.DPipe(this=exp.Literal.string("\\x"),
                         expression=duckdb_func("lower", exp.Anonymous(this="hex", expressions=[node])))
    if _is_bare_numeric(dtype):
        return exp.Anonymous(this="mz_numeric_text", expressions=[node])
    if dtype.this == T.INTERVAL:
        return exp.Anonymous(this="mz_interval_text", expressions=[node])
    if dtype.this in (T.ARRAY, T.LIST):
        return exp.Anonymous(this="mz_list_text", expressions=[node])
    return None


def casts_and_text(expression: exp.Expression) -> exp.Expression:
    """Checks and text forms of casts; ``concat`` arguments; ``time - time``; ``list_agg``."""
    for fn in expression.find_all(exp.Anonymous):
        if fn.name.lower() == "list_agg":
            fn.set("this", "list")     # Materialize's list_agg is DuckDB's list

    def rule(node):
        if isinstance(node, exp.Cast | exp.TryCast) and not node.meta.get("eddy_cast"):
            node.meta["eddy_cast"] = True
            node.set("to", _builtin(node.to))
            _check_length(node.to)
            _check_int_range(node)
            if node.to.this == T.BOOLEAN and _is_text(node.this):
                return exp.Anonymous(this="mz_text_to_bool", expressions=[node.this])
            if node.to.this in (T.VARCHAR, T.TEXT) and not node.to.expressions:
                text = text_of(node.this)
                if text is not None:
                    return text
            return node
        if isinstance(node, exp.Concat | exp.ConcatWs) and not node.meta.get("eddy_cast"):
            node.meta["eddy_cast"] = True
            args = node.expressions
            for i, arg in enumerate(args):
                if isinstance(node, exp.ConcatWs) and i == 0:
                    continue
                text = text_of(arg, for_concat=True)
                if text is not None:
                    args[i] = text
            node.set("expressions", args)
            return node
        if isinstance(node, exp.Sub):
            left, right = kind_of(node.this), kind_of(node.expression)
            if left is not None and right is not None and left.this == T.TIME == right.this:
                diff = exp.Sub(this=duckdb_func("epoch_us", node.this),
                               expression=duckdb_func("epoch_us", node.expression))
                return exp.Anonymous(this="to_microseconds", expressions=[diff])
        return node
    return transform_in_place(expression, rule)
