"""Errors the engine reports to clients, each with a PostgreSQL SQLSTATE."""

from __future__ import annotations

import re


class EddyError(Exception):
    """An error with a SQLSTATE, reported to the client as an ErrorResponse."""

    def __init__(self, sqlstate: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail


def unsupported(construct: str) -> EddyError:
    """SQLSTATE 0A000 naming the construct that is not supported."""
    return EddyError("0A000", f"{construct} not supported")


# DuckDB's texts: "NOT NULL constraint failed: u4.pk1" names the storage table, not the user's;
# "Scalar Function with name f does not exist!" is PostgreSQL's 42883, not 42P01
_NOT_NULL = re.compile(r"NOT NULL constraint failed: (?:[\w$]+\.)?\"?(.+?)\"?\s*$", re.I | re.M)
_NO_FUNCTION = re.compile(r"(?:Scalar|Table|Aggregate|Pragma|Macro)? ?Function with name "
                          r"\"?([^\s\"]+?)\"? does not exist", re.I)


def as_eddy_error(e: Exception) -> EddyError:
    """DuckDB errors become query errors with a PostgreSQL SQLSTATE."""
    if isinstance(e, EddyError):
        return e
    text = str(e)
    from eddy.sql.error_text import materialize_error  # DuckDB's wording as Materialize's
    if (known := materialize_error(text)) is not None:
        return EddyError(*known)
    low = text.lower()
    if "more than one row returned by a subquery" in low:
        return EddyError("21000", "more than one row returned by a subquery used as an "
                         "expression")
    if "division by zero" in low:
        return EddyError("22012", "division by zero")
    if "conversion error" in low or "could not convert" in low or "invalid input" in low:
        return EddyError("22P02", text.split("\n")[0])
    if "out of range" in low or "overflow" in low:
        return EddyError("22003", text.split("\n")[0])
    if "not null constraint" in low:
        column = _NOT_NULL.search(text)
        return EddyError("23502", f'null value in column "{column.group(1)}" violates not-null '
                         "constraint" if column else text.split("\n")[0])
    if (fn := _NO_FUNCTION.search(text)) is not None:
        return EddyError("42883", f"function {fn.group(1)}() does not exist")
    if "does not exist" in low or "not found" in low:
        return EddyError("42P01", text.split("\n")[0])
    if "parser error" in low or "syntax" in low:
        return EddyError("42601", text.split("\n")[0])
    if "binder error" in low:
        return EddyError("42703", text.split("\n")[0])
    return EddyError("XX000", text.split("\n")[0])
