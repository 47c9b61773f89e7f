"""Catalog changes: CREATE/DROP/ALTER/COMMENT of tables, views, indexes and the rest."""

from __future__ import annotations

import contextlib
import re

from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from eddy.catalog.objects import Catalog, CatalogObject
from eddy.dataflow.dataflow import Dataflow
from eddy.dataflow.operators_keyed import FullRecompute, KeyedRecompute
from eddy.dataflow.runtime import TickContext
from eddy.errors import EddyError
from eddy.sql import types
from eddy.sql.allowlist import check_maintained
from eddy.sql.planner import REF, Fallback, Planner, assign_keys
from eddy.sql.resolve import expand, inline_ctes, parse, sqlglot_type, to_read_sql
from eddy.sql.rewrites import check_temporal, filter_to_case, has_mz_now, unnest
from eddy.storage.state import phys, q


class DdlTxn:
    """Catalog edits made on a copy; published to the engine only after COMMIT."""

    def __init__(self, engine):
        self.engine = engine
        self.conn = engine.state.conn
        self.catalog = engine.catalog.copy()
        self.new_dataflows: dict[str, Dataflow] = {}
        self.dropped_dataflows: list[str] = []
        self.changed: set[str] = set()
        self.deleted: set[str] = set()
        self.start_drivers: list[tuple[CatalogObject, object]] = []
        self.stop_drivers: list[str] = []
        self.notices: list[str] = []

    def next_id(self) -> str:
        n = self.engine.state.get_meta("next_id", 1)
        self.engine.state.set_meta("next_id", n + 1)
        return f"u{n}"

    def next_oid(self) -> int:
        n = self.engine.state.get_meta("next_oid", 20001)
        self.engine.state.set_meta("next_oid", n + 1)
        return n

    def add(self, obj: CatalogObject) -> CatalogObject:
        self.catalog.by_id[obj.id] = obj
        self.changed.add(obj.id)
        return obj

    def touch(self, obj: CatalogObject) -> None:
        self.changed.add(obj.id)

    def remove(self, object_id: str) -> None:
        self.catalog.by_id.pop(object_id, None)
        self.changed.discard(object_id)
        self.deleted.add(object_id)

    def persist(self) -> None:
        for oid in self.deleted:
            self.engine.state.delete_object(oid)
        for oid in self.changed:
            self.engine.state.save_object(self.catalog.get(oid))

    def publish(self) -> None:
        self.engine.catalog = self.catalog
        for oid in self.dropped_dataflows:
            self.engine.dataflows.pop(oid, None)
        self.engine.dataflows.update(self.new_dataflows)

    def rollback(self) -> None:
        for _obj, driver in self.start_drivers:
            with contextlib.suppress(Exception):
                driver.stop()

    def after_commit(self) -> None:
        for sub in list(self.engine.subscriptions):
            if sub.object_id in self.deleted:
                sub.fail(EddyError("42P01", "the subscribed relation was dropped"))
        for oid in self.stop_drivers:
            driver = self.engine.drivers.pop(oid, None)
            if driver is not None:
                driver.stop()
        for obj, driver in self.start_drivers:
            self.engine.start_driver(obj, driver)


def bootstrap(txn: DdlTxn) -> None:
    """The default database, schema and cluster of a fresh engine."""
    txn.add(CatalogObject(txn.next_id(), txn.next_oid(), None, None, "materialize", "database"))
    txn.add(CatalogObject(txn.next_id(), txn.next_oid(), "materialize", None, "public", "schema"))
    txn.add(CatalogObject(txn.next_id(), txn.next_oid(), None, None, "quickstart", "cluster"))


def _schema_types(catalog: Catalog) -> dict:
    out = {}
    for o in catalog:
        if o.is_relation:
            out[o.id] = {c[0]: _sqlglot_type(c[1]) for c in o.columns}
    return {REF: out}


_sqlglot_type = sqlglot_type


def base_inputs(ast: exp.Expression) -> list[str]:
    """Ids of the tables, sources and materialized views a planned query reads."""
    out = []
    for t in ast.find_all(exp.Table):
        if t.db == REF and t.name not in out:
            out.append(t.name)
    return out


def read_sql(bound: exp.Expression, catalog: Catalog) -> str:
    return to_read_sql(bound, catalog)


def build_dataflow(engine, catalog: Catalog, obj: CatalogObject, fresh: bool,
                   conn=None) -> Dataflow:
    """Plan the object's query into operators and (when fresh) fill their state."""
    conn = conn or engine.state.conn
    bound = parse(obj.internal["query"])
    names = [c[0] for c in obj.columns]
    plan_ast = inline_ctes(expand(bound.copy(), catalog, "plan"))
    if fresh:
        check_maintained(plan_ast, obj.kind)   # eddy.sql.allowlist: 0A000 by name
        check_temporal(plan_ast)
    try:
        root = plan_root(conn, catalog, plan_ast)
        if len(root.cols) != len(names):
            raise Fallback("column count")
    except Fallback as f:
        root = FullRecompute(read_sql(bound, catalog), base_inputs(plan_ast), names,
                             has_mz_now(bound), str(f))
    assign_keys(root, obj.id)
    df = Dataflow(obj.id, root, names)
    plan = "\n".join(df.explain())
    if not fresh and _stored_plan(conn, obj.id) != plan:
        fresh = True     # state of another build's plan (or of none recorded): rebuild it
    rt = TickContext(conn, engine.last_ts, engine.last_ts)
    try:
        df.setup(rt, fresh)
    finally:
        rt.close()
    if fresh and not obj.id.startswith("t"):
        _stored_plan(conn, obj.id)     # creates the table on first use
        conn.execute(f"INSERT OR REPLACE INTO {phys('__plans')} VALUES (?, ?)", [obj.id, plan])
    return df


def plan_root(conn, catalog: Catalog, plan_ast: exp.Expression):
    """Operator tree of a bound query with views expanded and CTEs inlined (raises
    Fallback where a part has no incremental rule)."""
    try:
        qualified = qualify(plan_ast, schema=_schema_types(catalog), dialect="postgres",
                            quote_identifiers=False)
    except Exception as e:  # noqa: BLE001 - the read path reports real errors
        raise Fallback(f"cannot qualify: {e}") from None
    root, _ = Planner(conn, catalog).plan_query(filter_to_case(unnest(qualified)))
    return root


def not_incremental(root) -> list[str]:
    """The parts of a plan whose cost grows with the whole input rather than the change."""
    out = []
    for node in root.walk():
        if isinstance(node, FullRecompute):
            out.append(f"recompute and diff of the whole query ({node.reason})")
        elif isinstance(node, KeyedRecompute) and not node.kcols:
            out.append(f"{node.what} recomputed over its whole input (no key)")
    return out


def _stored_plan(conn, object_id: str) -> str | None:
    """The plan the object's state tables were built for (None: not recorded)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {phys('__plans')} "
                 "(object_id VARCHAR PRIMARY KEY, plan VARCHAR)")
    row = conn.execute(f"SELECT plan FROM {phys('__plans')} WHERE object_id = ?",
                       [object_id]).fetchone()
    return row[0] if row else None


def describe_query(conn, sql: str) -> list[tuple[str, str, bool]]:
    rows = conn.execute(f"DESCRIBE {sql}").fetchall()
    return [(r[0], types.from_duckdb(r[1]), True) for r in rows]


# -- statements -------------------------------------------------------------------------------

def check_free(txn: DdlTxn, database, schema, name) -> CatalogObject | None:
    for o in txn.catalog:
        if o.database == database and o.schema == schema and o.name == name and (
                o.kind not in ("cluster", "database", "schema")):
            return o
    return None


def create_table(txn: DdlTxn, target, ast: exp.Create, text: str) -> str:
    database, schema, name = target
    existing = check_free(txn, database, schema, name)
    if existing is not None:
        if ast.args.get("exists"):
            txn.notices.append(f"relation \"{name}\" already exists, skipping")
            return "CREATE TABLE"
        raise EddyError("42P07", f"relation \"{'.'.join(target)}\" already exists")
    if ast.expression is not None:
        raise EddyError("0A000", "CREATE TABLE ... AS not supported")
    cols, defs = [], []
    key_columns = _key_columns(ast.this.expressions)
    for c in ast.this.expressions:
        if not isinstance(c, exp.ColumnDef):
            continue
        kind = c.args.get("kind")
        if kind is None:
            raise EddyError("42601", f"column {c.name} needs a type")
        tname = types.normalize(kind.sql("postgres"))
        nullable = True
        constraint_sql = []
        for cons in c.args.get("constraints") or []:
            if isinstance(cons.kind, exp.NotNullColumnConstraint) and not cons.kind.args.get(
                    "allow_null"):
                nullable = False
                constraint_sql.append("NOT NULL")
            elif isinstance(cons.kind, exp.DefaultColumnConstraint):
                raise EddyError("0A000", "column DEFAULT not supported")
            elif not isinstance(cons.kind, exp.PrimaryKeyColumnConstraint
                                | exp.UniqueColumnConstraint | exp.NotNullColumnConstraint):
                raise EddyError("0A000", f"column constraint {cons.sql('postgres')} "
                                "not supported")
        if c.name in key_columns and nullable:
            nullable = False
            constraint_sql.append("NOT NULL")
        cols.append((c.name, tname, nullable))
        defs.append(f"{q(c.name)} {types.duckdb_type(tname)} {' '.join(constraint_sql)}")
    if len({c[0] for c in cols}) != len(cols):
        raise EddyError("42701", "column name specified more than once")
    obj = txn.add(CatalogObject(txn.next_id(), txn.next_oid(), database, schema, name, "table",
                                cols, create_sql=text))
    txn.conn.execute(f"CREATE TABLE {phys(obj.id)} ({', '.join(defs)})")
    return "CREATE TABLE"


def _key_columns(elements: list) -> set[str]:
    """Columns of PRIMARY KEY constraints. As in Materialize, PRIMARY KEY and UNIQUE are accepted
    and not enforced (a primary key's columns become NOT NULL); CHECK and FOREIGN KEY are
    refused by name."""
    keys: set[str] = set()
    for e in elements:
        if isinstance(e, exp.ColumnDef):
            if any(isinstance(c.kind, exp.PrimaryKeyColumnConstraint)
                   for c in e.args.get("constraints") or []):
                keys.add(e.name)
            continue
        inner = e.expressions[0] if isinstance(e, exp.Constraint) and e.expressions else e
        if isinstance(inner, exp.PrimaryKey):
            keys |= {c.name for c in inner.find_all(exp.Identifier, exp.Column)}
        elif not isinstance(inner, exp.UniqueColumnConstraint):
            what = "FOREIGN KEY" if isinstance(inner, exp.ForeignKey) else \
                "CHECK" if isinstance(inner, exp.CheckColumnConstraint) else inner.key.upper()
            raise EddyError("0A000", f"{what} constraints are not supported")
    return keys


def create_view(txn: DdlTxn, binder, target, st, default_cluster: str = "quickstart") -> str:
    database, schema, name = target
    p = st.parts
    existing = check_free(txn, database, schema, name)
    kind = "materialized-view" if p["materialized"] else "view"
    tag = "CREATE MATERIALIZED VIEW" if p["materialized"] else "CREATE VIEW"
    if existing is not None:
        if p["if_not_exists"]:
            txn.notices.append(f"view \"{name}\" already exists, skipping")
            return tag
        if not p["replace"] or existing.kind != kind:
            raise EddyError("42710", f"catalog item '{'.'.join(target)}' already exists")
        drop_objects(txn, [existing], cascade=False)
    ast = parse(p["query"])
    if isinstance(ast, exp.Values):        # AS VALUES (..): a query of its own
        ast = exp.select("*").from_(ast)
    if not isinstance(ast, exp.Query):
        raise EddyError("42601", "expected a query after AS")
    binder.catalog = txn.catalog
    bound, deps = binder.bind(ast)
    if p["column_names"]:
        bound = exp.select("*").from_(exp.Subquery(this=bound, alias=exp.TableAlias(
            this=exp.to_identifier("__v"),
            columns=[exp.to_identifier(c, quoted=True) for c in p["column_names"]])))
    cols = describe_query(txn.conn, read_sql(bound, txn.catalog))
    seen = set()
    for c in cols:
        if c[0] in seen:
            raise EddyError("42701", f"column \"{c[0]}\" specified more than once")
        seen.add(c[0])
    if kind == "view" and has_mz_now(bound):
        pass
    cluster = p.get("cluster") or default_cluster
    obj = txn.add(CatalogObject(
        txn.next_id(), txn.next_oid(), database, schema, name, kind, cols, create_sql=st.text,
        cluster=cluster if kind == "materialized-view" else None, depends_on=deps,
        internal={"query": bound.sql("postgres")}))
    if kind == "materialized-view":
        txn.new_dataflows[obj.id] = build_dataflow(txn.engine, txn.catalog, obj, fresh=True)
        _notice_if_not_incremental(txn, obj)
    return tag


def _notice_if_not_incremental(txn: DdlTxn, obj: CatalogObject) -> None:
    """A NOTICE (seen by psql, psycopg and `dbt run`) naming each part of a maintained view
    whose per-tick cost grows with its whole input."""
    parts = not_incremental(txn.new_dataflows[obj.id].root)
    kind = obj.kind.replace("-", " ")
    for part in dict.fromkeys(parts):
        txn.notices.append(f"{kind} \"{obj.name}\" is not maintained incrementally: {part} "
                           f"(see EXPLAIN {kind.upper()} {obj.name})")


def create_index(txn: DdlTxn, binder, st, default_cluster: str = "quickstart") -> str:
    p = st.parts
    binder.catalog = txn.catalog
    on = binder.require(p["on"], ("table", "view", "materialized-view", "source"))
    keys = p["keys"] if p["keys"] is not None else [c[0] for c in on.columns]
    keys = [k.strip().strip('"') if re.fullmatch(r'"?[\w$]+"?', k.strip()) else k for k in keys]
    name = p["name"][-1] if p["name"] else f"{on.name}_primary_idx"
    if check_free(txn, on.database, on.schema, name) is not None:
        if p["if_not_exists"]:
            return "CREATE INDEX"
        base, n = name, 1
        while check_free(txn, on.database, on.schema, name) is not None:
            name, n = f"{base}{n}", n + 1
    txn.add(CatalogObject(
        txn.next_id(), txn.next_oid(), on.database, on.schema, name, "index",
        create_sql=st.text, cluster=p.get("cluster") or default_cluster, depends_on=[on.id],
        on_id=on.id, key_columns=keys))
    if on.kind == "view" and not on.internal.get("maintained"):
        df = build_dataflow(txn.engine, txn.catalog, on, fresh=True)  # a refusal leaves `on` as is
        on.internal["maintained"] = True
        txn.touch(on)
        txn.new_dataflows[on.id] = df
        _notice_if_not_incremental(txn, on)
    return "CREATE INDEX"


def all_dependants(catalog: Catalog, roots: list[CatalogObject]) -> list[CatalogObject]:
    """Transitive dependants of roots, dependants last (roots excluded)."""
    seen: dict[str, CatalogObject] = {}
    stack = [r.id for r in roots]
    while stack:
        oid = stack.pop()
        for d in catalog.dependants(oid):
            if d.id not in seen and d.id not in {r.id for r in roots}:
                seen[d.id] = d
                stack.append(d.id)
    return list(seen.values())


def drop_objects(txn: DdlTxn, objs: list[CatalogObject], cascade: bool) -> None:
    deps = all_dependants(txn.catalog, objs)
    if deps and not cascade:
        d = deps[0]
        o = objs[0]
        raise EddyError("2BP01", f"cannot drop {o.kind.replace('-', ' ')} \"{o.name}\": still "
                        f"depended upon by {d.kind.replace('-', ' ')} \"{d.name}\"")
    order = sorted(objs + deps, key=lambda o: -int("".join(ch for ch in o.id if ch.isdigit())))
    for o in order:
        _drop_one(txn, o)


def _drop_one(txn: DdlTxn, o: CatalogObject) -> None:
    conn = txn.conn
    if o.id not in txn.catalog.by_id:
        return
    txn.remove(o.id)
    if o.kind in ("table", "source"):
        conn.execute(f"DROP TABLE IF EXISTS {phys(o.id)}")
        for sub_id in o.internal.get("subsources", {}).values():
            sub = txn.catalog.get(sub_id)
            if sub is not None:
                _drop_one(txn, sub)
    if o.kind in ("source", "sink"):
        txn.stop_drivers.append(o.id)
        conn.execute(f"DELETE FROM {phys('offsets')} WHERE id = ?", [o.id])
    df = txn.new_dataflows.pop(o.id, None) or txn.engine.dataflows.get(o.id)
    if df is not None:
        df.drop(conn)
        txn.dropped_dataflows.append(o.id)
    if o.kind == "index" and o.on_id:
        on = txn.catalog.get(o.on_id)
        if on is not None and on.kind == "view" and not any(
                x.kind == "index" and x.on_id == on.id for x in txn.catalog):
            on.internal["maintained"] = False
            txn.touch(on)
            df = txn.new_dataflows.pop(on.id, None) or txn.engine.dataflows.get(on.id)
            if df is not None:
                df.drop(conn)
                txn.dropped_dataflows.append(on.id)
