"""DDL besides tables and views: clusters, schemas, databases, connectors, DROP, ALTER,
COMMENT."""

from __future__ import annotations

import re

from eddy.catalog.objects import CatalogObject
from eddy.errors import EddyError
from eddy.results import Result
from eddy.sql import allowlist, types
from eddy.sql.ddl import check_free, drop_objects
from eddy.storage.state import phys, q

_KIND_OF = {"table": ("table",), "view": ("view",), "materialized view": ("materialized-view",),
            "index": ("index",), "source": ("source",), "sink": ("sink",),
            "connection": ("connection",), "secret": ("secret",), "cluster": ("cluster",),
            "schema": ("schema",), "database": ("database",), "type": ("type",),
            "role": ("role",), "cluster replica": ("cluster-replica",)}


def run(session, txn, binder, st) -> Result:
    handler = {
        "create_cluster": _create_cluster, "create_cluster_replica": _accept,
        "create_schema": _create_schema, "create_database": _create_database,
        "create_role": _accept, "create_secret": _create_secret,
        "create_connection": _create_connection, "create_source": _create_source,
        "create_sink": _create_sink, "drop": _drop, "alter_rename": _rename,
        "alter_swap": _swap, "alter_other": _alter_other, "comment": _comment,
    }.get(st.kind)
    if handler is None:
        raise EddyError("0A000", f"{st.kind} not supported")
    return handler(session, txn, binder, st)


def _accept(session, txn, binder, st) -> Result:
    return Result(" ".join(st.kind.upper().split("_")))


def _new(txn, database, schema, name, kind, **kw) -> CatalogObject:
    return txn.add(CatalogObject(txn.next_id(), txn.next_oid(), database, schema, name, kind,
                                 **kw))


def _create_cluster(session, txn, binder, st) -> Result:
    name = st.parts["name"][-1]
    if txn.catalog.find(None, None, name, ("cluster",)):
        if st.parts["if_not_exists"]:
            return Result("CREATE CLUSTER")
        raise EddyError("42710", f"cluster '{name}' already exists")
    _new(txn, None, None, name, "cluster", create_sql=st.text)
    return Result("CREATE CLUSTER")


def _create_database(session, txn, binder, st) -> Result:
    name = st.parts["name"][-1]
    if txn.catalog.find(None, None, name, ("database",)):
        if st.parts["if_not_exists"]:
            return Result("CREATE DATABASE")
        raise EddyError("42P04", f"database '{name}' already exists")
    _new(txn, None, None, name, "database", create_sql=st.text)
    _new(txn, name, None, "public", "schema")
    return Result("CREATE DATABASE")


def _create_schema(session, txn, binder, st) -> Result:
    parts = st.parts["name"]
    database = parts[0] if len(parts) == 2 else session.database
    name = parts[-1]
    if txn.catalog.find(None, None, database, ("database",)) is None:
        raise EddyError("3D000", f"unknown database '{database}'")
    if txn.catalog.find(database, None, name, ("schema",)):
        if st.parts["if_not_exists"]:
            return Result("CREATE SCHEMA")
        raise EddyError("42P06", f"schema '{name}' already exists")
    _new(txn, database, None, name, "schema", create_sql=st.text)
    return Result("CREATE SCHEMA")


def _create_secret(session, txn, binder, st) -> Result:
    database, schema, name = session.target(st.parts["name"])
    if check_free(txn, database, schema, name):
        if st.parts["if_not_exists"]:
            return Result("CREATE SECRET")
        raise EddyError("42710", f"catalog item '{name}' already exists")
    value = st.parts["rest"]
    if value.upper().startswith("AS"):
        value = value[2:].strip()
    _new(txn, database, schema, name, "secret", create_sql=f"CREATE SECRET {name} AS '********'",
         internal={"value": value.strip("'")})
    return Result("CREATE SECRET")


def _connector(session, kind: str):
    connector = session.engine.connectors.get(kind)
    if connector is None:
        raise EddyError("0A000", f"{kind.upper()} connections not supported (no connector)")
    return connector


def _create_connection(session, txn, binder, st) -> Result:
    p = st.parts
    database, schema, name = session.target(p["name"])
    if check_free(txn, database, schema, name):
        if p["if_not_exists"]:
            return Result("CREATE CONNECTION")
        raise EddyError("42710", f"catalog item '{name}' already exists")
    options = _connector(session, p["connector"]).create_connection(name, p["body"])
    _new(txn, database, schema, name, "connection", create_sql=st.text,
         internal={"connector": p["connector"], "body": p["body"], "options": options})
    return Result("CREATE CONNECTION")


def _create_source(session, txn, binder, st) -> Result:
    p = st.parts
    database, schema, name = session.target(p["name"])
    if check_free(txn, database, schema, name):
        if p["if_not_exists"]:
            return Result("CREATE SOURCE")
        raise EddyError("42710", f"catalog item '{name}' already exists")
    obj = _new(txn, database, schema, name, "source", create_sql=st.text,
               cluster=p.get("cluster") or "quickstart",
               internal={"connector": p["connector"], "body": p["body"]})
    _connector(session, p["connector"])
    driver = txn.engine.make_driver(obj)
    obj.internal["body"] = getattr(driver, "purified_body", p["body"])  # e.g. Avro schemas seeded
    obj.columns = [(c, types.normalize(t), True) for c, t in driver.columns]
    obj.internal["upsert_key"] = driver.upsert_key
    _create_storage(txn, obj)
    subs = {}
    for sub_name, cols in (driver.subsources or {}).items():
        sub = _new(txn, database, schema, f"{name}_{sub_name}", "source",
                   columns=[(c, types.normalize(t), True) for c, t in cols],
                   create_sql=f"-- subsource of {name}", cluster=obj.cluster,
                   depends_on=[obj.id], internal={"subsource_of": obj.id})
        _create_storage(txn, sub)
        subs[sub_name] = sub.id
    obj.internal["subsources"] = subs
    txn.start_drivers.append((obj, driver))
    return Result("CREATE SOURCE")


def _create_storage(txn, obj) -> None:
    defs = ", ".join(f"{q(c)} {types.duckdb_type(t)}" for c, t, _n in obj.columns)
    txn.conn.execute(f"CREATE TABLE {phys(obj.id)} ({defs})")


def _create_sink(session, txn, binder, st) -> Result:
    p = st.parts
    database, schema, name = session.target(p["name"])
    if check_free(txn, database, schema, name):
        if p["if_not_exists"]:
            return Result("CREATE SINK")
        raise EddyError("42710", f"catalog item '{name}' already exists")
    src = binder.require(p["from"], ("table", "materialized-view", "source", "view"))
    if src.kind == "view" and not src.internal.get("maintained"):
        raise EddyError("0A000", "a sink from a non-materialized view not supported")
    obj = _new(txn, database, schema, name, "sink", create_sql=st.text,
               cluster=p.get("cluster") or "quickstart", depends_on=[src.id],
               internal={"connector": p["connector"], "body": p["body"], "from_id": src.id})
    _connector(session, p["connector"])
    txn.start_drivers.append((obj, txn.engine.make_driver(obj)))
    return Result("CREATE SINK")


def _lookup(session, txn, binder, kind: str, parts: list[str]):
    kinds = _KIND_OF.get(kind, (kind,))
    if kinds[0] in ("cluster", "database", "role", "cluster-replica"):
        return txn.catalog.find(None, None, parts[-1], kinds)
    if kinds[0] == "schema":
        database = parts[0] if len(parts) == 2 else session.database
        return txn.catalog.find(database, None, parts[-1], kinds)
    obj = binder.lookup(parts, kinds)
    if obj is None and kinds[0] == "view":
        other = binder.lookup(parts, ("materialized-view",))
        if other is not None:
            raise EddyError("42809", f"{'.'.join(parts)} is a materialized view, "
                            "not a view")
    return obj


def _drop(session, txn, binder, st) -> Result:
    kind = st.parts["object_kind"]
    objs = []
    for parts in st.parts["names"]:
        obj = _lookup(session, txn, binder, kind, parts)
        if obj is None:
            if st.parts["if_exists"]:
                session.notices.append(f"{kind} \"{'.'.join(parts)}\" does not exist, skipping")
                continue
            raise EddyError("42704" if kind in ("cluster", "schema", "database") else "42P01",
                            f"unknown {kind} '{'.'.join(parts)}'")
        objs.append(obj)
    if kind in ("schema", "database"):
        for obj in list(objs):
            inner = [o for o in txn.catalog if (
                (kind == "schema" and o.database == obj.database and o.schema == obj.name) or
                (kind == "database" and o.database == obj.name))]
            if inner and not st.parts["cascade"]:
                raise EddyError("2BP01", f"{kind} '{obj.name}' cannot be dropped without CASCADE "
                                "while it contains objects")
            objs = inner + objs
    if kind == "cluster":
        for obj in objs:
            inner = [o for o in txn.catalog if o.cluster == obj.name]
            if inner and not st.parts["cascade"]:
                raise EddyError("2BP01", f"cannot drop cluster \"{obj.name}\" because other "
                                "objects depend on it")
            objs = inner + objs
    if objs:
        drop_objects(txn, objs, st.parts["cascade"])
    return Result("DROP " + kind.upper())


def _rename(session, txn, binder, st) -> Result:
    kind = st.parts["object_kind"]
    obj = _lookup(session, txn, binder, kind, st.parts["name"])
    if obj is None:
        if st.parts["if_exists"]:
            return Result("ALTER " + kind.upper())
        raise EddyError("42P01", f"unknown {kind} '{'.'.join(st.parts['name'])}'")
    new = st.parts["new"][-1]
    clash = txn.catalog.find(obj.database, obj.schema, new) if obj.kind not in (
        "cluster", "database", "schema") else txn.catalog.find(obj.database, None, new,
                                                               (obj.kind,))
    if clash is not None:
        raise EddyError("42710", f"catalog item '{new}' already exists")
    old = obj.name
    obj.name = new
    if obj.create_sql:
        obj.create_sql = _renamed_create_sql(obj.create_sql, new)
    txn.touch(obj)
    if obj.kind not in ("cluster", "database", "schema"):
        from eddy.sql.rename import rename_in_dependants
        rename_in_dependants(txn, obj, old)
    if obj.kind == "schema":
        for o in txn.catalog:
            if o.database == obj.database and o.schema == old:
                o.schema = new
                txn.touch(o)
    if obj.kind == "database":
        for o in txn.catalog:
            if o.database == old:
                o.database = new
                txn.touch(o)
    if obj.kind == "cluster":
        for o in txn.catalog:
            if o.cluster == old:
                o.cluster = new
                txn.touch(o)
    txn.touch(obj)
    return Result("ALTER " + kind.upper())


def _swap(session, txn, binder, st) -> Result:
    kind = st.parts["object_kind"]
    a = _lookup(session, txn, binder, kind, st.parts["name"])
    b = _lookup(session, txn, binder, kind, st.parts["other"])
    if a is None or b is None:
        raise EddyError("42P01", f"unknown {kind} in SWAP")
    if kind == "schema":
        for o in txn.catalog:
            if o.database == a.database and o.schema in (a.name, b.name) and o.kind != "schema":
                o.schema = b.name if o.schema == a.name else a.name
                txn.touch(o)
    if kind == "cluster":
        for o in txn.catalog:
            if o.cluster in (a.name, b.name):
                o.cluster = b.name if o.cluster == a.name else a.name
                txn.touch(o)
    a.name, b.name = b.name, a.name
    if kind not in ("schema", "cluster", "database"):
        a.schema, b.schema = b.schema, a.schema
        a.database, b.database = b.database, a.database
    txn.touch(a)
    txn.touch(b)
    return Result("ALTER " + kind.upper())


def _alter_other(session, txn, binder, st) -> Result:
    kind = st.parts["object_kind"]
    allowlist.check_alter(kind, st.parts["action"])
    return Result("ALTER " + kind.upper())


def _comment(session, txn, binder, st) -> Result:
    kind = st.parts["object_kind"]
    parts = st.parts["name"]
    if kind == "column":
        obj = binder.lookup(parts[:-1])
        if obj is None or parts[-1] not in [c[0] for c in obj.columns]:
            raise EddyError("42703", f"unknown column '{'.'.join(parts)}'")
        if st.parts["comment"] is None:
            obj.column_comments.pop(parts[-1], None)
        else:
            obj.column_comments[parts[-1]] = st.parts["comment"]
    else:
        obj = _lookup(session, txn, binder, kind, parts)
        if obj is None:
            raise EddyError("42P01", f"unknown {kind} '{'.'.join(parts)}'")
        obj.comment = st.parts["comment"]
    txn.touch(obj)
    return Result("COMMENT")


_CREATE_NAME = re.compile(
    r"(CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFAULT\s+)?(?:MATERIALIZED\s+VIEW|VIEW|TABLE|SOURCE|SINK|"
    r"INDEX|CONNECTION|SECRET|CLUSTER|SCHEMA|DATABASE)\s+(?:IF\s+NOT\s+EXISTS\s+)?)"
    r"((?:\"(?:[^\"]|\"\")*\"|[A-Za-z_][A-Za-z0-9_$]*)(?:\s*\.\s*(?:\"(?:[^\"]|\"\")*\"|"
    r"[A-Za-z_][A-Za-z0-9_$]*))*)", re.I)


def _renamed_create_sql(create_sql: str, new: str) -> str:
    """The CREATE statement with its object's last name part replaced."""
    m = _CREATE_NAME.match(create_sql.strip())
    if not m:
        return create_sql
    parts = m.group(2).rsplit(".", 1)
    quoted = q(new)
    name = f"{parts[0]}.{quoted}" if len(parts) == 2 else quoted
    text = create_sql.strip()
    return text[:m.start(2)] + name + text[m.end(2):]
