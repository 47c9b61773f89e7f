"""SHOW, SHOW CREATE and EXPLAIN."""

from __future__ import annotations

import re

from sqlglot import exp

from eddy.errors import EddyError
from eddy.results import Column, Result
from eddy.sql.plan_explain import explain_lines
from eddy.sql.preparser import parse_name

TEXT = 25


def _rows(names: list[str], rows: list[tuple]) -> Result:
    return Result(f"SELECT {len(rows)}", [Column(n, TEXT, "text") for n in names], rows)


def _in_schema(session, rest: str):
    """(database, schema) named by FROM/IN in a SHOW statement, else the current one."""
    m = re.search(r"\b(?:FROM|IN)\s+([\w\".]+)", rest, re.I)
    if m and not re.match(r"\s*CLUSTER", rest[m.start():].split(None, 1)[-1], re.I):
        parts = parse_name(m.group(1))
        return (parts[0], parts[1]) if len(parts) == 2 else (session.database, parts[0])
    return session.database, (session.search_path or ["public"])[0]


_LISTS = {
    "tables": ("table", ["name", "comment"]),
    "views": ("view", ["name", "comment"]),
    "materialized views": ("materialized-view", ["name", "cluster", "comment"]),
    "sources": ("source", ["name", "type", "cluster", "comment"]),
    "sinks": ("sink", ["name", "type", "cluster", "comment"]),
    "connections": ("connection", ["name", "type", "comment"]),
    "secrets": ("secret", ["name", "comment"]),
    "objects": (None, ["name", "type", "comment"]),
}


def show(session, rest: str) -> Result:
    low = " ".join(rest.lower().split())
    catalog = session.engine.catalog
    for key, (kind, cols) in _LISTS.items():
        if low == key or low.startswith(key + " "):
            database, schema = _in_schema(session, rest[len(key):])
            rows = []
            for o in catalog:
                if o.database != database or o.schema != schema or o.kind in ("index",):
                    continue
                if kind is not None and o.kind != kind:
                    continue
                if kind is None and o.kind in ("schema",):
                    continue
                values = {"name": o.name, "comment": o.comment or "", "cluster": o.cluster,
                          "type": o.internal.get("connector", o.kind) if kind else o.kind}
                rows.append(tuple(values[c] for c in cols))
            rows.sort()
            return _rows(cols, rows)
    if low.startswith(("indexes", "index")):
        m = re.search(r"\bON\s+([\w\".]+)", rest, re.I)
        on = session.binder().require(parse_name(m.group(1))) if m else None
        rows = []
        for o in catalog:
            if o.kind == "index" and (on is None or o.on_id == on.id):
                target = catalog.get(o.on_id)
                rows.append((o.name, target.name if target else "", o.cluster or "",
                             "{" + ",".join(o.key_columns) + "}", o.comment or ""))
        return _rows(["name", "on", "cluster", "key", "comment"], sorted(rows))
    if low.startswith("columns"):
        m = re.match(r"columns\s+(?:from|in)\s+(.*)$", rest.strip(), re.I | re.S)
        if not m:
            raise EddyError("42601", "syntax error in SHOW COLUMNS")
        obj = session.binder().require(parse_name(m.group(1)))
        rows = [(c, n, t, obj.column_comments.get(c, "")) for c, t, n in obj.columns]
        res = _rows(["name", "nullable", "type", "comment"], rows)
        res.columns[1] = Column("nullable", 16, "boolean")
        return res
    if low in ("clusters",):
        rows = sorted((o.name, "r1 (25cc)", o.comment or "") for o in catalog
                      if o.kind == "cluster")
        return _rows(["name", "replicas", "comment"], rows)
    if low.startswith("schemas"):
        m = re.search(r"\b(?:FROM|IN)\s+([\w\"]+)", rest, re.I)
        database = parse_name(m.group(1))[0] if m else session.database
        rows = sorted((o.name, o.comment or "") for o in catalog
                      if o.kind == "schema" and o.database == database)
        return _rows(["name", "comment"], rows)
    if low in ("databases",):
        rows = sorted((o.name, o.comment or "") for o in catalog if o.kind == "database")
        return _rows(["name", "comment"], rows)
    if low == "all":
        return _rows(["name", "setting", "description"],
                     sorted((k, v, "") for k, v in session.vars.items()))
    name = low.replace(" ", "_").strip('"')
    aliases = {"transaction_isolation_level": "transaction_isolation",
               "time_zone": "timezone"}
    name = aliases.get(name, name)
    if name in session.vars:
        return _rows([name], [(session.vars[name],)])
    raise EddyError("42704", f"unrecognized configuration parameter \"{name}\"")


def show_create(session, parts: dict) -> Result:
    kinds = {"table": ("table",), "view": ("view",), "materialized view": ("materialized-view",),
             "index": ("index",), "source": ("source",), "sink": ("sink",),
             "connection": ("connection",)}[parts["object_kind"]]
    obj = session.binder().require(parts["name"], kinds)
    return _rows(["name", "create_sql"], [(obj.qualified, obj.create_sql)])


def explain(session, rest: str) -> Result:
    """EXPLAIN [PLAN FOR] <query> | MATERIALIZED VIEW x | VIEW x | INDEX x: the dataflow plan."""
    text = re.sub(r"^\s*(?:\w+\s+)*?PLAN\s+(?:\([^)]*\)\s*)?(?:AS\s+\w+\s+)?FOR\s+", "", rest,
                  flags=re.I)
    text = re.sub(r"^\s*\([^)]*\)\s*", "", text) if text.lstrip().startswith("(") and \
        not re.match(r"\s*\(\s*select", text, re.I) else text
    m = re.match(r"\s*(MATERIALIZED\s+VIEW|VIEW|INDEX)\s+(.*)$", text, re.I | re.S)
    engine = session.engine
    if m:
        obj = session.binder().require(parse_name(m.group(2)))
        if obj.kind == "index":
            obj = engine.catalog.get(obj.on_id)
        df = engine.dataflows.get(obj.id)
        if df is None:
            lines = [f"{obj.qualified}: not maintained (a view is inlined where it is queried)"]
        else:
            lines = [f"Dataflow for {obj.qualified} ({obj.id})"] + [
                "  " + line for line in explain_lines(df.root)]
            if df.error is not None:
                lines.append(f"  ERROR: {df.error}")
        return _rows(["Optimized Plan"], [("\n".join(lines),)])
    from eddy.sql import ddl
    from eddy.sql.planner import Fallback, assign_keys
    from eddy.sql.resolve import expand, inline_ctes, parse
    ast = parse(text)
    if not isinstance(ast, exp.Query):
        raise EddyError("0A000", "EXPLAIN of this statement not supported")
    binder = session.binder()
    bound, _ = binder.bind(ast)
    plan_ast = inline_ctes(expand(bound.copy(), engine.catalog, "plan"))
    try:
        root = ddl.plan_root(session.cursor, engine.catalog, plan_ast)
        assign_keys(root, "explain")
        lines = explain_lines(root)
    except Fallback as f:
        lines = [f"Recompute and diff (NOT incremental: {f})"]
    except Exception as e:  # noqa: BLE001
        lines = [f"Recompute and diff (NOT incremental: {e})"]
    return _rows(["Optimized Plan"], [("\n".join(lines),)])
