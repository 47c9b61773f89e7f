"""Dialect rules for strings and boolean operands: PostgreSQL/Materialize semantics on DuckDB
(see eddy.sql.dialect for the list of rules and the order they run in)."""

from __future__ import annotations

import codecs

from sqlglot import exp

from eddy.errors import EddyError, unsupported
from eddy.sql.astutil import duckdb_func, transform_in_place, type_of
from eddy.sql.astutil import literal_number as _literal_number


def substring_start(expression: exp.Expression) -> exp.Expression:
    """``substring(s, start[, len])`` with start < 1 counts from 1 (DuckDB counts from the end)."""
    def rule(node):
        if not isinstance(node, exp.Substring) or node.meta.get("eddy"):
            return node
        start = node.args.get("start")
        if start is None:
            return node
        value = _literal_number(start)
        if value is not None and value >= 1:
            return node
        one = exp.Literal.number(1)
        clamped = exp.Greatest(this=start.copy(), expressions=[one])
        length = node.args.get("length")
        args = {"this": node.this, "start": clamped}
        if length is not None:
            end = exp.Sub(this=exp.Add(this=start.copy(), expression=length),
                          expression=clamped.copy())
            args["length"] = exp.Greatest(this=end, expressions=[exp.Literal.number(0)])
        out = exp.Substring(**args)
        out.meta["eddy"] = True
        return out
    return transform_in_place(expression, rule)


def _raise_when(condition: exp.Expression, message: str, value: exp.Expression) -> exp.Expression:
    """`value`, or DuckDB's error(message) when `condition` holds at run time."""
    return exp.Case(ifs=[exp.If(this=condition, true=duckdb_func("error", exp.Literal.string(message)))],
                    default=value)


def substring_length(expression: exp.Expression) -> exp.Expression:
    """A negative ``substring`` length is an error (DuckDB counts backwards)."""
    message = "negative substring length not allowed"

    def rule(node):
        if not isinstance(node, exp.Substring) or node.meta.get("length_checked"):
            return node
        length = node.args.get("length")
        node.meta["length_checked"] = True
        if length is None:
            return node
        value = _literal_number(length)
        if value is not None:
            if value < 0:
                raise EddyError("22011", message)
            return node
        check = exp.LT(this=length.copy(), expression=exp.Literal.number(0))
        return _raise_when(check, message, node)
    return transform_in_place(expression, rule)


_UTF8 = {"utf8", "utf-8", "unicode"}


def length_encoding(expression: exp.Expression) -> exp.Expression:
    """``length(s, encoding)``: the characters of the string's UTF-8 bytes read in that
    encoding (as Materialize); NULL gives NULL; an unknown encoding name is an error
    (sqlglot drops the argument, which would count UTF-8 characters silently)."""
    def rule(node):
        if not isinstance(node, exp.Length) or node.args.get("encoding") is None:
            return node
        enc = node.args["encoding"]
        node.set("encoding", None)
        if isinstance(enc, exp.Null):
            return exp.Case(ifs=[exp.If(this=exp.true(), true=exp.null())], default=node)
        if isinstance(enc, exp.Literal) and enc.is_string:
            if enc.this.lower() in _UTF8:
                return node
            try:
                codecs.lookup(enc.this)
            except LookupError:
                raise EddyError("22023", f"invalid encoding name '{enc.this}'") from None
            return exp.Anonymous(this="mz_length_in_encoding", expressions=[node.this, enc])
        if isinstance(enc, exp.Literal):
            raise EddyError("42883", "function length(text, integer) does not exist")
        raise unsupported("length with a non-constant encoding")
    return transform_in_place(expression, rule)


def pads_and_lengths(expression: exp.Expression) -> exp.Expression:
    """``lpad``/``rpad``: a negative length is an error and an empty fill leaves the string
    (cut to the length), as in Materialize (DuckDB fails on an empty fill); ``octet_length`` of
    text counts its UTF-8 bytes."""
    def rule(node):
        if isinstance(node, exp.Pad) and not node.meta.get("eddy"):
            node.meta["eddy"] = True
            length, fill = node.expression, node.args.get("fill_pattern")
            if fill is None:
                return node
            cut = duckdb_func("left", node.this.copy(), length.copy())
            checked = exp.Case(ifs=[
                exp.If(this=exp.LT(this=length.copy(), expression=exp.Literal.number(0)),
                       true=duckdb_func("error", exp.Literal.string("negative length"))),
                exp.If(this=exp.EQ(this=fill.copy(), expression=exp.Literal.string("")),
                       true=cut)], default=node)
            return checked
        if isinstance(node, exp.Anonymous) and node.name.lower() == "octet_length" and \
                len(node.expressions) == 1 and type_of(node.expressions[0]) not in (
                    exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY):
            arg = node.expressions[0]
            if isinstance(arg, exp.Cast) and arg.to.this in (exp.DataType.Type.VARBINARY,
                                                             exp.DataType.Type.BINARY):
                return node
            return duckdb_func("strlen", exp.cast(arg, "VARCHAR"))
        return node
    return transform_in_place(expression, rule)


def split_part_fields(expression: exp.Expression) -> exp.Expression:
    """``split_part``: field 0 is an error; an empty delimiter leaves the string whole
    (DuckDB splits into characters)."""
    def rule(node):
        if not isinstance(node, exp.SplitPart) or node.meta.get("eddy"):
            return node
        node.meta["eddy"] = True
        index, delim = node.args.get("part_index"), node.args.get("delimiter")
        if index is None or delim is None:
            return node
        if _literal_number(index) == 0:
            raise EddyError("22023", "field position must be greater than zero")
        whole = exp.Case(ifs=[exp.If(this=exp.EQ(this=index.copy(), expression=exp.Literal.number(1)),
                                     true=node.this.copy())],
                         default=exp.Literal.string(""))
        out = exp.Case(ifs=[exp.If(this=exp.EQ(this=delim.copy(), expression=exp.Literal.string("")),
                                   true=whole)], default=node)
        return _raise_when(exp.EQ(this=index.copy(), expression=exp.Literal.number(0)),
                           "field position must be greater than zero", out)
    return transform_in_place(expression, rule)


def boolean_operands(expression: exp.Expression) -> exp.Expression:
    """``NOT``/``AND``/``OR`` on a number is a type error in Materialize (DuckDB casts)."""
    ints = {exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT}
    for node in expression.find_all(exp.Not, exp.And, exp.Or):
        operands = [node.this] if isinstance(node, exp.Not) else [node.this, node.expression]
        for operand in operands:
            inner = operand.unnest() if isinstance(operand, exp.Paren) else operand
            number = _literal_number(inner)
            is_int = (number is not None and float(number).is_integer()
                      and "." not in inner.sql()) or \
                (isinstance(inner, exp.Column | exp.Cast) and type_of(inner) in ints)
            if is_int:
                op = {exp.Not: "NOT", exp.And: "AND", exp.Or: "OR"}[type(node)]
                raise EddyError("42804", f"{op} argument must have type boolean, not type integer")
    return expression


def like_escape(expression: exp.Expression) -> exp.Expression:
    """``LIKE``/``ILIKE`` escape with a backslash unless told otherwise (DuckDB has no default)."""
    def rule(node):
        if isinstance(node, exp.Like | exp.ILike) and not isinstance(node.parent, exp.Escape):
            pattern = node.expression
            if isinstance(pattern, exp.Literal) and "\\" not in pattern.this:
                return node
            return exp.Escape(this=node, expression=exp.Literal.string("\\"))
        return node
    return transform_in_place(expression, rule)


def _literal_arg_type(node: exp.Expression | None) -> str | None:
    """The type PostgreSQL names a literal argument by in 'function f(..) does not exist'."""
    if isinstance(node, exp.Boolean):
        return "boolean"
    if not isinstance(node, exp.Literal):
        return None
    if node.is_string:
        return "unknown"
    return "integer" if str(node.this).isdigit() else "numeric"


def _no_function(name: str, args: list) -> None:
    """42883 naming the call's signature, when every argument is a literal of a known type."""
    types = [_literal_arg_type(a) for a in args]
    if all(types):
        raise EddyError("42883", f"function {name}({', '.join(types)}) does not exist")


def string_signatures(expression: exp.Expression) -> exp.Expression:
    """Calls of ``concat_ws``, ``split_part``, ``position`` and ``date`` that match none of
    their signatures (too few arguments, a number where text goes) fail as in PostgreSQL."""
    for node in expression.find_all(exp.ConcatWs, exp.SplitPart, exp.StrPosition, exp.Date):
        if isinstance(node, exp.Date) and (node.args.get("zone") or node.expressions):
            _no_function("date", [node.this, node.args.get("zone"), *node.expressions])
        if isinstance(node, exp.ConcatWs) and len(node.expressions) < 2:
            _no_function("concat_ws", node.expressions)
        elif isinstance(node, exp.SplitPart):
            args = [node.this, node.args.get("delimiter"), node.args.get("part_index")]
            given = [a for a in args if a is not None]
            if len(given) < 3 or any(_literal_arg_type(a) in ("integer", "numeric", "boolean")
                                     for a in given[:2]):
                _no_function("split_part", given)
        elif isinstance(node, exp.StrPosition) and node.args.get("position") is None:
            args = [node.args.get("substr"), node.this]
            if any(_literal_arg_type(a) in ("integer", "numeric", "boolean") for a in args):
                _no_function("position", args)
    return expression
