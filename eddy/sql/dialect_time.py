"""Dialect rules for dates, times and operator types (see eddy.sql.dialect for the order).

- ``date_trunc(col, ts)``: a unit that is no unit name is a column (sqlglot reads it as a unit).
- ``date_bin``: a stride with months or years, or not above zero, is Materialize's error.
- ``date_bin_hopping(hop, width, ts[, origin])``: the starts of the ``width``-long windows,
  ``hop`` apart from ``origin`` (the Unix epoch by default), that contain ``ts``.
- date input written ``20000101`` or ``2000 01-01`` reads as PostgreSQL reads it.
- an operator between date/time types that has no overload (``interval - date``,
  ``timestamptz * interval``) is Materialize's ``no overload for`` error, and ``||`` between
  booleans is ``operator does not exist``, rather than DuckDB's binder text.
- ``timestamptz - timestamptz`` is computed from the epoch microseconds (``mz_tstz_minus``):
  PostgreSQL's result (24-hour days, the rest as time, both with the difference's sign), equal
  to DuckDB's in UTC, without DuckDB's calendar (ICU) subtraction: 7.7 against 0.013 µs per row
  measured on DuckDB 1.4 (user_sessions takes it per event).
- ``date_trunc`` of a timestamptz to a unit of fixed length (a day or less) floors the epoch
  microseconds (``mz_tstz_trunc``): the engine's DuckDB session runs in UTC, where those units
  are fixed, and DuckDB's calendar (ICU) truncation cost 0.29 µs a row against 0.011 (DuckDB
  1.5; page_views_per_minute and error_alerts take it per event, a dashboard's GROUP BY per row
  of history).
- ``extract`` of a calendar field of a timestamptz, and its cast to date, read its UTC wall time
  (``mz_tstz_wall``: the epoch microseconds as a timestamp) instead of DuckDB's calendar: the
  cast to date 0.23 µs a row against ~0.01, ``extract(hour ...)`` 0.21.
"""

from __future__ import annotations

import re

from sqlglot import exp

from eddy.errors import EddyError
from eddy.sql.astutil import duckdb_func, transform_in_place
from eddy.sql.dialect_casts import kind_of

T = exp.DataType.Type
_UNITS = {u + s for u in ("microsecond", "millisecond", "second", "minute", "hour", "day",
                          "week", "month", "quarter", "year", "decade", "century",
                          "millennium", "microseconds", "milliseconds", "us", "ms", "s", "m",
                          "h", "d", "w", "y", "mon", "min", "sec", "epoch", "dow", "doy",
                          "isodow", "isoyear", "millennia", "centuries", "decades")
          for s in ("", "s")}
_DATE_TEXT = re.compile(r"^\s*(\d{4})[ /.]?(\d{2})[-/ .]?(\d{2})(?=$|[ T])(.*)$", re.S)
_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
_TEMPORAL_NAMES = {T.DATE: "date", T.TIME: "time", T.TIMESTAMP: "timestamp",
                   T.TIMESTAMPTZ: "timestamp with time zone",
                   T.TIMESTAMPLTZ: "timestamp with time zone", T.INTERVAL: "interval"}
_TS = ("timestamp", "timestamp with time zone")
_VALID = {
    "+": {("date", "interval"), ("interval", "date"), ("date", "time"), ("time", "date"),
          ("time", "interval"), ("interval", "time"), ("interval", "interval")}
    | {(t, "interval") for t in _TS} | {("interval", t) for t in _TS},
    "-": {("date", "date"), ("date", "interval"), ("time", "time"), ("time", "interval"),
          ("interval", "interval")} | {(t, "interval") for t in _TS}
    | {(a, b) for a in _TS for b in _TS},
    "*": set(), "/": set(),
}
_OPS = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}


def date_trunc_columns(expression: exp.Expression) -> exp.Expression:
    """``date_trunc(str, ts)`` with ``str`` a column, not a unit name."""
    def rule(node):
        if isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
            unit = node.args.get("unit")
            if isinstance(unit, exp.Var) and unit.name.lower() not in _UNITS:
                column = exp.column(unit.name.lower())
                return exp.Anonymous(this="date_trunc", expressions=[column, node.this])
        return node
    return transform_in_place(expression, rule)


def _is_tz(node: exp.Expression) -> bool:
    dtype = kind_of(node)
    return dtype is not None and dtype.this in (T.TIMESTAMPTZ, T.TIMESTAMPLTZ)


def timestamptz_difference(expression: exp.Expression) -> exp.Expression:
    """``a - b`` of two timestamptz values without DuckDB's calendar subtraction."""
    def rule(node):
        if isinstance(node, exp.Sub) and _is_tz(node.this) and _is_tz(node.expression):
            return exp.cast(exp.Anonymous(this="mz_tstz_minus",
                                          expressions=[node.this, node.expression]), "INTERVAL")
        return node
    return transform_in_place(expression, rule)


# date_trunc's units of fixed length in UTC, in microseconds
_FIXED_UNITS = {name: size for names, size in (
    (("microsecond", "microseconds", "us"), 1), (("millisecond", "milliseconds", "ms"), 1000),
    (("second", "seconds", "s", "sec", "secs"), 10**6),
    (("minute", "minutes", "m", "min", "mins"), 60 * 10**6),
    (("hour", "hours", "h"), 3600 * 10**6), (("day", "days", "d"), 86400 * 10**6))
    for name in names}


def timestamptz_trunc(expression: exp.Expression) -> exp.Expression:
    """``date_trunc(unit, tstz)`` with a unit of fixed length as epoch arithmetic."""
    def rule(node):
        if isinstance(node, exp.TimestampTrunc | exp.DateTrunc) and _is_tz(node.this):
            unit = node.args.get("unit")
            size = _FIXED_UNITS.get(unit.name.lower()) if isinstance(unit, exp.Var) else None
            if size is not None:
                return exp.Anonymous(this="mz_tstz_trunc",
                                     expressions=[node.this, exp.Literal.number(size)])
        return node
    return transform_in_place(expression, rule)


# extract's fields that read the wall time alone (not the epoch, not the time zone)
_WALL_FIELDS = {"year", "month", "day", "hour", "minute", "second", "microsecond",
                "microseconds", "millisecond", "milliseconds", "dow", "dayofweek", "isodow",
                "dayofweekiso", "doy", "dayofyear", "week", "weekofyear", "quarter", "decade",
                "century", "millennium", "isoyear", "yearofweek"}


def timestamptz_wall_time(expression: exp.Expression) -> exp.Expression:
    """``extract(field FROM tstz)``, ``tstz::date`` and ``date(tstz)`` on the UTC wall time."""
    def wall(node: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this="mz_tstz_wall", expressions=[node])

    def rule(node):
        if isinstance(node, exp.Extract) and isinstance(node.this, exp.Var) \
                and node.this.name.lower() in _WALL_FIELDS and _is_tz(node.expression):
            node.set("expression", wall(node.expression))
        elif (isinstance(node, exp.Cast) and node.to.this == T.DATE
              or isinstance(node, exp.Date) and not node.expressions
              and not node.args.get("zone")) and _is_tz(node.this):
            node.set("this", wall(node.this))
        return node
    return transform_in_place(expression, rule)


def _raise_if(condition: exp.Expression, message: str) -> exp.If:
    return exp.If(this=condition, true=duckdb_func("error", exp.Literal.string(message)))


def date_bin_checks(expression: exp.Expression) -> exp.Expression:
    """``date_bin``'s stride: no months or years, above zero (checked when it runs)."""
    def rule(node):
        if not isinstance(node, exp.DateBin) or node.meta.get("eddy_checked"):
            return node
        node.meta["eddy_checked"] = True
        stride = _interval(node.this)      # date_bin('15 minutes', ..): the text is an interval
        node.set("this", stride)
        months = exp.NEQ(this=exp.Add(
            this=duckdb_func("datepart", exp.Literal.string("month"), stride.copy()),
            expression=duckdb_func("datepart", exp.Literal.string("year"), stride.copy())),
            expression=exp.Literal.number(0))
        positive = exp.LTE(this=stride.copy(), expression=exp.Interval(
            this=exp.Literal.string("0 seconds")))
        return exp.Case(ifs=[
            _raise_if(months, "timestamps cannot be binned into intervals containing months "
                      "or years"),
            _raise_if(positive, "stride must be greater than zero")], default=node)
    return transform_in_place(expression, rule)


def _interval(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Literal) and node.is_string:
        return exp.cast(node, exp.DataType.build("INTERVAL"))
    return node


def date_bin_hopping(expression: exp.Expression) -> exp.Expression:
    """``date_bin_hopping(hop, width, ts[, origin])`` as an UNNEST of the window starts."""
    for fn in list(expression.find_all(exp.Anonymous)):
        if fn.name.lower() != "date_bin_hopping":
            continue
        args = list(fn.expressions)
        if len(args) not in (3, 4):
            raise EddyError("42883", f"function date_bin_hopping with {len(args)} arguments "
                            "does not exist")
        hop, width, ts = (_interval(args[0]), _interval(args[1]), args[2])
        if isinstance(ts, exp.Literal) and ts.is_string:
            ts = exp.cast(ts, exp.DataType.build("TIMESTAMPTZ"))
        origin = args[3] if len(args) == 4 else exp.Literal.string("1970-01-01 00:00:00")
        if isinstance(origin, exp.Literal):
            origin = exp.cast(origin, exp.DataType.build("TIMESTAMP"))
        h_us = exp.Anonymous(this="mz_interval_us", expressions=[hop])
        w_us = exp.Anonymous(this="mz_interval_us", expressions=[width])
        first = exp.Anonymous(this="mz_hop_first", expressions=[
            ts.copy(), h_us.copy(), w_us, origin.copy()])
        last = exp.Anonymous(this="mz_hop_last", expressions=[ts, h_us.copy(), origin])
        step = exp.Anonymous(this="to_microseconds", expressions=[h_us])
        series = exp.Anonymous(this="generate_series", expressions=[first, last, step])
        unnest = exp.Unnest(expressions=[series])
        holder = fn.parent
        if isinstance(holder, exp.Table):
            alias = holder.args.get("alias") or exp.TableAlias(
                this=exp.to_identifier("date_bin_hopping"))
            if not alias.columns:
                alias.set("columns", [exp.to_identifier("date_bin_hopping")])
            unnest.set("alias", alias)
            holder.replace(unnest)
        else:
            fn.replace(unnest)
    return expression


def date_input(expression: exp.Expression) -> exp.Expression:
    """``DATE '20000101'``, ``TIMESTAMP '2000 01-01 01:02:03'``: PostgreSQL's date forms."""
    for cast in expression.find_all(exp.Cast):
        if cast.to.this not in (T.DATE, T.TIMESTAMP, T.TIMESTAMPTZ):
            continue
        lit = cast.this
        if not (isinstance(lit, exp.Literal) and lit.is_string) or _ISO_DATE.match(lit.this):
            continue
        m = _DATE_TEXT.match(lit.this)
        if m:
            lit.set("this", f"{m.group(1)}-{m.group(2)}-{m.group(3)}{m.group(4)}")
    return expression


def _name(node: exp.Expression) -> str | None:
    dtype = kind_of(node)
    return None if dtype is None else _TEMPORAL_NAMES.get(dtype.this)


def operator_types(expression: exp.Expression) -> exp.Expression:
    """Operators on date/time types without an overload fail as in Materialize."""
    for node in expression.find_all(exp.Add, exp.Sub, exp.Mul, exp.Div, exp.DPipe):
        if isinstance(node, exp.DPipe):
            left, right = kind_of(node.this), kind_of(node.expression)
            if left is not None and right is not None and left.this == T.BOOLEAN == right.this:
                raise EddyError("42883", "operator does not exist: boolean || boolean")
            continue
        left, right = _name(node.this), _name(node.expression)
        if left is None or right is None:
            continue
        op = _OPS[type(node)]
        if (left, right) not in _VALID[op]:
            raise EddyError("42883", f"no overload for {left} {op} {right}")
    return expression
