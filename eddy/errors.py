"""Errors the engine reports to clients, each with a PostgreSQL SQLSTATE."""

from __future__ import annotations


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
