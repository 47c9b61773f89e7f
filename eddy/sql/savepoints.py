"""SAVEPOINT, RELEASE [SAVEPOINT] and ROLLBACK TO [SAVEPOINT] with PostgreSQL's semantics.

Clients use them without asking: psycopg's nested `conn.transaction()` and its type lookup
inside a transaction SQLAlchemy opened, SQLAlchemy's `begin_nested()`. A savepoint remembers
the transaction's mode and how many of its writes were queued; ROLLBACK TO drops the writes
queued since (they are applied only at COMMIT, so dropping them is exact) and keeps the
savepoint, RELEASE forgets it and every later one. Reads have nothing to undo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eddy.errors import EddyError
from eddy.sql.sqltext import strip_comments, unquote_ident

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9$]*)'
_FORMS = (
    ("savepoint", re.compile(rf"^SAVEPOINT\s+(?P<name>{_IDENT})$", re.I)),
    ("release", re.compile(rf"^RELEASE\s+(?:SAVEPOINT\s+)?(?P<name>{_IDENT})$", re.I)),
    ("rollback_to", re.compile(
        rf"^ROLLBACK\s+(?:WORK\s+|TRANSACTION\s+)?TO\s+(?:SAVEPOINT\s+)?(?P<name>{_IDENT})$",
        re.I)),
)
_HEAD = re.compile(r"^(SAVEPOINT|RELEASE|ROLLBACK\s+(?:WORK\s+|TRANSACTION\s+)?TO)\b", re.I)
_WORDS = {"savepoint": "SAVEPOINT", "release": "RELEASE SAVEPOINT",
          "rollback_to": "ROLLBACK TO SAVEPOINT"}
TAGS = {"savepoint": "SAVEPOINT", "release": "RELEASE", "rollback_to": "ROLLBACK"}


def match(text: str) -> tuple[str, str] | None:
    """(verb, savepoint name) if `text` is one of the three statements, else None;
    a malformed one is a syntax error."""
    t = strip_comments(text).strip().rstrip(";").strip()
    if not _HEAD.match(t):
        return None
    for verb, pattern in _FORMS:
        if m := pattern.match(t):
            return verb, unquote_ident(m.group("name"))
    raise EddyError("42601", f"syntax error in {_HEAD.match(t).group(1).upper()}")


def outside_block(verb: str) -> EddyError:
    return EddyError("25P01", f"{_WORDS[verb]} can only be used in transaction blocks")


@dataclass
class Mark:
    name: str
    mode: str | None     # the session's transaction mode when the savepoint was set
    writes: int          # how many writes the transaction had queued then


class Savepoints:
    """The savepoints of one transaction, oldest first."""

    def __init__(self) -> None:
        self.marks: list[Mark] = []

    def clear(self) -> None:
        self.marks.clear()

    def set(self, name: str, mode: str | None, writes: int) -> None:
        self.marks.append(Mark(name, mode, writes))

    def _find(self, name: str) -> int:
        for i in range(len(self.marks) - 1, -1, -1):   # the newest of that name
            if self.marks[i].name == name:
                return i
        raise EddyError("3B001", f'savepoint "{name}" does not exist')

    def release(self, name: str) -> None:
        del self.marks[self._find(name):]

    def rollback_to(self, name: str) -> Mark:
        i = self._find(name)
        del self.marks[i + 1:]
        return self.marks[i]
