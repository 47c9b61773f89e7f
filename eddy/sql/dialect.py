"""Materialize/PostgreSQL expression semantics translated into DuckDB.

Each rule is a small pure function ``fn(expression) -> expression`` over a sqlglot tree parsed
with the ``postgres`` (or ``materialize``) dialect; ``RULES`` lists them in the order they run.
``to_duckdb`` applies them to a copy, ``render`` prints DuckDB SQL.

Where DuckDB differs from PostgreSQL and the rules below fix it:

- ``/`` on integers truncates (``7/2 = 3``, ``-7/2 = -3``); DuckDB's ``/`` is float division, its
  ``//`` truncates integers and divides every other type normally, so ``/`` becomes ``//``.
- division or modulo by zero is an error (DuckDB returns NULL or inf).
- ``round(double)`` rounds half to even (needs the argument's type, from annotation).
- bare ``numeric`` is exact (DuckDB's bare ``DECIMAL`` is ``DECIMAL(18,3)``).
- ``varchar(n)`` casts truncate; ``extract(second ...)`` keeps the fraction.
- ``substring`` with a start below 1 counts from position 1, not from the end.
- ``LIKE`` escapes with a backslash by default.
- jsonb functions and operators map onto DuckDB's json extension; ``#>``/``#>>`` paths become
  JSON pointers (a step is a key on objects and an index on arrays, as in PostgreSQL).
- ``mz_now()`` is the tick's timestamp in epoch milliseconds (``mz_timestamp`` is ``UBIGINT`` in
  storage); comparisons with timestamps compare epoch milliseconds. It reads the DuckDB variable
  ``MZ_NOW_VARIABLE``; the engine sets it (``SET VARIABLE mz_now = <ms>``) per tick.
- result column names follow PostgreSQL (``count``, ``?column?``, ...), not DuckDB's.

Anything that cannot be translated raises ``eddy.errors.unsupported('<construct>')``.
"""

from __future__ import annotations

import contextlib
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from eddy.errors import EddyError, unsupported
from eddy.sql import dialect_memo
from eddy.sql.astutil import duckdb_func, transform_in_place, type_of
from eddy.sql.astutil import literal_number as _literal_number
from eddy.sql.colnames import column_name, name_columns  # noqa: F401 - column_name is API
from eddy.sql.dialect_casts import casts_and_text
from eddy.sql.dialect_checks import query_checks
from eddy.sql.dialect_json import canonical_json, json_functions, json_operators
from eddy.sql.dialect_strings import (
    boolean_operands,
    length_encoding,
    like_escape,
    pads_and_lengths,
    split_part_fields,
    string_signatures,
    substring_length,
    substring_start,
)
from eddy.sql.dialect_time import (
    date_bin_checks,
    date_bin_hopping,
    date_input,
    date_trunc_columns,
    operator_types,
    timestamptz_difference,
    timestamptz_trunc,
    timestamptz_wall_time,
)
from eddy.sql.result_types import aggregate_types, pg_typeof

MZ_NOW_VARIABLE = "mz_now"
NUMERIC = exp.DataType.build("DECIMAL(38, 10)", dialect="duckdb")

UNSUPPORTED_FUNCTIONS = frozenset({
    "jsonb_each", "jsonb_each_text", "json_each", "json_each_text", "jsonb_set", "jsonb_insert",
    "jsonb_strip_nulls", "jsonb_path_query", "jsonb_path_exists", "jsonb_populate_record",
    "jsonb_to_record", "regexp_match", "regexp_matches", "regexp_split_to_table",
    "justify_days", "justify_hours", "justify_interval", "make_interval",
    "age", "txid_current", "nextval", "setseed", "random",
})

_FLOAT_TYPES = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}
_TIME_TYPES = {exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMP,
               exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.DATE}


# --- arithmetic -------------------------------------------------------------------------------


def _nonzero(divisor: exp.Expression) -> exp.Expression:
    """The divisor, or an error when it is zero (PostgreSQL: 'division by zero', 22012)."""
    value = _literal_number(divisor)
    if value is not None and value != 0:
        return divisor
    check = exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0))
    return exp.Case(ifs=[exp.If(this=check, true=duckdb_func("error", exp.Literal.string("division by zero")))],
                    default=divisor)


def _is_interval(node: exp.Expression) -> bool:
    """Whether a node is an interval (literal, cast, typed, or arithmetic on one)."""
    if isinstance(node, exp.Interval):
        return True
    if isinstance(node, exp.Cast | exp.TryCast):
        return node.to.this == exp.DataType.Type.INTERVAL
    if isinstance(node, exp.Paren | exp.Neg):
        return _is_interval(node.this)
    if isinstance(node, exp.Mul | exp.Div | exp.IntDiv | exp.Add | exp.Sub):
        return _is_interval(node.this) or _is_interval(node.expression)
    return type_of(node) == exp.DataType.Type.INTERVAL


def integer_division(expression: exp.Expression) -> exp.Expression:
    """``a / b``: truncating on integers, an error on zero (DuckDB ``//`` plus a guard);
    an interval divided by a number stays DuckDB's ``/`` (months, days, micros each divided)."""
    def rule(node):
        if isinstance(node, exp.Div) and _is_interval(node.this):
            return exp.Div(this=node.this, expression=_nonzero(node.expression))
        if isinstance(node, exp.Div):
            return exp.IntDiv(this=node.this, expression=_nonzero(node.expression))
        return node
    return transform_in_place(expression, rule)


def div_function(expression: exp.Expression) -> exp.Expression:
    """``div(a, b)``: the truncated quotient (sqlglot parses it as IntDiv cast to numeric)."""
    def rule(node):
        if isinstance(node, exp.IntDiv) and not node.meta.get("eddy"):
            quotient = exp.IntDiv(this=node.this, expression=_nonzero(node.expression))
            quotient.meta["eddy"] = True
            return duckdb_func("trunc", quotient)
        return node
    expression = transform_in_place(expression, rule)
    return expression


def modulo(expression: exp.Expression) -> exp.Expression:
    """``a % b`` and ``mod(a, b)``: an error on zero (DuckDB returns NULL)."""
    def rule(node):
        if isinstance(node, exp.Mod) and not node.meta.get("eddy"):
            out = exp.Mod(this=node.this, expression=_nonzero(node.expression))
            out.meta["eddy"] = True
            return out
        return node
    return transform_in_place(expression, rule)


def _is_float(node: exp.Expression) -> bool:
    """Whether PostgreSQL types the node double/real (decimal literals are numeric there,
    although sqlglot's annotation calls them DOUBLE)."""
    if isinstance(node, exp.Paren):
        return _is_float(node.this)
    if isinstance(node, exp.Literal | exp.Neg) and _literal_number(node) is not None:
        return False
    if isinstance(node, exp.Cast | exp.TryCast):
        return node.to.this in _FLOAT_TYPES
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
        return _is_float(node.this) or _is_float(node.expression)
    return type_of(node) in _FLOAT_TYPES


def round_half_even_floats(expression: exp.Expression) -> exp.Expression:
    """``round(double)`` rounds half to even in PostgreSQL; numeric rounds half away from zero."""
    def rule(node):
        if isinstance(node, exp.Round) and _is_float(node.this):
            return duckdb_func("round_even", node.this, node.args.get("decimals") or exp.Literal.number(0))
        return node
    return transform_in_place(expression, rule)


# --- casts ------------------------------------------------------------------------------------


def casts(expression: exp.Expression) -> exp.Expression:
    """Bare numeric is exact; ``varchar(n)`` truncates; jsonb is DuckDB JSON; mz_timestamp ms."""
    def rule(node):
        if not isinstance(node, exp.Cast | exp.TryCast):
            return node
        to = node.to
        kind = to.this
        if kind in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL) and not to.expressions:
            node.set("to", NUMERIC.copy())
        elif kind in (exp.DataType.Type.VARCHAR, exp.DataType.Type.NVARCHAR) and to.expressions:
            width = to.expressions[0]
            node.set("to", exp.DataType.build("VARCHAR"))
            return duckdb_func("left", node, width.this if isinstance(width, exp.DataTypeParam) else width)
        elif kind in (exp.DataType.Type.JSONB, exp.DataType.Type.JSON):
            node.set("to", exp.DataType.build("JSON"))
            if isinstance(node.this, exp.Literal) and node.this.is_string:
                # malformed JSON is left for DuckDB to report when the cast runs
                with contextlib.suppress(ValueError):
                    node.set("this", exp.Literal.string(canonical_json(node.this.this)))
            elif type_of(node.this) in (None, exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT):
                return duckdb_func("json", node)  # minified (key order is kept: see canonical_json)
        elif kind == exp.DataType.Type.USERDEFINED and to.sql().lower() == "mz_timestamp":
            node.set("to", exp.DataType.build("UBIGINT", dialect="duckdb"))
        elif kind == exp.DataType.Type.TEXT:
            node.set("to", exp.DataType.build("VARCHAR"))
        elif kind == exp.DataType.Type.TIMESTAMPTZ and isinstance(node.this, exp.Literal) and \
                node.this.is_string:
            node.set("this", exp.Literal.string(_tz_offset(node.this.this)))
        elif kind == exp.DataType.Type.INTERVAL and isinstance(node.this, exp.Literal) and \
                node.this.is_string and not to.expressions:
            from eddy.sql.intervals import duckdb_literal
            return exp.Interval(this=exp.Literal.string(duckdb_literal(node.this.this)))
        return node
    return transform_in_place(expression, rule)


def interval_qualifiers(expression: exp.Expression) -> exp.Expression:
    """``INTERVAL '1-2 3' HOUR``, ``DAY TO MINUTE``, ``SECOND(2)``: read exactly as Materialize
    does (DuckDB reads only a number before a unit and no ranges)."""
    from eddy.sql.intervals import duckdb_literal, qualifier

    def rule(node):
        unit = node.args.get("unit") if isinstance(node, exp.Interval) else None
        if unit is None or not (isinstance(node.this, exp.Literal) and node.this.is_string):
            return node
        if node.args.get("fraction_in_string"):   # sqlglot split '1.5 hours': no qualifier
            text = duckdb_literal(f"{node.this.this} {unit.name}")
        else:
            leading, trailing, precision = qualifier(unit)
            text = duckdb_literal(node.this.this, leading, trailing, precision)
        return exp.Interval(this=exp.Literal.string(text))
    return transform_in_place(expression, rule)


_OFFSET = re.compile(r"(:\d\d(?:\.\d+)?)([+-])(\d)(?=$|:)")


def _tz_offset(text: str) -> str:
    """PostgreSQL's short zone offsets (`-6`, `+4:00`, `z`) as DuckDB reads them (`-06`)."""
    text = text.strip()
    if text[-1:] in "zZ" and text[-2:-1].isdigit():
        return text[:-1] + "+00"
    return _OFFSET.sub(lambda m: f"{m.group(1)}{m.group(2)}0{m.group(3)}", text)


def values_columns(expression: exp.Expression) -> exp.Expression:
    """``VALUES`` as a query or in FROM names its columns ``column1``.. as PostgreSQL does
    (DuckDB says ``col0``..); a bare ``VALUES`` query becomes ``SELECT * FROM (VALUES ..)``."""
    for values in list(expression.find_all(exp.Values)):
        if isinstance(values.parent, exp.Insert) or not values.expressions:
            continue
        first = values.expressions[0]
        width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
        alias = values.args.get("alias")
        if alias is not None and alias.columns:
            continue
        columns = [exp.to_identifier(f"column{i + 1}") for i in range(width)]
        if alias is None:
            alias = exp.TableAlias(this=exp.to_identifier("_values"))
        alias.set("columns", columns)
        if values is expression:
            values.set("alias", alias)
            return exp.select("*").from_(values)
        if isinstance(values.parent, exp.From | exp.Join):
            values.set("alias", alias)
            continue
        # elsewhere (a subquery, IN (VALUES ..), a set operation) it stands for a query
        query = exp.select("*").from_(exp.Values(expressions=values.expressions, alias=alias))
        if isinstance(values.parent, exp.In) and values.arg_key == "expressions":
            in_ = values.parent
            in_.set("expressions", None)
            in_.set("query", exp.Subquery(this=query))
        else:
            values.replace(query)
    return expression


# --- date and time ----------------------------------------------------------------------------


def extract_fields(expression: exp.Expression) -> exp.Expression:
    """``extract(second ...)`` keeps fractional seconds, as PostgreSQL does."""
    def rule(node):
        if isinstance(node, exp.Extract) and node.this.name.lower() in ("second", "seconds"):
            micros = exp.Extract(this=exp.var("MICROSECOND"), expression=node.expression)
            return exp.paren(exp.Div(this=micros, expression=exp.Literal.number("1000000.0")))
        return node
    return transform_in_place(expression, rule)


def date_trunc_dates(expression: exp.Expression) -> exp.Expression:
    """``date_trunc`` of a date is a timestamptz in PostgreSQL (DuckDB returns a date)."""
    def rule(node):
        if isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
            arg = node.this
            is_date = (isinstance(arg, exp.Cast) and arg.to.this == exp.DataType.Type.DATE) or \
                type_of(arg) == exp.DataType.Type.DATE
            if is_date:
                node.set("this", exp.cast(arg, exp.DataType.build("TIMESTAMPTZ", dialect="duckdb")))
        return node
    return transform_in_place(expression, rule)


def to_timestamp_text(expression: exp.Expression) -> exp.Expression:
    """``to_timestamp(text, fmt)`` returns timestamptz (DuckDB's strptime returns timestamp)."""
    def rule(node):
        if isinstance(node, exp.StrToTime) and not node.meta.get("eddy"):
            node.meta["eddy"] = True
            return exp.cast(node, exp.DataType.build("TIMESTAMPTZ", dialect="duckdb"))
        return node
    return transform_in_place(expression, rule)


# strftime directives whose meaning matches the PostgreSQL pattern sqlglot mapped them from
_SAFE_DIRECTIVES = set("YmdHIMSfGVjy")


def _strftime_format(fmt: str) -> str | None:
    """A sqlglot-converted to_char/to_timestamp format made exact, or None when it may not be:
    quoted text becomes literal text; an unmapped or mismapped pattern (letters left outside
    quotes, or a directive whose meaning differs, e.g. D -> %u) is refused."""
    out, i = [], 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == '"':
            end = fmt.find('"', i + 1)
            if end < 0:
                return None
            out.append(fmt[i + 1:end].replace("%", "%%"))
            i = end + 1
        elif ch == "%":
            if i + 1 >= len(fmt) or fmt[i + 1] not in _SAFE_DIRECTIVES:
                return None
            out.append(fmt[i:i + 2])
            i += 2
        elif ch.isalpha():
            return None
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def time_formats(expression: exp.Expression) -> exp.Expression:
    """``to_char``/``to_timestamp``/``to_date`` formats: exact or refused (sqlglot maps only part
    of PostgreSQL's patterns and leaves the rest as literal text)."""
    for node in expression.find_all(exp.TimeToStr, exp.StrToTime, exp.StrToDate):
        fmt = node.args.get("format")
        if not (isinstance(fmt, exp.Literal) and fmt.is_string):
            raise unsupported("a non-constant date/time format")
        exact = _strftime_format(fmt.this)
        if exact is None:
            raise unsupported(f"date/time format {fmt.this!r} (use YYYY MM DD HH24 HH12 MI SS US "
                              "IYYY IW DDD YY and quoted text)")
        fmt.set("this", exact)
    return expression


def _is_mz_now(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() in ("mz_now", "mz_logical_timestamp")


def _epoch_ms(node: exp.Expression) -> exp.Expression:
    return duckdb_func("epoch_ms", node)


def mz_now(expression: exp.Expression) -> exp.Expression:
    """``mz_now()``: the tick's timestamp (epoch ms) from a DuckDB variable the engine sets.

    A comparison with a timestamp compares epoch milliseconds (Materialize casts timestamptz to
    mz_timestamp); with a number it compares the number as milliseconds.
    """
    comparisons = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)

    def rule(node):
        if isinstance(node, comparisons):
            left, right = node.this, node.expression
            if _is_mz_now(left) and not _is_mz_now(right):
                node.set("expression", _as_mz_timestamp(right))
            elif _is_mz_now(right) and not _is_mz_now(left):
                node.set("this", _as_mz_timestamp(left))
            return node
        if _is_mz_now(node):
            return exp.cast(duckdb_func("getvariable", exp.Literal.string(MZ_NOW_VARIABLE)), "UBIGINT",
                            dialect="duckdb")
        return node
    return transform_in_place(expression, rule)


def _as_mz_timestamp(node: exp.Expression) -> exp.Expression:
    """A value compared with mz_now(), as epoch ms: timestamps convert, numbers stay."""
    kind = type_of(node)
    if kind is not None and kind not in _TIME_TYPES:
        return node
    if kind is None and _literal_number(node) is not None:
        return node
    if kind is None and not _looks_temporal(node):
        return node
    return _epoch_ms(node)


def _looks_temporal(node: exp.Expression) -> bool:
    """Without types: timestamp arithmetic or casts, or a bare column (assumed a timestamp)."""
    if isinstance(node, exp.Paren):
        return _looks_temporal(node.this)
    if isinstance(node, exp.Add | exp.Sub):
        return any(isinstance(n, exp.Interval) for n in node.find_all(exp.Interval)) or \
            _looks_temporal(node.this)
    if isinstance(node, exp.Cast):
        return node.to.this in _TIME_TYPES
    return isinstance(node, exp.Column | exp.TimestampTrunc | exp.UnixToTime | exp.StrToTime |
                      exp.CurrentTimestamp | exp.Interval)


def reject_unsupported(expression: exp.Expression) -> exp.Expression:
    """Constructs with no faithful DuckDB translation fail with 0A000."""
    for node in expression.walk():
        if isinstance(node, exp.SimilarTo):
            raise unsupported("SIMILAR TO")
        if isinstance(node, exp.LimitOptions) and node.args.get("with_ties"):
            raise EddyError("0A000", "FETCH ... WITH TIES not yet supported")
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if name.lower() in UNSUPPORTED_FUNCTIONS:
                raise unsupported(f"function {name.lower()}")
        if isinstance(node, exp.RegexpILike | exp.RegexpLike) and node.args.get("flag") is not None:
            flag = node.args["flag"]
            if isinstance(flag, exp.Literal) and set(flag.this) - set("icg"):
                raise unsupported(f"regular expression flags {flag.this!r}")
    return expression


def normalize_names(expression: exp.Expression) -> exp.Expression:
    """Unquoted identifiers fold to lower case, as in PostgreSQL."""
    return normalize_identifiers(expression, dialect="postgres")


RULES = (
    normalize_names,
    reject_unsupported,
    name_columns,
    query_checks,
    date_input,
    date_trunc_columns,
    date_bin_hopping,
    operator_types,
    timestamptz_difference,
    date_bin_checks,
    round_half_even_floats,
    extract_fields,
    div_function,
    integer_division,
    modulo,
    casts_and_text,
    casts,
    interval_qualifiers,
    values_columns,
    aggregate_types,
    pg_typeof,
    json_operators,
    json_functions,
    date_trunc_dates,
    timestamptz_trunc,
    time_formats,
    to_timestamp_text,
    mz_now,
    boolean_operands,
    length_encoding,
    pads_and_lengths,
    split_part_fields,
    string_signatures,
    substring_length,
    substring_start,
    like_escape,
    timestamptz_wall_time,
)

# The node kinds each rule acts on (subclasses included): a rule runs only on a tree holding one
# of them. A rule not listed always runs. Every rule starts from such a check, so skipping it on
# a tree without those kinds changes nothing; the kinds are taken again after each rule that ran
# (it may have added nodes).
TRIGGERS = {
    query_checks: (exp.Select, exp.With, exp.Any, exp.All, exp.SetOperation, exp.Count, exp.Sum,
                   exp.Avg, exp.Min, exp.Max, exp.Filter),
    date_input: (exp.Cast,),
    date_trunc_columns: (exp.TimestampTrunc, exp.DateTrunc),
    date_bin_hopping: (exp.Anonymous,),
    operator_types: (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.DPipe),
    timestamptz_difference: (exp.Sub,),
    timestamptz_trunc: (exp.TimestampTrunc, exp.DateTrunc),
    timestamptz_wall_time: (exp.Extract, exp.Cast, exp.Date),
    date_bin_checks: (exp.DateBin,),
    round_half_even_floats: (exp.Round,),
    extract_fields: (exp.Extract,),
    div_function: (exp.IntDiv,),
    integer_division: (exp.Div,),
    modulo: (exp.Mod,),
    casts_and_text: (exp.Anonymous, exp.Cast, exp.Concat, exp.ConcatWs, exp.Sub),
    casts: (exp.Cast,),
    interval_qualifiers: (exp.Interval,),
    values_columns: (exp.Values,),
    aggregate_types: (exp.Sum, exp.Avg),
    pg_typeof: (exp.Anonymous,),
    json_operators: (exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract,
                     exp.JSONBExtractScalar, exp.ArrayContainsAll, exp.ArrayContainedBy, exp.Sub,
                     exp.JSONBContainsTopKey),
    json_functions: (exp.Anonymous, exp.Unnest),
    date_trunc_dates: (exp.TimestampTrunc, exp.DateTrunc),
    time_formats: (exp.TimeToStr, exp.StrToTime, exp.StrToDate),
    to_timestamp_text: (exp.StrToTime,),
    mz_now: (exp.Anonymous,),
    boolean_operands: (exp.Not, exp.And, exp.Or),
    length_encoding: (exp.Length,),
    pads_and_lengths: (exp.Pad, exp.Anonymous),
    split_part_fields: (exp.SplitPart,),
    string_signatures: (exp.ConcatWs, exp.SplitPart, exp.StrPosition, exp.Date),
    substring_length: (exp.Substring,),
    substring_start: (exp.Substring,),
    like_escape: (exp.Like, exp.ILike),
}


def _kinds(expression: exp.Expression) -> set[type]:
    """The node classes in a tree."""
    kinds, stack = set(), [expression]
    while stack:
        node = stack.pop()
        kinds.add(node.__class__)
        for value in node.args.values():
            if isinstance(value, exp.Expression):
                stack.append(value)
            elif type(value) is list:
                stack.extend(v for v in value if isinstance(v, exp.Expression))
    return kinds


def to_duckdb(expression: exp.Expression, schema: dict | None = None) -> exp.Expression:
    """A DuckDB-semantics copy of a postgres-dialect sqlglot tree.

    ``schema`` ({table: {column: type}}), when given, types the tree first so that type-dependent
    rules (``round`` on floats, ``mz_now()`` comparisons) are exact; without it they use the
    types of literals and casts only. A pure function of the tree and the schema, so results are
    memoized (``dialect_memo``); every call gets a tree of its own.
    """
    key = dialect_memo.key(expression, schema)
    if key is not None and (hit := dialect_memo.get(key)) is not None:
        return hit
    out = _translate(expression, schema)
    if key is not None:
        dialect_memo.put(key, out)
    return out


def _translate(expression: exp.Expression, schema: dict | None) -> exp.Expression:
    # before qualify: its _col_N names, and VALUES column names it must see
    expression = values_columns(name_columns(normalize_names(expression.copy())))
    if schema is not None:
        from sqlglot.optimizer.annotate_types import annotate_types
        from sqlglot.optimizer.qualify import qualify
        typed = dialect_memo.sqlglot_schema(schema)
        with contextlib.suppress(Exception):  # typing is best effort; the rules still apply
            expression = qualify(expression, schema=typed, dialect="postgres", identify=False,
                                 validate_qualify_columns=False)
            expression = annotate_types(expression, schema=typed, dialect="postgres")
    kinds = _kinds(expression)
    for rule in RULES:
        triggers = TRIGGERS.get(rule)
        if triggers is not None and not any(issubclass(k, triggers) for k in kinds):
            continue
        expression = rule(expression)
        kinds = _kinds(expression)
    return expression


# sqlglot's notes that do not apply here (the engine's DuckDB session runs in UTC)
_BENIGN_NOTES = ("EXTRACT from TIMESTAMPTZ",)


def render(expression: exp.Expression) -> str:
    """DuckDB SQL text of a (translated) tree.

    Whatever sqlglot reports it cannot generate faithfully fails with 0A000 rather than being
    rendered approximately.
    """
    try:
        return expression.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        notes = [n.strip() for n in str(error).split("\n") if n.strip()]
        if all(n.startswith(_BENIGN_NOTES) for n in notes):
            return expression.sql(dialect="duckdb", unsupported_level=ErrorLevel.IGNORE)
        note = notes[0] if notes else "expression not supported"
        if "not supported" not in note:
            raise unsupported(note) from error
        raise EddyError("0A000", note) from error


def transpile(sql: str, schema: dict | None = None) -> str:
    """PostgreSQL/Materialize SQL text to DuckDB SQL text (one statement)."""
    return render(to_duckdb(sqlglot.parse_one(sql, read="postgres"), schema=schema))
