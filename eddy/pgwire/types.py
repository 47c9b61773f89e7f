"""PostgreSQL type OIDs and the text/binary encodings of values on the wire."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import uuid
from decimal import Decimal, InvalidOperation

from eddy.sql import jsonb
from eddy.sql.intervals import Interval, format_interval, from_month_day_nano
from eddy.sql.sqltext import array_literal_items

# name -> (oid, typlen) for the types eddy speaks on the wire.
TYPES: dict[str, tuple[int, int]] = {
    "bool": (16, 1),
    "bytea": (17, -1),
    "char": (18, 1),
    "name": (19, 64),
    "int8": (20, 8),
    "int2": (21, 2),
    "int4": (23, 4),
    "regproc": (24, 4),
    "text": (25, -1),
    "oid": (26, 4),
    "json": (114, -1),
    "float4": (700, 4),
    "float8": (701, 8),
    "unknown": (705, -2),
    "bpchar": (1042, -1),
    "varchar": (1043, -1),
    "date": (1082, 4),
    "time": (1083, 8),
    "timestamp": (1114, 8),
    "timestamptz": (1184, 8),
    "interval": (1186, 16),
    "numeric": (1700, -1),
    "regclass": (2205, 4),
    "regtype": (2206, 4),
    "uuid": (2950, 16),
    "jsonb": (3802, -1),
    "int2vector": (22, -1),
    "oidvector": (30, -1),
    "_bool": (1000, -1),
    "_int2": (1005, -1),
    "_int4": (1007, -1),
    "_text": (1009, -1),
    "_varchar": (1015, -1),
    "_int8": (1016, -1),
    "_float8": (1022, -1),
    "_oid": (1028, -1),
    "_numeric": (1231, -1),
    "mz_timestamp": (16552, 8),
}
OIDS: dict[int, str] = {oid: name for name, (oid, _) in TYPES.items()}
ARRAY_ELEMENT: dict[int, int] = {
    1000: 16, 1005: 21, 1007: 23, 1009: 25, 1015: 1043, 1016: 20, 1022: 701, 1028: 26, 1231: 1700,
}


def type_size(oid: int) -> int:
    name = OIDS.get(oid)
    return TYPES[name][1] if name else -1


_INT_OIDS = {20, 21, 23, 26, 24, 2205, 2206}
_FLOAT_OIDS = {700, 701}
_JSON_OIDS = {114, 3802}
_PG_EPOCH = dt.datetime(2000, 1, 1)
_PG_EPOCH_TZ = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_PG_EPOCH_DATE = dt.date(2000, 1, 1)


# -------------------------------------------------------------------- text out


def _fmt_float(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    r = repr(v)
    return r[:-2] if r.endswith(".0") else r


def _fmt_interval(v: dt.timedelta) -> str:
    total = v.days * 86_400_000_000 + v.seconds * 1_000_000 + v.microseconds
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86_400_000_000)
    secs, micros = divmod(rest, 1_000_000)
    hours, secs = divmod(secs, 3600)
    mins, secs = divmod(secs, 60)
    parts = []
    if days:
        parts.append(f"{sign}{days} day{'s' if days != 1 else ''}")
    if rest or not days:
        clock = f"{hours:02d}:{mins:02d}:{secs:02d}"
        if micros:
            clock += f".{micros:06d}".rstrip("0")
        parts.append(f"{sign}{clock}")
    return " ".join(parts)


def _fmt_timestamp(v: dt.datetime, with_tz: bool) -> str:
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
        with_tz = True
    s = v.isoformat(sep=" ")
    if v.microsecond:                      # PostgreSQL drops trailing zeros: 10:10:10.41
        s = s.rstrip("0")
    return s + "+00" if with_tz else s


def _array_item(v: object) -> str:
    if v is None:
        return "NULL"
    s = text_value(v, 0)
    if s == "" or any(c in s for c in ' {},"\\') or s.upper() == "NULL":
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def text_value(v: object, oid: int) -> str:
    """The PostgreSQL text form of a Python value of the column type `oid`."""
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, Interval):
        return format_interval(v)
    if oid == 1186 and hasattr(v, "nanoseconds"):      # Arrow month_day_nano
        return format_interval(from_month_day_nano(v))
    if oid in _JSON_OIDS:
        return v if type(v) is str else jsonb.to_text(v)   # str: JSON text as DuckDB gave it
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _fmt_float(v)
    if isinstance(v, Decimal):
        return "NaN" if v.is_nan() else format(v, "f")
    if isinstance(v, str):
        return v
    if isinstance(v, dt.datetime):
        return _fmt_timestamp(v, oid == 1184)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        s = v.isoformat()
        return s.rstrip("0") if v.microsecond else s
    if isinstance(v, dt.timedelta):
        return _fmt_interval(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(v).hex()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "{" + ",".join(_array_item(x) for x in v) + "}"
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    return str(v)


def encode_text(v: object, oid: int) -> bytes | None:
    return None if v is None else text_value(v, oid).encode("utf-8")


# ------------------------------------------------------------------ binary out


def _numeric_binary(v: Decimal) -> bytes:
    if v.is_nan():
        return struct.pack("!hhHH", 0, 0, 0xC000, 0)
    sign, digits, exp = v.as_tuple()
    if exp > 0:
        digits, exp = digits + (0,) * exp, 0
    dscale = -exp
    s = "".join(map(str, digits)).zfill(dscale + 1)
    ipart, fpart = s[: len(s) - dscale], s[len(s) - dscale :]
    ipart = ipart.zfill((len(ipart) + 3) // 4 * 4)
    fpart = fpart.ljust((len(fpart) + 3) // 4 * 4, "0")
    groups = [int(ipart[i : i + 4]) for i in range(0, len(ipart), 4)]
    weight = len(groups) - 1
    groups += [int(fpart[i : i + 4]) for i in range(0, len(fpart), 4)]
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    flag = 0x4000 if sign else 0
    return struct.pack(f"!hhHH{len(groups)}H", len(groups), weight, flag, dscale, *groups)


def encode_binary(v: object, oid: int) -> bytes | None:
    """The PostgreSQL binary form of `v` for type `oid`; text form for other types."""
    if v is None:
        return None
    try:
        if oid == 16:
            return b"\x01" if v else b"\x00"
        if oid == 21:
            return struct.pack("!h", v)
        if oid in (23, 2205, 2206, 24):
            return struct.pack("!i", v)
        if oid == 26:
            return struct.pack("!I", v)
        if oid == 20:
            return struct.pack("!q", v)
        if oid == 700:
            return struct.pack("!f", v)
        if oid == 701:
            return struct.pack("!d", v)
        if oid == 1700:
            return _numeric_binary(v if isinstance(v, Decimal) else Decimal(str(v)))
        if oid == 1082:
            return struct.pack("!i", (v - _PG_EPOCH_DATE).days)
        if oid in (1114, 1184):
            delta = v - _PG_EPOCH_TZ if v.tzinfo is not None else v - _PG_EPOCH
            return struct.pack("!q", delta // dt.timedelta(microseconds=1))
        if oid == 1186 and hasattr(v, "nanoseconds"):
            v = from_month_day_nano(v)
        if oid == 1186 and isinstance(v, Interval):
            return struct.pack("!qii", v.micros, v.days, v.months)
        if oid == 1186:
            return struct.pack("!qii", v.seconds * 1_000_000 + v.microseconds, v.days, 0)
        if oid == 2950:
            return (v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))).bytes
        if oid == 3802:
            return b"\x01" + text_value(v, oid).encode("utf-8")
        if oid == 17:
            return bytes(v)
    except (struct.error, TypeError, ValueError, AttributeError, InvalidOperation) as e:
        raise ValueError(f"cannot encode {type(v).__name__} as binary {OIDS.get(oid, oid)}") from e
    return text_value(v, oid).encode("utf-8")


BINARY_OUT = {16, 17, 20, 21, 23, 24, 25, 26, 114, 700, 701, 1042, 1043, 1082, 1114, 1184,
              1186, 1700, 2205, 2206, 2950, 3802, 19}


# ------------------------------------------------------------------ params in


def _parse_timestamp(s: str) -> dt.datetime:
    s = s.strip().replace("T", " ")
    if s.endswith(("+00", "-00")) or (len(s) > 3 and s[-3] in "+-" and s[-2:].isdigit()):
        s += ":00"
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return dt.datetime.fromisoformat(s)


def _decode_numeric_binary(b: bytes) -> Decimal:
    ndigits, weight, sign, dscale = struct.unpack_from("!hhHH", b)
    if sign == 0xC000:
        return Decimal("NaN")
    digits = struct.unpack_from(f"!{ndigits}H", b, 8)
    value = Decimal(0)
    for i, d in enumerate(digits):
        value += Decimal(d).scaleb(4 * (weight - i))
    value = -value if sign == 0x4000 else value
    return value.quantize(Decimal(1).scaleb(-dscale)) if dscale else value


def _binary_array(raw: bytes) -> list:
    ndim, _flags, elem = struct.unpack("!iiI", raw[:12])
    if ndim == 0:
        return []
    if ndim > 1:
        raise ValueError("multidimensional array parameters are not supported")
    (n, _lower), pos, out = struct.unpack("!ii", raw[12:20]), 20, []
    for _ in range(n):
        (size,) = struct.unpack("!i", raw[pos:pos + 4])
        pos += 4
        out.append(None if size < 0 else decode_param(raw[pos:pos + size], elem, True))
        pos += max(size, 0)
    return out


def decode_param(raw: bytes, oid: int, binary: bool) -> object:
    """A bound parameter value as Python; unknown and text types stay str; arrays of the
    types in ARRAY_ELEMENT become lists (`x = ANY(%s)` with a Python list)."""
    if oid in ARRAY_ELEMENT:
        if binary:
            return _binary_array(raw)
        elem = ARRAY_ELEMENT[oid]
        return [None if v is None else decode_param(v.encode("utf-8"), elem, False)
                for v in array_literal_items(raw.decode("utf-8"))]
    if binary:
        if oid == 16:
            return raw != b"\x00"
        if oid == 21:
            return struct.unpack("!h", raw)[0]
        if oid in (23, 26):
            return struct.unpack("!i", raw)[0]
        if oid == 20:
            return struct.unpack("!q", raw)[0]
        if oid == 700:
            return struct.unpack("!f", raw)[0]
        if oid == 701:
            return struct.unpack("!d", raw)[0]
        if oid == 1700:
            return _decode_numeric_binary(raw)
        if oid == 1082:
            return _PG_EPOCH_DATE + dt.timedelta(days=struct.unpack("!i", raw)[0])
        if oid in (1114, 1184):
            us = struct.unpack("!q", raw)[0]
            return (_PG_EPOCH_TZ if oid == 1184 else _PG_EPOCH) + dt.timedelta(microseconds=us)
        if oid == 1186:
            us, days, months = struct.unpack("!qii", raw)
            return dt.timedelta(days=days + 30 * months, microseconds=us)
        if oid == 2950:
            return uuid.UUID(bytes=raw)
        if oid == 3802:
            return raw[1:].decode("utf-8")
        if oid == 17:
            return raw
        return raw.decode("utf-8")
    s = raw.decode("utf-8")
    if oid == 16:
        return s.strip().lower() in ("t", "true", "1", "on", "yes", "y")
    if oid in (20, 21, 23, 26):
        return int(s)
    if oid in _FLOAT_OIDS:
        return float(s)
    if oid == 1700:
        return Decimal(s)
    if oid == 1082:
        return dt.date.fromisoformat(s.strip())
    if oid in (1114, 1184):
        return _parse_timestamp(s)
    if oid == 2950:
        return uuid.UUID(s)
    return s
