"""A small tokenizer and cursor for the option lists of connector statements.

sqlglot does not parse `CREATE CONNECTION ... TO KAFKA (...)` or the body of `CREATE SOURCE ...
FROM KAFKA`; the connector bodies are short, so a hand-written recursive-descent parser over
these tokens is enough. Keywords are case-insensitive; identifiers may be double-quoted;
strings are single-quoted with `''` as the escaped quote (and `E'...'` is not supported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eddy.errors import EddyError

SYNTAX = "42601"

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*)
  | (?P<string>'(?:[^']|'')*')
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<punct>[(),=.;])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # "string" | "ident" | "word" | "number" | "punct"
    text: str  # the value: unquoted string, identifier, upper-cased word, number, punctuation
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens; an unterminated quote or stray character is a 42601 error."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise EddyError(SYNTAX, f"syntax error at or near {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        raw = m.group()
        if kind == "string":
            tokens.append(Token("string", raw[1:-1].replace("''", "'"), pos))
        elif kind == "qident":
            tokens.append(Token("ident", raw[1:-1].replace('""', '"'), pos))
        elif kind == "word":
            tokens.append(Token("word", raw.upper(), pos))
        elif kind in ("number", "punct"):
            tokens.append(Token(kind, raw, pos))
        pos = m.end()
    return tokens


class Cursor:
    """Walks a token list; `accept*` try and return None, `expect*` raise 42601."""

    def __init__(self, text: str, what: str):
        self.text = text
        self.what = what
        self.tokens = tokenize(text)
        self.i = 0

    # -- looking --------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def at_end(self) -> bool:
        tok = self.peek()
        return tok is None or (tok.kind == "punct" and tok.text == ";" and self.i == len(self.tokens) - 1)

    def at_word(self, *words: str) -> bool:
        """True when the next tokens are exactly these keywords."""
        for k, w in enumerate(words):
            tok = self.peek(k)
            if tok is None or tok.kind != "word" or tok.text != w:
                return False
        return True

    def at_punct(self, p: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "punct" and tok.text == p

    def near(self) -> str:
        tok = self.peek()
        if tok is None:
            return "end of input"
        return f'"{self.text[tok.pos:tok.pos + 20].split()[0]}"'

    def error(self, expected: str) -> EddyError:
        return EddyError(SYNTAX, f"{self.what}: expected {expected}, found {self.near()}")

    # -- consuming ------------------------------------------------------------------------
    def accept_word(self, *words: str) -> bool:
        if self.at_word(*words):
            self.i += len(words)
            return True
        return False

    def expect_word(self, *words: str) -> None:
        if not self.accept_word(*words):
            raise self.error(" ".join(words))

    def accept_punct(self, p: str) -> bool:
        if self.at_punct(p):
            self.i += 1
            return True
        return False

    def expect_punct(self, p: str) -> None:
        if not self.accept_punct(p):
            raise self.error(repr(p))

    def next_word(self, expected: str = "a keyword") -> str:
        tok = self.peek()
        if tok is None or tok.kind != "word":
            raise self.error(expected)
        self.i += 1
        return tok.text

    def expect_string(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind != "string":
            raise self.error("a quoted string")
        self.i += 1
        return tok.text

    def expect_int(self) -> int:
        tok = self.peek()
        if tok is None or tok.kind != "number" or "." in tok.text:
            raise self.error("an integer")
        self.i += 1
        return int(tok.text)

    def expect_name(self) -> str:
        """An object name, possibly qualified (`db.schema.name`); bare words fold to lower case."""
        parts = [self._name_part()]
        while self.accept_punct("."):
            parts.append(self._name_part())
        return ".".join(parts)

    def _name_part(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind not in ("word", "ident"):
            raise self.error("a name")
        self.i += 1
        return tok.text.lower() if tok.kind == "word" else tok.text

    def expect_value(self) -> str | int | bool:
        """An option value: a string, an integer, TRUE/FALSE, or a bare word (upper-cased)."""
        tok = self.peek()
        if tok is None or tok.kind == "punct":
            raise self.error("a value")
        self.i += 1
        if tok.kind == "number":
            return int(tok.text) if "." not in tok.text else tok.text
        if tok.kind == "word" and tok.text in ("TRUE", "FALSE"):
            return tok.text == "TRUE"
        return tok.text

    def expect_end(self) -> None:
        self.accept_punct(";")
        if self.peek() is not None:
            raise self.error("end of statement")

    def option_name(self, known: tuple[str, ...]) -> str:
        """The longest known multi-word option name here (`SASL MECHANISMS`), or, for an
        unknown one, its words up to the value (so the caller can name it in the error)."""
        for name in sorted(known, key=lambda n: -len(n.split())):
            if self.accept_word(*name.split()):
                return name
        words: list[str] = []
        while (tok := self.peek()) is not None and tok.kind == "word":
            words.append(tok.text)
            self.i += 1
        if not words:
            raise self.error("an option name")
        return " ".join(words)
