"""INSERT / UPDATE / DELETE on tables: each becomes a function run inside a tick that
changes the table and returns the Z-set delta it made."""

from __future__ import annotations

from sqlglot import exp

from eddy.dataflow.runtime import W
from eddy.errors import EddyError
from eddy.sql import types
from eddy.sql.resolve import to_read_sql
from eddy.storage.state import phys, q


def _target(binder, table: exp.Expression):
    if not isinstance(table, exp.Table):
        raise EddyError("0A000", f"{table.key} as a write target not supported")
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    obj = binder.lookup(parts)
    if obj is None:
        raise EddyError("42P01", f"unknown catalog item '{'.'.join(parts)}'")
    if obj.kind != "table":
        raise EddyError("42809", f"cannot write to {obj.kind.replace('-', ' ')} '{obj.name}'")
    return obj


def _render(binder, ast: exp.Expression) -> str:
    bound, _ = binder.bind(ast)
    return to_read_sql(bound, binder.catalog)


def _counter():
    box = {"count": 0}
    return box


def plan_insert(binder, ast: exp.Insert, params):
    if ast.args.get("returning") or ast.args.get("conflict"):
        raise EddyError("0A000", "INSERT ... RETURNING/ON CONFLICT not supported")
    target = ast.this
    columns = None
    if isinstance(target, exp.Schema):
        columns = [c.name for c in target.expressions]
        target = target.this
    obj = _target(binder, target)
    names = [c[0] for c in obj.columns]
    columns = columns or names[:]
    for c in columns:
        if c not in names:
            raise EddyError("42703", f"column \"{c}\" of relation \"{obj.name}\" does not exist")
    source = ast.expression
    alias = exp.TableAlias(this=exp.to_identifier("__v"),
                           columns=[exp.to_identifier(f"c{i}") for i in range(len(columns))])
    if isinstance(source, exp.Values):
        width = {len(t.expressions) for t in source.expressions}
        if width != {len(columns)}:
            raise EddyError("42601", "INSERT has more or fewer expressions than target columns")
        # cast each value to its column's type in place, so that literals get the
        # dialect's treatment (canonical jsonb, exact numeric) before DuckDB sees them
        types_by_name = {c[0]: c[1] for c in obj.columns}
        values = source.copy()
        for row in values.expressions:
            row.set("expressions", [_pg_cast(v, types_by_name[c])
                                    for v, c in zip(row.expressions, columns, strict=True)])
        inner = exp.Subquery(this=exp.select("*").from_(values), alias=alias)
    else:
        inner = exp.Subquery(this=source.copy(), alias=alias)
    items = []
    for name, typ, _n in obj.columns:
        value = exp.column(f"c{columns.index(name)}", table="__v") if name in columns else exp.Null()
        items.append(exp.alias_(exp.cast(value, exp.DataType.build(
            types.duckdb_type(typ), dialect="duckdb")), name, quoted=True))
    select = exp.select(*items).from_(inner)
    sql = _render(binder, select)
    box = _counter()
    box["sql"] = sql

    def fn(rt):
        rows = rt.table(f"SELECT *, 1::BIGINT AS {W} FROM ({sql})", params)
        box["count"] = rows.num_rows
        if rows.num_rows:
            rt.run(f"INSERT INTO {phys(obj.id)} SELECT * EXCLUDE ({W}) FROM {rows.name}")
        return [(obj.id, rows)]
    return fn, box, "INSERT 0 {}"


def _pg_cast(value: exp.Expression, mz_type: str) -> exp.Expression:
    if isinstance(value, exp.Null):
        return value
    try:
        to = exp.DataType.build(mz_type, dialect="postgres")
    except Exception:  # noqa: BLE001 - a type sqlglot cannot name keeps DuckDB's cast
        return value
    return exp.Cast(this=value, to=to)


def _rowid_select(binder, ast, obj, exprs: list[exp.Expression]) -> str:
    table = ast.this.copy()
    alias = table.alias_or_name
    items = [exp.alias_(exp.column("rowid", table=alias), "__rid")] + exprs
    select = exp.select(*items).from_(table)
    if ast.args.get("where") is not None:
        select = select.where(ast.args["where"].this.copy())
    if ast.args.get("from") or ast.args.get("from_") or ast.args.get("using"):
        raise EddyError("0A000", "UPDATE ... FROM / DELETE ... USING not supported")
    return _render(binder, select)


def plan_delete(binder, ast: exp.Delete, params):
    obj = _target(binder, ast.this)
    alias = ast.this.alias_or_name
    cols = [exp.alias_(exp.column(c[0], table=alias, quoted=True), c[0], quoted=True)
            for c in obj.columns]
    sql = _rowid_select(binder, ast, obj, cols)
    box = _counter()
    box["sql"] = sql
    names = [c[0] for c in obj.columns]

    def fn(rt):
        old = rt.table(sql, params)
        box["count"] = old.num_rows
        if not old.num_rows:
            return []
        rt.run(f"DELETE FROM {phys(obj.id)} WHERE rowid IN (SELECT __rid FROM {old.name})")
        cols = ", ".join(q(c) for c in names)
        return [(obj.id, rt.table(f"SELECT {cols}, -1::BIGINT AS {W} FROM {old.name}"))]
    return fn, box, "DELETE {}"


def plan_update(binder, ast: exp.Update, params):
    obj = _target(binder, ast.this)
    alias = ast.this.alias_or_name
    sets = {}
    for e in ast.expressions:
        if not isinstance(e, exp.EQ) or not isinstance(e.this, exp.Column):
            raise EddyError("0A000", "this UPDATE form not supported")
        sets[e.this.name] = e.expression
    names = [c[0] for c in obj.columns]
    for c in sets:
        if c not in names:
            raise EddyError("42703", f"column \"{c}\" of relation \"{obj.name}\" does not exist")
    olds = [exp.alias_(exp.column(c, table=alias, quoted=True), f"o{i}", quoted=True)
            for i, c in enumerate(names)]
    news = []
    for i, (c, typ, _n) in enumerate(obj.columns):
        value = sets[c].copy() if c in sets else exp.column(c, table=alias, quoted=True)
        news.append(exp.alias_(exp.cast(value, exp.DataType.build(
            types.duckdb_type(typ), dialect="duckdb")), f"n{i}", quoted=True))
    sql = _rowid_select(binder, ast, obj, olds + news)
    box = _counter()
    box["sql"] = sql

    def fn(rt):
        rows = rt.table(sql, params)
        box["count"] = rows.num_rows
        if not rows.num_rows:
            return []
        rn = rows.name
        new = ", ".join(f"n{i} AS {q(c)}" for i, c in enumerate(names))
        old = ", ".join(f"o{i} AS {q(c)}" for i, c in enumerate(names))
        rt.run(f"DELETE FROM {phys(obj.id)} WHERE rowid IN (SELECT __rid FROM {rn})")
        rt.run(f"INSERT INTO {phys(obj.id)} SELECT {new} FROM {rn}")
        delta = rt.table(f"SELECT {old}, -1::BIGINT AS {W} FROM {rn} UNION ALL "
                         f"SELECT {new}, 1::BIGINT AS {W} FROM {rn}")
        return [(obj.id, delta)]
    return fn, box, "UPDATE {}"
