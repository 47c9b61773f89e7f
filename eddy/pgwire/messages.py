"""Backend message building on top of pygwire's codec, and frontend message reading."""

from __future__ import annotations

import asyncio
import struct

from pygwire.constants import ConnectionPhase, MessageDirection
from pygwire.messages import (
    STANDARD_REGISTRY,
    STARTUP_REGISTRY,
    ErrorResponse,
    FieldDescription,
    NoticeResponse,
    PGMessage,
    RowDescription,
)

from eddy.pgwire import types

_LEN = struct.Struct("!I")
MAX_STARTUP = 10_000


class ProtocolViolation(Exception):
    """The client broke the protocol; the connection is answered with 08P01 and closed."""

    def __init__(self, message: str, sqlstate: str = "08P01"):
        super().__init__(message)
        self.sqlstate = sqlstate


class Oversized(Exception):
    """A message over the size limit was skipped; the client gets SQLSTATE 54000."""

    def __init__(self, ident: bytes, message: str):
        super().__init__(message)
        self.ident = ident
        self.sqlstate = "54000"


DRAIN_LIMIT = 256 * 1024 * 1024      # larger claims are not read: the connection is closed


def _decode(cls: type[PGMessage], payload: bytes) -> PGMessage:
    try:
        return cls.decode(memoryview(payload))
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as e:
        raise ProtocolViolation(f"invalid {cls.__name__} message: {e}") from None
    except Exception as e:  # pygwire's DecodingError and friends
        raise ProtocolViolation(f"invalid {cls.__name__} message: {e}") from None


async def read_startup(reader: asyncio.StreamReader) -> PGMessage:
    """One identifier-less startup-phase message (StartupMessage, SSLRequest, ...)."""
    (length,) = _LEN.unpack(await reader.readexactly(4))
    if length < 8 or length > MAX_STARTUP:
        raise ProtocolViolation(f"invalid startup packet length {length}")
    payload = await reader.readexactly(length - 4)
    (code,) = _LEN.unpack_from(payload)
    cls = STARTUP_REGISTRY.lookup(code)
    if cls is None:
        raise ProtocolViolation(f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}")
    return _decode(cls, payload)


async def read_message(reader: asyncio.StreamReader, phase: ConnectionPhase,
                       max_size: int) -> PGMessage:
    """One standard frontend message; ProtocolViolation when malformed or oversized."""
    header = await reader.readexactly(5)
    ident = header[:1]
    (length,) = _LEN.unpack_from(header, 1)
    if length < 4:
        raise ProtocolViolation(f"invalid message length {length}")
    if length - 4 > max_size:
        if length - 4 > DRAIN_LIMIT:
            raise ProtocolViolation(
                f"message of {length - 4} bytes exceeds the limit of {max_size} bytes", "54000")
        remaining = length - 4
        while remaining:                      # skip it; the session stays usable
            chunk = await reader.read(min(remaining, 1 << 20))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(chunk)
        raise Oversized(ident, f"message of {length - 4} bytes exceeds the limit of "
                               f"{max_size} bytes")
    payload = await reader.readexactly(length - 4)
    cls = STANDARD_REGISTRY.lookup(ident, phase, MessageDirection.FRONTEND)
    if cls is None:
        raise ProtocolViolation(f"invalid frontend message type {ident!r}")
    return _decode(cls, payload)


def error_response(sqlstate: str, message: str, detail: str | None = None,
                   severity: str = "ERROR") -> bytes:
    fields = {"S": severity, "V": severity, "C": sqlstate, "M": message}
    if detail:
        fields["D"] = detail
    return ErrorResponse(fields=fields).to_wire()


def notice_response(message: str, sqlstate: str = "00000") -> bytes:
    return NoticeResponse(fields={"S": "NOTICE", "V": "NOTICE", "C": sqlstate,
                                  "M": message}).to_wire()


def row_description(columns, formats: list[int]) -> bytes:
    fields = [
        FieldDescription(name=c.name, table_oid=0, column_attr=0, type_oid=c.type_oid,
                         type_size=types.type_size(c.type_oid), type_modifier=-1,
                         format_code=formats[i])
        for i, c in enumerate(columns)
    ]
    return RowDescription(fields=fields).to_wire()


def column_formats(result_formats: list[int], ncols: int) -> list[int]:
    """Per-column format codes from a Bind message's result format list."""
    if not result_formats:
        return [0] * ncols
    if len(result_formats) == 1:
        return result_formats * ncols
    if len(result_formats) != ncols:
        raise ProtocolViolation(
            f"bind message has {len(result_formats)} result formats but query has {ncols} columns")
    return list(result_formats)


def _text_encoder(oid: int):
    if oid in (20, 21, 23, 26):
        return lambda v: str(v).encode() if type(v) is int else types.encode_text(v, oid)
    if oid in (25, 1043, 19, 1042):
        return lambda v: v.encode() if type(v) is str else types.encode_text(v, oid)
    return lambda v: types.encode_text(v, oid)


_BINARY_INT = {20: struct.Struct("!q").pack, 21: struct.Struct("!h").pack,
               23: struct.Struct("!i").pack, 701: struct.Struct("!d").pack}


def _encoder(oid: int, fmt: int):
    if not fmt:
        return _text_encoder(oid)
    if oid in _BINARY_INT:
        return _BINARY_INT[oid]
    return lambda v: types.encode_binary(v, oid)


_NULL = b"\xff\xff\xff\xff"


def data_rows(rows, oids: list[int], formats: list[int]) -> bytes:
    """DataRow messages for `rows` in the given per-column formats."""
    encoders = [_encoder(oid, fmt) for oid, fmt in zip(oids, formats, strict=True)]
    head = b"D\x00\x00\x00\x00" + len(encoders).to_bytes(2, "big")
    out = bytearray()
    for row in rows:
        start = len(out)
        out += head
        for v, enc in zip(row, encoders, strict=False):
            if v is None:
                out += _NULL
            else:
                b = enc(v)
                out += len(b).to_bytes(4, "big")
                out += b
        struct.pack_into("!I", out, start + 1, len(out) - start - 1)
    return bytes(out)


def copy_text_line(row, oids: list[int]) -> bytes:
    """One row in COPY text format (tab separated, \\N for NULL, backslash escapes)."""
    cells = []
    for v, oid in zip(row, oids, strict=False):
        if v is None:
            cells.append("\\N")
        else:
            s = types.text_value(v, oid)
            cells.append(s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                         .replace("\r", "\\r"))
    return ("\t".join(cells) + "\n").encode("utf-8")
