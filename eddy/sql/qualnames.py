"""Schema-qualified column references (`schema.table.column`, `db.schema.table.column`), as
SQLAlchemy Core writes them for a table outside the default schema, become `table.column`
when the FROM clause reads that table under its own name: the binder replaces the table with
its storage relation, which keeps the table name as alias but not the schema."""

from __future__ import annotations

from sqlglot import exp


def _key(*parts: str | None) -> tuple[str, ...]:
    return tuple(p.lower() for p in parts if p)


def unqualify_columns(ast: exp.Expression) -> exp.Expression:
    """`s.t.c` -> `t.c` for each column whose `s.t` is a table read without another alias."""
    columns = [c for c in ast.find_all(exp.Column) if c.args.get("db")]
    if not columns:
        return ast
    tables = set()
    for t in ast.find_all(exp.Table):
        if t.alias and t.alias != t.name:
            continue
        tables.add(_key(t.db, t.name))
        tables.add(_key(t.catalog, t.db, t.name))
    for col in columns:
        if _key(col.db, col.table) in tables or _key(col.catalog, col.db, col.table) in tables:
            col.set("db", None)
            col.set("catalog", None)
    return ast
