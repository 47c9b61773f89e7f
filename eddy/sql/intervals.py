"""Interval values as Materialize reads and prints them, kept exact as (months, days, micros).

Input follows Materialize's parser (a superset of PostgreSQL's): SQL-standard parts
(`'1-2'` year-month, `'3:4:5.6'` hour-minute-second, `'4:.5'` minute-second), PostgreSQL parts
(`'1.5 hours'`, `'3d'`), a bare number resolved from its neighbour (`'3 4:5'`: 3 days) or else
as the trailing field of the qualifier (seconds by default), each field set at most once, an
optional qualifier (`HOUR`, `DAY TO MINUTE`, `SECOND(2)`) that drops fields above its leading
field and truncates below its trailing field. Fractions spill down as in PostgreSQL (a month is
30 days, a day 24 hours); each part is rounded to microseconds.

Output is PostgreSQL's `postgres` interval style with Materialize's unit names:
`1 year 2 months 3 days 04:05:06.7`, `-1 years -2 months +3 days -04:05:06.7`.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import NamedTuple

from eddy.errors import EddyError

FIELDS = ("year", "month", "day", "hour", "minute", "second")
_RANK = {f: i for i, f in enumerate(FIELDS)}
_UNITS = {  # unit word -> field it sets
    "year": "year", "years": "year", "y": "year", "yr": "year", "yrs": "year",
    "month": "month", "months": "month", "mon": "month", "mons": "month",
    "day": "day", "days": "day", "d": "day",
    "hour": "hour", "hours": "hour", "h": "hour", "hr": "hour", "hrs": "hour",
    "minute": "minute", "minutes": "minute", "m": "minute", "min": "minute", "mins": "minute",
    "second": "second", "seconds": "second", "s": "second", "sec": "second", "secs": "second",
    "millisecond": "millisecond", "milliseconds": "millisecond", "ms": "millisecond",
    "msec": "millisecond", "msecs": "millisecond",
    "microsecond": "microsecond", "microseconds": "microsecond", "us": "microsecond",
    "usec": "microsecond", "usecs": "microsecond",
    "week": "week", "weeks": "week", "w": "week",
    "decade": "decade", "decades": "decade", "century": "century", "centuries": "century",
    "millennium": "millennium", "millennia": "millennium", "millenniums": "millennium",
}
_MICROS = {"hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000,
           "millisecond": 1000, "microsecond": 1}
_MONTHS = {"year": 12, "decade": 120, "century": 1200, "millennium": 12000}
_DAY_MICROS = 86_400_000_000
_ISO = re.compile(r"P(?:(?P<Y>[\d.]+)Y)?(?:(?P<M>[\d.]+)M)?(?:(?P<W>[\d.]+)W)?(?:(?P<D>[\d.]+)D)?"
                  r"(?:T(?:(?P<h>[\d.]+)H)?(?:(?P<mi>[\d.]+)M)?(?:(?P<s>[\d.]+)S)?)?$", re.I)
_TOKEN = re.compile(r"(?P<num>\d+)|(?P<word>[a-zA-Z]+)|(?P<op>[-+:.])|(?P<delim>\s|[^\w\-+:.])")


class Interval(NamedTuple):
    """An exact interval value (months, days, microseconds kept apart, as PostgreSQL does)."""
    months: int
    days: int
    micros: int

    def __str__(self) -> str:
        return format_interval(self)


def _bad(text: str, why: str = "") -> EddyError:
    detail = f"{why}: " if why else ""
    return EddyError("22007", f'invalid input syntax for type interval: {detail}"{text}"')


# ------------------------------------------------------------------------- tokens


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: num, unit, op (- + : .), delim; unknown unit words fail."""
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        if m.group("num") is not None:
            out.append(("num", m.group("num")))
        elif m.group("word") is not None:
            word = m.group("word").lower()
            if word not in _UNITS:
                raise _bad(text, f"unknown units {word}")
            out.append(("unit", _UNITS[word]))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        elif not out or out[-1][0] != "delim":
            out.append(("delim", " "))
    return out


def _parts(toks: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Delimiter-separated parts; colons leading a part are dropped."""
    parts, buf = [], []
    for tok in toks:
        if tok[0] == "delim":
            if buf:
                parts.append(buf)
            buf = []
        elif tok == ("op", ":") and not buf:
            continue
        else:
            buf.append(tok)
    if buf:
        parts.append(buf)
    return parts


def _fmt_of(part: list[tuple[str, str]], leading: str | None) -> tuple[str, str] | None:
    """('sql'|'pg', field) of a part, or None when it is a bare number."""
    i = 1 if part and part[0] in (("op", "-"), ("op", "+")) else 0
    if i < len(part) and part[i][0] == "num":
        i += 1
    nxt = part[i] if i < len(part) else None
    if nxt is None:
        return None
    if nxt == ("op", "."):
        i += 1
        if i < len(part) and part[i][0] == "num":
            i += 1
        if i >= len(part):
            return None
        if part[i][0] == "unit":
            return "pg", part[i][1]
        raise EddyError("22007", "invalid input syntax for type interval: unexpected "
                        f"{part[i][1]!r}")
    if nxt == ("op", "-"):
        return "sql", "year"
    if nxt == ("op", ":"):
        i += 1
        if i < len(part) and part[i][0] == "num":
            i += 1
        after = part[i] if i < len(part) else None
        if after == ("op", ":"):
            return "sql", "hour"
        if after == ("op", "."):
            return "sql", "minute"
        return "sql", "minute" if leading == "minute" else "hour"
    if nxt[0] == "unit":
        return "pg", nxt[1]
    raise EddyError("22007", f"invalid input syntax for type interval: unexpected {nxt[1]!r}")


# ------------------------------------------------------------------------- fields


class _Fields:
    """Parsed fields: field -> Decimal value (sign applied), each set at most once."""

    def __init__(self, text: str):
        self.text = text
        self.values: dict[str, Decimal] = {}

    def set(self, names: tuple[str, ...], values: tuple[Decimal, ...]) -> None:
        if any(n in self.values for n in names):
            label = (" or " if names == ("year", "month") else ", ").join(n.upper() for n in names)
            raise _bad(self.text, f"{label} field set twice")
        self.values.update(zip(names, values, strict=True))


def _sign(part, pos):
    if pos < len(part) and part[pos] in (("op", "-"), ("op", "+")):
        return (-1 if part[pos][1] == "-" else 1), pos + 1
    return 1, pos


def _num(part, pos) -> tuple[Decimal, int]:
    """An optional integer at pos (empty is 0)."""
    if pos < len(part) and part[pos][0] == "num":
        return Decimal(part[pos][1]), pos + 1
    return Decimal(0), pos


def _frac(part, pos) -> tuple[Decimal, int]:
    """An optional `.digits` fraction at pos."""
    if pos < len(part) and part[pos] == ("op", "."):
        if pos + 1 < len(part) and part[pos + 1][0] == "num":
            return Decimal("0." + part[pos + 1][1]), pos + 2
        return Decimal(0), pos + 1
    return Decimal(0), pos


def _expect(part, pos, tok) -> int:
    return pos + 1 if pos < len(part) and part[pos] == tok else pos


def _bound(text: str, field: str, value: Decimal, limit: int) -> None:
    if abs(value) > limit:
        raise _bad(text, f"{field.upper()} must be [-{limit}, {limit}], got {int(value)}")


def _fill(part, fmt: tuple[str, str], fields: _Fields) -> int:
    """Sets the fields of one part; returns the position after what it consumed."""
    style, field = fmt
    sign, pos = _sign(part, 0)
    text = fields.text
    if style == "sql" and field == "year":
        years, pos = _num(part, pos)
        pos = _expect(part, pos, ("op", "-"))
        months, pos = _num(part, pos)
        _bound(text, "month", months, 12)
        fields.set(("year", "month"), (sign * years, sign * months))
    elif style == "sql":
        first, pos = _num(part, pos)
        pos = _expect(part, pos, ("op", ":"))
        second, pos = _num(part, pos)
        if field == "hour":
            third = Decimal(0)
            if pos < len(part) and part[pos] == ("op", ":"):
                third, pos = _num(part, pos + 1)
            frac, pos = _frac(part, pos)
            _bound(text, "minute", second, 59)
            _bound(text, "second", third, 60)
            fields.set(("hour", "minute", "second"),
                       (sign * first, sign * second, sign * (third + frac)))
        else:
            frac, pos = _frac(part, pos)
            _bound(text, "second", second, 60)
            fields.set(("minute", "second"), (sign * first, sign * (second + frac)))
    else:
        whole, pos = _num(part, pos)
        frac, pos = _frac(part, pos)
        fields.set((field,), (sign * (whole + frac),))
    return pos


def _rest(part, pos) -> str:
    """Unconsumed tokens as Materialize prints them (fractions in nanoseconds)."""
    out, prev = [], None
    for kind, val in part[pos:]:
        out.append(val.ljust(9, "0")[:9] if kind == "num" and prev == "." else val)
        prev = val
    return "".join(out)


def _parse_fields(text: str, leading: str | None, resolver: str) -> _Fields:
    fields = _Fields(text)
    parts = _parts(_tokens(text))
    if not parts:
        raise _bad(text)
    annotated = []
    i = 0
    while i < len(parts):
        part, fmt = parts[i], _fmt_of(parts[i], leading)
        i += 1
        if fmt is None:
            if i < len(parts):
                nxt = _fmt_of(parts[i], leading)
                if nxt is not None and nxt[0] == "sql" and nxt[1] != "year":
                    fmt = ("pg", "day")
                elif nxt is not None and nxt[0] == "pg" and parts[i][0][0] == "unit":
                    fmt, part = nxt, part + parts[i]
                    i += 1
                else:
                    raise _bad(text, "Cannot determine format of all parts. Add explicit time "
                               "components, e.g. INTERVAL '1 day' or INTERVAL '1' DAY")
            else:
                fmt = ("pg", resolver)
        annotated.append((part, fmt))
    for part, fmt in annotated:
        if all(kind == "unit" for kind, _ in part):
            continue                      # a unit word of its own: `1 year year` is one year
        pos = _fill(part, fmt, fields)
        while pos < len(part) and part[pos][0] == "unit":
            pos += 1
        if pos < len(part):
            raise _bad(text, f"have unprocessed tokens {_rest(part, pos)}")
    return fields


# ------------------------------------------------------------------------- values


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(ROUND_HALF_UP))


def _trunc(value: Decimal) -> int:
    return int(value.to_integral_value(ROUND_DOWN))


def _combine(fields: dict[str, Decimal], leading: str) -> Interval:
    """Fields -> (months, days, micros), fractions spilling down; whole values of fields above
    `leading` are dropped (their fractions' spill is kept, as Materialize does)."""
    months = days = micros = 0

    def keep(field: str) -> bool:
        return _RANK.get(field, 9) >= _RANK[leading]
    for field, value in fields.items():
        whole = _trunc(value)
        frac = value - whole
        if field in _MONTHS or field == "year":
            factor = _MONTHS.get(field, 12)
            if keep("year"):
                months += whole * factor
            months += _trunc(frac * factor)
        elif field == "month":
            months += whole if keep("month") else 0
            spill = frac * 30
            days += _trunc(spill)
            micros += _round((spill - _trunc(spill)) * _DAY_MICROS)
        elif field in ("day", "week"):
            factor = 7 if field == "week" else 1
            total = value * factor
            if keep("day"):
                days += _trunc(total)
            micros += _round((total - _trunc(total)) * _DAY_MICROS)
        elif keep(field if field in _RANK else "second"):
            micros += _round(value * _MICROS[field])
    return Interval(months, days, micros)


def _truncate(iv: Interval, trailing: str, precision: int | None) -> Interval:
    months, days, micros = iv
    if trailing == "year":
        return Interval(int(months / 12) * 12, 0, 0)
    if trailing == "month":
        return Interval(months, 0, 0)
    if trailing == "day":
        return Interval(months, days, 0)
    if trailing in ("hour", "minute"):
        unit = _MICROS[trailing]
        return Interval(months, days, int(micros / unit) * unit if micros >= 0
                        else -(-micros // unit) * unit)
    if precision is not None and precision < 6:
        unit = 10 ** (6 - precision)
        micros = _round(Decimal(micros) / unit) * unit
    return Interval(months, days, micros)


def parse_interval(text: str, leading: str | None = None, trailing: str = "second",
                   precision: int | None = None) -> Interval:
    """The interval of a literal, with an optional qualifier `leading TO trailing(precision)`
    (`INTERVAL '1-2 3' HOUR` is leading None, trailing "hour")."""
    if leading is not None and _RANK[leading] >= _RANK[trailing]:
        raise EddyError("42601", f"invalid interval qualifier {leading.upper()} TO "
                        f"{trailing.upper()}")
    if precision is not None and not 0 <= precision <= 6:
        raise EddyError("22023", f"SECOND precision must be (0, 6), have SECOND({precision})")
    s = text.strip()
    iso = _ISO.match(s)
    if iso and s[:1] in "pP" and len(s) > 1:
        values = {}
        for key, unit in (("Y", "year"), ("M", "month"), ("W", "week"), ("D", "day"),
                          ("h", "hour"), ("mi", "minute"), ("s", "second")):
            if iso.group(key):
                values[unit] = Decimal(iso.group(key))
        iv = _combine(values, "year")
    else:
        ago = re.search(r"\s+ago\s*$", s, re.I)
        body = s[:ago.start()] if ago else s
        fields = _parse_fields(body, leading, trailing)
        iv = _combine(fields.values, leading or "year")
        if ago:
            iv = Interval(-iv.months, -iv.days, -iv.micros)
    return _truncate(iv, trailing, precision)


def duckdb_literal(text: str, leading: str | None = None, trailing: str = "second",
                   precision: int | None = None) -> str:
    """The same interval as text DuckDB reads exactly."""
    months, days, micros = parse_interval(text, leading, trailing, precision)
    return f"{months} months {days} days {micros} microseconds"


# ------------------------------------------------------------------------- output


def _part(value: int, unit: str, state: dict) -> str:
    if value == 0:
        return ""
    text = ("" if state["zero"] else " ") + ("+" if state["before"] and value > 0 else "") + \
        f"{value} {unit}{'' if value == 1 else 's'}"
    state["before"], state["zero"] = value < 0, False
    return text


def format_interval(iv) -> str:
    """PostgreSQL's `postgres` style with Materialize's unit names (`month`, not `mon`)."""
    months, days, micros = iv
    years = int(months / 12)
    state = {"zero": True, "before": False}
    out = _part(years, "year", state) + _part(months - years * 12, "month", state) + \
        _part(days, "day", state)
    if state["zero"] or micros:
        minus = micros < 0
        secs, frac = divmod(abs(micros), 1_000_000)
        mins, secs = divmod(secs, 60)
        hours, mins = divmod(mins, 60)
        clock = f"{hours:02d}:{mins:02d}:{secs:02d}"
        if frac:
            clock += f".{frac:06d}".rstrip("0")
        sign = "-" if minus else ("+" if state["before"] else "")
        out += ("" if state["zero"] else " ") + sign + clock
    return out


def from_month_day_nano(v) -> Interval:
    """An Arrow month_day_nano value (DuckDB's interval export) as an Interval."""
    return Interval(v.months, v.days, v.nanoseconds // 1000)


def fetch_rows(rel, desc) -> list[tuple]:
    """All rows of an executed DuckDB cursor; interval columns as exact Interval values
    (DuckDB's Python conversion gives timedelta, folding months into 30 days)."""
    cols = [i for i, d in enumerate(desc) if str(d[1]).upper() == "INTERVAL"]
    if not cols:
        return rel.fetchall()
    table = rel.fetch_arrow_table()
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    for i in cols:
        columns[i] = [None if v is None else from_month_day_nano(v) for v in columns[i]]
    return list(zip(*columns, strict=True)) if columns else []


def qualifier(unit) -> tuple[str | None, str, int | None]:
    """(leading, trailing, precision) of a sqlglot interval unit: `HOUR`, `DAY TO MINUTE`,
    `SECOND(5)`, `MINUTE TO SECOND(2)`."""
    from sqlglot import exp

    def one(node) -> tuple[str, int | None]:
        if isinstance(node, exp.Second):
            arg = node.this
            return "second", int(arg.this) if isinstance(arg, exp.Literal) else None
        name = _UNITS.get(node.name.lower()) if isinstance(node, exp.Var) else None
        if name not in _RANK:
            raise EddyError("42601", f"invalid interval qualifier {node.sql()}")
        return name, None
    if isinstance(unit, exp.IntervalSpan):
        leading, _ = one(unit.this)
        trailing, precision = one(unit.expression)
        return leading, trailing, precision
    trailing, precision = one(unit)
    return None, trailing, precision
