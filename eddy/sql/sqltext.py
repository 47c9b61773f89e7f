"""Lexical helpers over SQL text: split a query string into statements, read leading words.

Shared by the engine's session (statement boundaries) and the protocol layer, which also
recognises the few statements it runs itself (transactions, cursors, COPY TO STDOUT).
"""

from __future__ import annotations

import re

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def _skip_quoted(sql: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the closing quote of the literal that starts at sql[i]."""
    n = len(sql)
    i += 1
    while i < n:
        c = sql[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip(sql: str, i: int) -> int | None:
    """If a literal, quoted identifier or comment starts at sql[i], the index just past it."""
    c = sql[i]
    n = len(sql)
    if c == "'":
        escape = i > 0 and sql[i - 1] in "eE" and (i < 2 or not sql[i - 2].isalnum())
        return _skip_quoted(sql, i, "'", escape)
    if c == '"':
        return _skip_quoted(sql, i, '"', False)
    if c == "-" and sql.startswith("--", i):
        j = sql.find("\n", i)
        return n if j < 0 else j + 1
    if c == "/" and sql.startswith("/*", i):
        depth, i = 1, i + 2
        while i < n and depth:
            if sql.startswith("/*", i):
                depth, i = depth + 1, i + 2
            elif sql.startswith("*/", i):
                depth, i = depth - 1, i + 2
            else:
                i += 1
        return i
    if c == "$" and (m := _DOLLAR.match(sql, i)) and (i == 0 or not sql[i - 1].isalnum()):
        end = sql.find(m.group(0), m.end())
        return n if end < 0 else end + len(m.group(0))
    return None


def split_statements(sql: str) -> list[str]:
    """The non-empty statements of `sql`, split on semicolons outside literals and comments."""
    out: list[str] = []
    start = 0
    i = 0
    n = len(sql)
    while i < n:
        if (j := _skip(sql, i)) is not None:
            i = j
        elif sql[i] == ";":
            out.append(sql[start:i])
            start = i = i + 1
        else:
            i += 1
    out.append(sql[start:])
    return [s.strip() for s in out if strip_comments(s).strip()]


_PARAM = re.compile(r"\$\d+")


def separate_parameters(sql: str) -> str:
    """`$1,$2` as `$1 ,$2`: a parameter followed at once by other text (psycopg writes
    `VALUES ($1,$2)`) is otherwise read as the start of a `$tag$` string by the parser."""
    if "$" not in sql:
        return sql
    out, i, n, last = [], 0, len(sql), 0
    while i < n:
        if (j := _skip(sql, i)) is not None:
            i = j
        elif sql[i] == "$" and (m := _PARAM.match(sql, i)) and \
                (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            i = m.end()
            if i < n and not sql[i].isspace():
                out.append(sql[last:i] + " ")
                last = i
        else:
            i += 1
    return "".join(out) + sql[last:]


def strip_comments(sql: str) -> str:
    """`sql` without leading comments and whitespace."""
    while True:
        s = sql.lstrip()
        if s.startswith("--"):
            j = s.find("\n")
            sql = "" if j < 0 else s[j + 1 :]
        elif s.startswith("/*"):
            j = s.find("*/")
            sql = "" if j < 0 else s[j + 2 :]
        else:
            return s


_WORD = re.compile(r"[A-Za-z_]+")


def leading_words(sql: str, n: int = 3) -> list[str]:
    """The first `n` keywords of a statement, upper-cased (comments and parentheses skipped)."""
    s = strip_comments(sql).lstrip("( \t\r\n")
    words = []
    for m in _WORD.finditer(s):
        words.append(m.group(0).upper())
        if len(words) == n:
            break
    return words


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9$]*)'


def unquote_ident(name: str) -> str:
    """An identifier as SQL means it: quoted names keep case, others fold to lower case."""
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name.lower()


DECLARE = re.compile(
    rf"^DECLARE\s+(?P<name>{_IDENT})\s+(?:BINARY\s+)?(?:(?:NO\s+)?SCROLL\s+)?CURSOR\s+"
    rf"(?:(?:WITH|WITHOUT)\s+HOLD\s+)?FOR\s+(?P<query>.*)$",
    re.IGNORECASE | re.DOTALL,
)
FETCH = re.compile(
    rf"^FETCH\s+(?:(?:FORWARD\s+)?(?P<count>\d+|ALL)\s+|FORWARD\s+|NEXT\s+)?"
    rf"(?:(?:FROM|IN)\s+)?(?P<name>{_IDENT})"
    r"(?:\s+WITH\s*\(\s*TIMEOUT\s*(?:=\s*)?(?:'(?P<timeout>[^']*)'|(?P<tnum>[\d.]+))\s*\))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
CLOSE = re.compile(rf"^CLOSE\s+(?P<name>ALL|{_IDENT})\s*$", re.IGNORECASE)
COPY_TO = re.compile(
    rf"^COPY\s+(?:\((?P<query>.*)\)|(?P<table>{_IDENT}(?:\.{_IDENT}){{0,2}})"
    rf"(?:\s*\((?P<cols>[^)]*)\))?)\s+TO\s+STDOUT(?P<options>.*)$",
    re.IGNORECASE | re.DOTALL,
)

COPY_FORMAT = re.compile(r"\bFORMAT\s*(?:=\s*)?'?(\w+)", re.IGNORECASE)
IDENT_LIST = re.compile(rf"^\s*{_IDENT}(?:\s*,\s*{_IDENT})*\s*$")

_DURATION = re.compile(r"^\s*([\d.]+)\s*(ms|s|m|min|h)?\s*$", re.IGNORECASE)
_UNIT = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Materialize duration such as '1s', '250ms' or '0'."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"invalid duration: {text!r}")
    unit = m.group(2).lower() if m.group(2) else None
    return float(m.group(1)) * _UNIT[unit]


def array_literal_items(s: str) -> list[str | None]:
    """The elements of a one-dimensional array literal `{1,NULL,"a,b"}` (NULL as None)."""
    s = s.strip()
    if not (s.startswith("{") and s.endswith("}")):
        raise ValueError(f'malformed array literal: "{s}"')
    body, items, i = s[1:-1], [], 0
    while i < len(body):
        if body[i] == "{":
            raise ValueError("multidimensional array parameters are not supported")
        if body[i] == '"':
            j, out = i + 1, []
            while j < len(body) and body[j] != '"':
                if body[j] == "\\":
                    j += 1
                out.append(body[j])
                j += 1
            items.append("".join(out))
            i = j + 1
        else:
            j = body.find(",", i)
            j = len(body) if j < 0 else j
            word = body[i:j].strip()
            items.append(None if word.upper() == "NULL" else word)
            i = j
        if i < len(body) and body[i] == ",":
            i += 1
    return items
