"""PostgreSQL interval input (`'1 day 02:03:04'`, `'-1 day +02:00'`, `'1.5 hours'`, ISO 8601
`'P1DT2H'`) parsed exactly into (months, days, microseconds)."""

from __future__ import annotations

import re
from decimal import Decimal

from eddy.errors import EddyError

_UNITS = {  # unit -> (field, factor): field "m" months, "d" days, "u" microseconds
    "microsecond": ("u", 1), "millisecond": ("u", 1000), "second": ("u", 1_000_000),
    "minute": ("u", 60_000_000), "hour": ("u", 3_600_000_000), "day": ("d", 1),
    "week": ("d", 7), "month": ("m", 1), "year": ("m", 12), "decade": ("m", 120),
    "century": ("m", 1200), "millennium": ("m", 12000),
}
_ABBREV = {"us": "microsecond", "usec": "microsecond", "usecs": "microsecond",
           "ms": "millisecond", "msec": "millisecond", "msecs": "millisecond",
           "s": "second", "sec": "second", "secs": "second", "m": "minute", "min": "minute",
           "mins": "minute", "h": "hour", "hr": "hour", "hrs": "hour", "d": "day",
           "w": "week", "mon": "month", "mons": "month", "y": "year", "yr": "year",
           "yrs": "year", "centuries": "century", "millennia": "millennium"}
_TOKEN = re.compile(r"\s*(?:(?P<clock>[+-]?\d+:\d+(?::\d+(?:\.\d*)?)?)"
                    r"|(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))\s*(?P<unit>[a-z]+)?"
                    r"|(?P<ago>ago))", re.I)
_ISO = re.compile(r"P(?:(?P<Y>[\d.]+)Y)?(?:(?P<M>[\d.]+)M)?(?:(?P<W>[\d.]+)W)?(?:(?P<D>[\d.]+)D)?"
                  r"(?:T(?:(?P<h>[\d.]+)H)?(?:(?P<mi>[\d.]+)M)?(?:(?P<s>[\d.]+)S)?)?$", re.I)


def _bad(text: str) -> EddyError:
    return EddyError("22007", f'invalid input syntax for type interval: "{text}"')


def _unit(word: str) -> str | None:
    w = word.lower()
    w = _ABBREV.get(w, w)
    if w not in _UNITS and w.endswith("s"):
        w = w[:-1]
    return w if w in _UNITS else None


class _Acc:
    def __init__(self):
        self.m = self.d = self.u = 0

    def add(self, value: Decimal, unit: str) -> None:
        """Fractions spill down as in PostgreSQL: months -> 30 days, days -> 24 hours."""
        field, factor = _UNITS[unit]
        if field == "m":
            total = value * factor
            whole = int(total)
            self.m += whole
            value, field, factor = total - whole, "d", 30
        if field == "d":
            total = value * factor
            whole = int(total)
            self.d += whole
            value, factor = total - whole, 86_400_000_000
        self.u += int((value * factor).to_integral_value())


def parse_interval(text: str) -> tuple[int, int, int]:
    """(months, days, microseconds) of a PostgreSQL interval literal."""
    s = text.strip()
    acc = _Acc()
    iso = _ISO.match(s)
    if iso and s[:1] in "pP" and len(s) > 1:
        for key, unit in (("Y", "year"), ("M", "month"), ("W", "week"), ("D", "day"),
                          ("h", "hour"), ("mi", "minute"), ("s", "second")):
            if iso.group(key):
                acc.add(Decimal(iso.group(key)), unit)
        return acc.m, acc.d, acc.u
    pos, seen, ago = 0, False, False
    s = s.replace("@", " ", 1) if s.startswith("@") else s
    while pos < len(s):
        if not s[pos:].strip():
            break
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise _bad(text)
        pos = m.end()
        seen = True
        if m.group("ago"):
            ago = True
        elif m.group("clock"):
            clock = m.group("clock")
            sign = -1 if clock.startswith("-") else 1
            parts = clock.lstrip("+-").split(":")
            hours, minutes = int(parts[0]), int(parts[1])
            secs = Decimal(parts[2]) if len(parts) > 2 else Decimal(0)
            micros = (hours * 3600 + minutes * 60) * 1_000_000 + int(secs * 1_000_000)
            acc.u += sign * micros
        else:
            unit = _unit(m.group("unit")) if m.group("unit") else "second"
            if unit is None:
                raise _bad(text)
            acc.add(Decimal(m.group("num")), unit)
    if not seen:
        raise _bad(text)
    if ago:
        return -acc.m, -acc.d, -acc.u
    return acc.m, acc.d, acc.u


def duckdb_literal(text: str) -> str:
    """The same interval as text DuckDB reads exactly."""
    months, days, micros = parse_interval(text)
    return f"{months} months {days} days {micros} microseconds"
