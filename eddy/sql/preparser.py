"""Pre-parser: recognizes Materialize-only syntax sqlglot cannot parse."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from eddy.errors import EddyError

_NAME_PART = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
NAME = rf"{_NAME_PART}(?:\s*\.\s*{_NAME_PART})*"


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", "", sql)
    return re.sub(r"/\*.*?\*/", "", sql, flags=re.S)


def parse_name(text: str) -> list[str]:
    """`a."B".c` -> ['a', 'B', 'c'] (unquoted parts fold to lower case)."""
    parts = re.findall(_NAME_PART, text)
    return [p[1:-1].replace('""', '"') if p.startswith('"') else p.lower() for p in parts]


@dataclass
class Statement:
    """A recognized statement: kind plus named pieces; `text` is the whole statement."""

    kind: str
    text: str
    parts: dict = field(default_factory=dict)


def _m(pattern: str, text: str):
    return re.match(pattern, text, re.I | re.S)


def _with_options(text: str) -> tuple[dict, str]:
    """Leading `WITH (k = v, ...)` options; returns (options, rest)."""
    m = _m(r"\s*WITH\s*\(", text)
    if not m:
        return {}, text
    depth, i = 1, m.end()
    while i < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    opts = {}
    for item in re.split(r",(?![^()]*\))", text[m.end():i - 1]):
        if item.strip():
            key, _, value = item.partition("=")
            opts[key.strip().lower()] = value.strip().strip("'") or True
    return opts, text[i:]


def classify(text: str) -> Statement:
    """Recognize the statement kind; Materialize-only forms get their pieces extracted."""
    t = _strip_comments(text).strip()
    head = " ".join(t.split()[:4]).upper()
    if m := _m(rf"CREATE\s+(OR\s+REPLACE\s+)?MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?({NAME})"
               rf"\s*(\((?:[^()]*)\))?(.*)$", t):
        rest = m.group(5)
        cluster = None
        if c := _m(rf"\s*IN\s+CLUSTER\s+({NAME})(.*)$", rest):
            cluster, rest = parse_name(c.group(1))[-1], c.group(2)
        opts, rest = _with_options(rest)
        a = _m(r"\s*AS\s+(.*)$", rest)
        if not a:
            raise EddyError("42601", "syntax error in CREATE MATERIALIZED VIEW: expected AS")
        return Statement("create_view", text, {
            "materialized": True, "replace": bool(m.group(1)), "if_not_exists": bool(m.group(2)),
            "name": parse_name(m.group(3)), "cluster": cluster, "options": opts,
            "column_names": [p for p in parse_name(m.group(4) or "")],
            "query": a.group(1)})
    if m := _m(rf"CREATE\s+(OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?VIEW\s+(IF\s+NOT\s+EXISTS\s+)?"
               rf"({NAME})\s*(\((?:[^()]*)\))?\s*AS\s+(.*)$", t):
        return Statement("create_view", text, {
            "materialized": False, "replace": bool(m.group(1)), "if_not_exists": bool(m.group(2)),
            "name": parse_name(m.group(3)), "cluster": None, "options": {},
            "column_names": parse_name(m.group(4) or ""), "query": m.group(5)})
    if m := _m(rf"CREATE\s+(DEFAULT\s+)?INDEX\s+(IF\s+NOT\s+EXISTS\s+)?(?:(?!IN\s+CLUSTER\b|ON\b)({NAME}))?"
               rf"\s*(?:IN\s+CLUSTER\s+({NAME}))?\s*ON\s+({NAME})\s*(?:USING\s+\w+\s*)?"
               rf"(\((.*)\))?\s*(WITH\s*\(.*\))?\s*$", t):
        keys = None if m.group(1) or not m.group(6) else [k.strip() for k in _split_top(m.group(7))]
        return Statement("create_index", text, {
            "default": bool(m.group(1)), "if_not_exists": bool(m.group(2)),
            "name": parse_name(m.group(3)) if m.group(3) else None,
            "cluster": parse_name(m.group(4))[-1] if m.group(4) else None,
            "on": parse_name(m.group(5)), "keys": keys})
    if m := _m(rf"CREATE\s+(CLUSTER|SCHEMA|DATABASE|ROLE|SECRET|CLUSTER\s+REPLICA)\s+"
               rf"(IF\s+NOT\s+EXISTS\s+)?({NAME})(.*)$", t):
        kind = " ".join(m.group(1).lower().split())
        return Statement("create_" + kind.replace(" ", "_"), text, {
            "if_not_exists": bool(m.group(2)), "name": parse_name(m.group(3)),
            "rest": m.group(4).strip()})
    if m := _m(rf"CREATE\s+CONNECTION\s+(IF\s+NOT\s+EXISTS\s+)?({NAME})\s+(?:TO|FOR)\s+(\w+)\s*(.*)$", t):
        return Statement("create_connection", text, {
            "if_not_exists": bool(m.group(1)), "name": parse_name(m.group(2)),
            "connector": m.group(3).lower(), "body": m.group(4).strip()})
    if m := _m(rf"CREATE\s+SOURCE\s+(IF\s+NOT\s+EXISTS\s+)?({NAME})\s*(?:IN\s+CLUSTER\s+({NAME})\s*)?"
               rf"FROM\s+(\w+)\s+(.*)$", t):
        return Statement("create_source", text, {
            "if_not_exists": bool(m.group(1)), "name": parse_name(m.group(2)),
            "cluster": parse_name(m.group(3))[-1] if m.group(3) else None,
            "connector": m.group(4).lower(), "body": m.group(5).strip()})
    if m := _m(rf"CREATE\s+SINK\s+(IF\s+NOT\s+EXISTS\s+)?({NAME})\s*(?:IN\s+CLUSTER\s+({NAME})\s*)?"
               rf"FROM\s+({NAME})\s+INTO\s+(\w+)\s+(.*)$", t):
        return Statement("create_sink", text, {
            "if_not_exists": bool(m.group(1)), "name": parse_name(m.group(2)),
            "cluster": parse_name(m.group(3))[-1] if m.group(3) else None,
            "from": parse_name(m.group(4)), "connector": m.group(5).lower(),
            "body": m.group(6).strip()})
    if m := _m(r"SUBSCRIBE\s+(?:TO\s+)?(.*)$", t):
        return Statement("subscribe", text, {"rest": m.group(1)})
    if m := _m(rf"ALTER\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|INDEX|SOURCE|SINK|CONNECTION|SECRET|"
               rf"CLUSTER|SCHEMA|DATABASE)\s+(IF\s+EXISTS\s+)?({NAME})\s+(.*)$", t):
        kind = " ".join(m.group(1).lower().split())
        action = m.group(4).strip()
        parts = {"object_kind": kind, "if_exists": bool(m.group(2)), "name": parse_name(m.group(3))}
        if r := _m(rf"RENAME\s+TO\s+({NAME})\s*$", action):
            return Statement("alter_rename", text, {**parts, "new": parse_name(r.group(1))})
        if r := _m(rf"SWAP\s+WITH\s+({NAME})\s*$", action):
            return Statement("alter_swap", text, {**parts, "other": parse_name(r.group(1))})
        return Statement("alter_other", text, {**parts, "action": action})
    if m := _m(r"DROP\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|INDEX|SOURCE|SINK|CONNECTION|SECRET|"
               r"CLUSTER\s+REPLICA|CLUSTER|SCHEMA|DATABASE|ROLE|TYPE)\s+(IF\s+EXISTS\s+)?"
               r"(.*?)\s*(CASCADE|RESTRICT)?\s*$", t):
        names = [parse_name(n) for n in _split_top(m.group(3))]
        return Statement("drop", text, {
            "object_kind": " ".join(m.group(1).lower().split()), "if_exists": bool(m.group(2)),
            "names": names, "cascade": (m.group(4) or "").upper() == "CASCADE"})
    if m := _m(r"COMMENT\s+ON\s+(COLUMN|TABLE|VIEW|MATERIALIZED\s+VIEW|SOURCE|SINK|INDEX|CONNECTION|"
               rf"SECRET|CLUSTER|SCHEMA|DATABASE)\s+({NAME})\s+IS\s+(NULL|'(?:[^']|'')*')\s*$", t):
        comment = None if m.group(3).upper() == "NULL" else m.group(3)[1:-1].replace("''", "'")
        return Statement("comment", text, {
            "object_kind": " ".join(m.group(1).lower().split()), "name": parse_name(m.group(2)),
            "comment": comment})
    if head.startswith("SHOW CREATE"):
        m = _m(rf"SHOW\s+CREATE\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|INDEX|SOURCE|SINK|CONNECTION)\s+"
               rf"({NAME})\s*$", t)
        if not m:
            raise EddyError("42601", "syntax error in SHOW CREATE")
        return Statement("show_create", text, {
            "object_kind": " ".join(m.group(1).lower().split()), "name": parse_name(m.group(2))})
    if m := _m(r"SHOW\s+(.*)$", t):
        return Statement("show", text, {"rest": m.group(1).strip()})
    if m := _m(r"EXPLAIN\s+(.*)$", t):
        return Statement("explain", text, {"rest": m.group(1)})
    if m := _m(r"(SET|RESET)\s+(.*)$", t):
        return Statement(m.group(1).lower(), text, {"rest": m.group(2).strip()})
    if _m(r"(BEGIN|START\s+TRANSACTION)\b", t):
        return Statement("begin", text)
    if _m(r"(COMMIT|END)\b", t):
        return Statement("commit", text)
    if _m(r"(ROLLBACK|ABORT)\b", t):
        return Statement("rollback", text)
    if _m(r"(DECLARE|FETCH|CLOSE|DISCARD|DEALLOCATE|PREPARE|EXECUTE)\b", t):
        return Statement(t.split()[0].lower(), text)
    return Statement("sql", text)


def _split_top(text: str) -> list[str]:
    """Split on commas not inside parentheses or quotes."""
    out, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out
