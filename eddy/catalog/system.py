"""The system relations (mz_catalog, mz_internal, pg_catalog, information_schema) as DuckDB tables.

`refresh(conn, catalog)` brings them up to date with the engine's catalog after every DDL commit
(incrementally: only the tables whose rows changed are written). DuckDB
reserves the names `pg_catalog` and `information_schema`, so those live in the physical schemas
`_pg_catalog` and `_information_schema`; `physical(schema, name)` maps a name as a client writes
it to the table that holds it. The PostgreSQL functions clients call on them (`format_type`,
`pg_table_is_visible`, ...) are DuckDB macros in `main` (`pg_functions.py`), installed by `refresh`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
import weakref

import pyarrow as pa
from sqlglot import exp

from eddy.catalog import status
from eddy.catalog.objects import Catalog, CatalogObject
from eddy.catalog.pg_functions import FUNCTIONS, install_functions

PHYSICAL_SCHEMAS = {"mz_catalog": "mz_catalog", "mz_internal": "mz_internal",
                    "pg_catalog": "_pg_catalog", "information_schema": "_information_schema"}
PHYSICAL_SCHEMA_NAMES = tuple(PHYSICAL_SCHEMAS.values())
SEARCH_PATH = ("mz_catalog", "pg_catalog")      # where unqualified system names are found
# System objects take oids below 20000, where Materialize starts numbering user objects.
SYSTEM_SCHEMAS = [  # (id, oid, name)
    ("s1", 16600, "mz_catalog"), ("s2", 11, "pg_catalog"),
    ("s3", 16601, "mz_internal"), ("s4", 13000, "information_schema")]
OWNER_ID, OWNER_OID = "u1", 16610
SYSTEM_ROLE_OID = 16611

# Materialize type name -> (oid, pg typname, typlen, category, element oid, array oid)
TYPE_INFO: dict[str, tuple[int, str, int, str, int, int]] = {
    "boolean": (16, "bool", 1, "B", 0, 1000), "bytea": (17, "bytea", -1, "U", 0, 1001),
    "char": (18, "char", 1, "S", 0, 1002), "name": (19, "name", 64, "S", 0, 1003),
    "bigint": (20, "int8", 8, "N", 0, 1016), "smallint": (21, "int2", 2, "N", 0, 1005),
    "integer": (23, "int4", 4, "N", 0, 1007), "text": (25, "text", -1, "S", 0, 1009),
    "oid": (26, "oid", 4, "N", 0, 1028), "json": (114, "json", -1, "U", 0, 199),
    "real": (700, "float4", 4, "N", 0, 1021), "double precision": (701, "float8", 8, "N", 0, 1022),
    "character": (1042, "bpchar", -1, "S", 0, 1014),
    "character varying": (1043, "varchar", -1, "S", 0, 1015),
    "date": (1082, "date", 4, "D", 0, 1182), "time": (1083, "time", 8, "D", 0, 1183),
    "timestamp": (1114, "timestamp", 8, "D", 0, 1115),
    "timestamp with time zone": (1184, "timestamptz", 8, "D", 0, 1185),
    "interval": (1186, "interval", 16, "T", 0, 1187), "numeric": (1700, "numeric", -1, "N", 0, 1231),
    "regclass": (2205, "regclass", 4, "N", 0, 2210), "regtype": (2206, "regtype", 4, "N", 0, 2211),
    "uuid": (2950, "uuid", 16, "U", 0, 2951), "jsonb": (3802, "jsonb", -1, "U", 0, 3807),
    "mz_timestamp": (16552, "mz_timestamp", 8, "U", 0, 16553),
    "boolean[]": (1000, "_bool", -1, "A", 16, 0), "smallint[]": (1005, "_int2", -1, "A", 21, 0),
    "integer[]": (1007, "_int4", -1, "A", 23, 0), "text[]": (1009, "_text", -1, "A", 25, 0),
    "bigint[]": (1016, "_int8", -1, "A", 20, 0), "oid[]": (1028, "_oid", -1, "A", 26, 0),
    "double precision[]": (1022, "_float8", -1, "A", 701, 0),
    "numeric[]": (1231, "_numeric", -1, "A", 1700, 0),
    "character varying[]": (1015, "_varchar", -1, "A", 1043, 0),
}
_BY_TYPNAME = {info[1]: name for name, info in TYPE_INFO.items()}

# Column kinds used below -> (DuckDB type, Arrow type)
_K = {"t": ("VARCHAR", pa.string()), "i": ("BIGINT", pa.int64()), "o": ("UINTEGER", pa.uint32()),
      "b": ("BOOLEAN", pa.bool_()), "s": ("SMALLINT", pa.int16()), "n": ("INTEGER", pa.int32()),
      "T": ("VARCHAR[]", pa.list_(pa.string())), "I": ("SMALLINT[]", pa.list_(pa.int16())),
      "O": ("UINTEGER[]", pa.list_(pa.uint32())), "f": ("REAL", pa.float32()),
      "z": ("TIMESTAMPTZ", pa.timestamp("us", tz="UTC")), "d": ("DOUBLE", pa.float64()),
      "v": ("INTERVAL", pa.month_day_nano_interval())}


def _cols(spec: str) -> list[tuple[str, str]]:
    """'id:t oid:o name:t' -> [("id", "t"), ("oid", "o"), ("name", "t")]."""
    return [tuple(part.split(":")) for part in spec.split()]


RELATIONS: dict[tuple[str, str], list[tuple[str, str]]] = {k: _cols(v) for k, v in {
    ("mz_catalog", "mz_objects"): "id:t oid:o schema_id:t name:t type:t owner_id:t cluster_id:t privileges:T",
    ("mz_catalog", "mz_relations"): "id:t oid:o schema_id:t name:t type:t owner_id:t cluster_id:t privileges:T",
    ("mz_catalog", "mz_tables"): "id:t oid:o schema_id:t name:t owner_id:t privileges:T create_sql:t redacted_create_sql:t source_id:t",
    ("mz_catalog", "mz_sources"): "id:t oid:o schema_id:t name:t type:t connection_id:t size:t envelope_type:t key_format:t value_format:t cluster_id:t owner_id:t privileges:T create_sql:t redacted_create_sql:t",
    ("mz_catalog", "mz_views"): "id:t oid:o schema_id:t name:t definition:t owner_id:t privileges:T create_sql:t redacted_create_sql:t",
    ("mz_catalog", "mz_materialized_views"): "id:t oid:o schema_id:t name:t cluster_id:t definition:t owner_id:t privileges:T create_sql:t redacted_create_sql:t",
    ("mz_catalog", "mz_indexes"): "id:t oid:o name:t on_id:t cluster_id:t owner_id:t create_sql:t redacted_create_sql:t",
    ("mz_catalog", "mz_index_columns"): "index_id:t index_position:i on_position:i on_expression:t nullable:b",
    ("mz_catalog", "mz_sinks"): "id:t oid:o schema_id:t name:t type:t connection_id:t size:t envelope_type:t format:t key_format:t value_format:t cluster_id:t owner_id:t create_sql:t redacted_create_sql:t",
    ("mz_catalog", "mz_connections"): "id:t oid:o schema_id:t name:t type:t owner_id:t privileges:T create_sql:t redacted_create_sql:t",
    ("mz_catalog", "mz_secrets"): "id:t oid:o schema_id:t name:t owner_id:t privileges:T",
    ("mz_catalog", "mz_columns"): "id:t name:t position:i nullable:b type:t default:t type_oid:o type_mod:n",
    ("mz_catalog", "mz_schemas"): "id:t oid:o database_id:t name:t owner_id:t privileges:T",
    ("mz_catalog", "mz_databases"): "id:t oid:o name:t owner_id:t privileges:T",
    ("mz_catalog", "mz_clusters"): "id:t name:t owner_id:t privileges:T managed:b size:t replication_factor:i disk:b availability_zones:T introspection_debugging:b introspection_interval:t",
    ("mz_catalog", "mz_cluster_replicas"): "id:t name:t cluster_id:t size:t availability_zone:t owner_id:t disk:b",
    ("mz_catalog", "mz_roles"): "id:t oid:o name:t inherit:b rolcanlogin:b rolsuper:b",
    ("mz_catalog", "mz_types"): "id:t oid:o schema_id:t name:t category:t owner_id:t privileges:T",
    ("mz_internal", "mz_comments"): "id:t object_type:t object_sub_id:n comment:t",
    ("mz_internal", "mz_object_dependencies"): "object_id:t referenced_object_id:t",
    **status.LIVE_RELATIONS,    # views over the running drivers (eddy.catalog.status)
    ("mz_internal", "mz_hydration_statuses"): "object_id:t replica_id:t hydrated:b",
    ("mz_internal", "mz_cluster_replica_statuses"): "replica_id:t process_id:i status:t reason:t updated_at:z",
    ("pg_catalog", "pg_namespace"): "oid:o nspname:t nspowner:o nspacl:T",
    ("pg_catalog", "pg_class"): "oid:o relname:t relnamespace:o reltype:o reloftype:o relowner:o relam:o relfilenode:o reltablespace:o relpages:n reltuples:f relallvisible:n reltoastrelid:o relhasindex:b relisshared:b relpersistence:t relkind:t relnatts:s relchecks:s relhasoids:b relhasrules:b relhastriggers:b relhassubclass:b relrowsecurity:b relforcerowsecurity:b relispopulated:b relreplident:t relispartition:b relacl:T reloptions:T",
    ("pg_catalog", "pg_attribute"): "attrelid:o attname:t atttypid:o attstattarget:n attlen:s attnum:s attndims:n attcacheoff:n atttypmod:n attbyval:b attstorage:t attalign:t attnotnull:b atthasdef:b attidentity:t attgenerated:t attisdropped:b attislocal:b attinhcount:n attcollation:o attacl:T attoptions:T",
    ("pg_catalog", "pg_type"): "oid:o typname:t typnamespace:o typowner:o typlen:s typbyval:b typtype:t typcategory:t typispreferred:b typisdefined:b typdelim:t typrelid:o typelem:o typarray:o typinput:t typoutput:t typreceive:t typnotnull:b typbasetype:o typtypmod:n typndims:n typcollation:o typdefault:t",
    ("pg_catalog", "pg_index"): "indexrelid:o indrelid:o indnatts:s indnkeyatts:s indisunique:b indisprimary:b indisexclusion:b indimmediate:b indisclustered:b indisvalid:b indcheckxmin:b indisready:b indislive:b indisreplident:b indkey:I indcollation:O indclass:O indoption:I indexprs:t indpred:t",
    ("pg_catalog", "pg_description"): "objoid:o classoid:o objsubid:n description:t",
    ("pg_catalog", "pg_database"): "oid:o datname:t datdba:o encoding:n datcollate:t datctype:t datistemplate:b datallowconn:b datconnlimit:n datacl:T",
    ("pg_catalog", "pg_roles"): "oid:o rolname:t rolsuper:b rolinherit:b rolcreaterole:b rolcreatedb:b rolcanlogin:b rolreplication:b rolconnlimit:n rolpassword:t rolvaliduntil:z rolbypassrls:b rolconfig:T",
    ("pg_catalog", "pg_user"): "usename:t usesysid:o usecreatedb:b usesuper:b userepl:b usebypassrls:b passwd:t valuntil:z useconfig:T",
    ("pg_catalog", "pg_settings"): "name:t setting:t unit:t category:t short_desc:t context:t vartype:t source:t",
    ("pg_catalog", "pg_am"): "oid:o amname:t amhandler:t amtype:t",
    ("pg_catalog", "pg_proc"): "oid:o proname:t pronamespace:o proowner:o prokind:t prorettype:o proargtypes:O proisagg:b proiswindow:b proretset:b provolatile:t prolang:o prosrc:t proargnames:T",
    ("pg_catalog", "pg_views"): "schemaname:t viewname:t viewowner:t definition:t",
    ("pg_catalog", "pg_matviews"): "schemaname:t matviewname:t matviewowner:t tablespace:t hasindexes:b ispopulated:b definition:t",
    ("pg_catalog", "pg_tables"): "schemaname:t tablename:t tableowner:t tablespace:t hasindexes:b hasrules:b hastriggers:b rowsecurity:b",
    ("pg_catalog", "pg_indexes"): "schemaname:t tablename:t indexname:t tablespace:t indexdef:t",
    ("pg_catalog", "pg_rewrite"): "oid:o rulename:t ev_class:o ev_type:t ev_enabled:t is_instead:b",
    ("pg_catalog", "pg_depend"): "classid:o objid:o objsubid:n refclassid:o refobjid:o refobjsubid:n deptype:t",
    ("pg_catalog", "pg_attrdef"): "oid:o adrelid:o adnum:s adbin:t",
    ("pg_catalog", "pg_constraint"): "oid:o conname:t connamespace:o contype:t condeferrable:b condeferred:b convalidated:b conrelid:o contypid:o conindid:o confrelid:o conkey:I confkey:I",
    ("pg_catalog", "pg_collation"): "oid:o collname:t collnamespace:o",
    ("pg_catalog", "pg_opclass"): "oid:o opcmethod:o opcname:t opcnamespace:o opcdefault:b",
    ("pg_catalog", "pg_inherits"): "inhrelid:o inhparent:o inhseqno:n",
    ("pg_catalog", "pg_policy"): "oid:o polname:t polrelid:o polcmd:t polpermissive:b polroles:O polqual:t polwithcheck:t",
    ("pg_catalog", "pg_trigger"): "oid:o tgrelid:o tgname:t tgenabled:t tgisinternal:b",
    ("pg_catalog", "pg_enum"): "oid:o enumtypid:o enumsortorder:f enumlabel:t",
    ("pg_catalog", "pg_tablespace"): "oid:o spcname:t spcowner:o",
    ("pg_catalog", "pg_extension"): "oid:o extname:t extowner:o extnamespace:o extversion:t",
    ("pg_catalog", "pg_sequence"): "seqrelid:o seqtypid:o seqstart:i seqincrement:i seqmax:i seqmin:i seqcache:i seqcycle:b",
    ("pg_catalog", "pg_auth_members"): "roleid:o member:o grantor:o admin_option:b",
    ("information_schema", "tables"): "table_catalog:t table_schema:t table_name:t table_type:t",
    ("information_schema", "views"): "table_catalog:t table_schema:t table_name:t view_definition:t",
    ("information_schema", "schemata"): "catalog_name:t schema_name:t schema_owner:t",
    ("information_schema", "columns"): "table_catalog:t table_schema:t table_name:t column_name:t ordinal_position:i column_default:t is_nullable:t data_type:t character_maximum_length:i numeric_precision:i numeric_scale:i datetime_precision:i udt_name:t",
}.items()}

_MZ_TYPE_OF_KIND = {"t": "text", "i": "bigint", "o": "oid", "b": "boolean", "s": "smallint",
                    "n": "integer", "T": "text[]", "I": "smallint[]", "O": "oid[]", "f": "real",
                    "z": "timestamp with time zone", "d": "double precision", "v": "interval"}


def physical(schema: str | None, name: str) -> str | None:
    """Quoted physical table of a system relation (`schema` None: search mz_catalog, pg_catalog)."""
    for candidate in ((schema,) if schema else SEARCH_PATH):
        if (candidate, name) in RELATIONS:
            return f'"{PHYSICAL_SCHEMAS[candidate]}"."{name}"'
    return None


def relation_columns(schema: str, name: str) -> list[tuple[str, str]]:
    """[(column, Materialize type)] of a system relation."""
    return [(col, _MZ_TYPE_OF_KIND[kind]) for col, kind in RELATIONS[(schema, name)]]


def _base_type(type_name: str) -> tuple[str, int]:
    """('numeric', typmod) from 'numeric(10,2)'; unknown types fall back to text."""
    text = type_name.strip().lower()
    base, _, mods = text.partition("(")
    base = base.strip()
    typmod = -1
    if mods and base == "numeric":
        p, _, s = mods.rstrip(")").partition(",")
        typmod = ((int(p) << 16) | int(s or 0)) + 4
    elif mods and base in ("character varying", "character", "varchar"):
        typmod = int(mods.rstrip(")")) + 4
    if base not in TYPE_INFO:
        base = _BY_TYPNAME.get(base, "text")
    return base, typmod


# ----------------------------------------------------------------------------- row building


class _Rows:
    def __init__(self):
        self.data: dict[tuple[str, str], list[tuple]] = {k: [] for k in RELATIONS}

    def add(self, schema: str, name: str, *row) -> None:
        self.data[(schema, name)].append(row)


_RELKIND = {"table": "r", "view": "v", "materialized-view": "m", "source": "r", "index": "i"}
_TABLE_TYPE = {"table": "BASE TABLE", "view": "VIEW", "materialized-view": "MATERIALIZED VIEW",
               "source": "SOURCE"}


def _structure(catalog: Catalog):
    """(databases {name: (id, oid)}, schemas {(db, name): (id, oid)}, clusters {name: id})."""
    databases, schemas, clusters = {}, {}, {}
    for o in catalog:
        if o.kind == "database":
            databases[o.name] = (o.id, o.oid)
        elif o.kind == "schema":
            schemas[(o.database, o.name)] = (o.id, o.oid)
        elif o.kind == "cluster":
            clusters[o.name] = o.id
    next_oid = 0x70000000      # only for objects the engine does not list itself
    for o in catalog:
        if o.database and o.database not in databases:
            databases[o.database] = (f"u-db-{o.database}", next_oid)
            next_oid += 1
        if o.schema and (o.database, o.schema) not in schemas:
            schemas[(o.database, o.schema)] = (f"u-sch-{o.database}-{o.schema}", next_oid)
            next_oid += 1
        if o.cluster and o.cluster not in clusters:
            clusters[o.cluster] = f"u-cl-{o.cluster}"
    databases.setdefault("materialize", ("u-db-materialize", next_oid))
    schemas.setdefault(("materialize", "public"), ("u-sch-materialize-public", next_oid + 1))
    clusters.setdefault("quickstart", "u-cl-quickstart")
    return databases, schemas, clusters


def _sql_body(create_sql: str) -> str | None:
    """The query of a CREATE [MATERIALIZED] VIEW statement (text after the first AS)."""
    m = re.search(r"\bAS\b\s*(.*)$", create_sql, re.IGNORECASE | re.DOTALL)
    return (m.group(1).strip().rstrip(";") + ";") if m else None


def build_rows(catalog: Catalog) -> dict[tuple[str, str], list[tuple]]:
    """Rows of every system relation for `catalog`."""
    r = _Rows()
    databases, schemas, clusters = _structure(catalog)
    by_id = {o.id: o for o in catalog}
    indexed = {o.on_id for o in catalog if o.kind == "index"}
    pg = SYSTEM_SCHEMAS[1][1]
    for name, (db_id, db_oid) in databases.items():
        r.add("mz_catalog", "mz_databases", db_id, db_oid, name, OWNER_ID, [])
        r.add("pg_catalog", "pg_database", db_oid, name, OWNER_OID, 6, "C", "C", False, True,
              -1, [])
    for sid, soid, sname in SYSTEM_SCHEMAS:
        r.add("mz_catalog", "mz_schemas", sid, soid, None, sname, OWNER_ID, [])
        r.add("pg_catalog", "pg_namespace", soid, sname, SYSTEM_ROLE_OID, [])
    for (db, name), (sid, soid) in schemas.items():
        r.add("mz_catalog", "mz_schemas", sid, soid, databases[db][0], name, OWNER_ID, [])
        r.add("pg_catalog", "pg_namespace", soid, name, OWNER_OID, [])
        r.add("information_schema", "schemata", db, name, "materialize")
    for name, cid in clusters.items():
        r.add("mz_catalog", "mz_clusters", cid, name, OWNER_ID, [], True, "25cc", 1, False, [],
              True, "1s")
        r.add("mz_catalog", "mz_cluster_replicas", f"{cid}-r1", "r1", cid, "25cc", None,
              OWNER_ID, False)
        r.add("mz_internal", "mz_cluster_replica_statuses", f"{cid}-r1", 0, "online", None, None)
    r.add("mz_catalog", "mz_roles", OWNER_ID, OWNER_OID, "materialize", True, True, True)
    r.add("mz_catalog", "mz_roles", "s1", SYSTEM_ROLE_OID, "mz_system", True, True, True)
    for oid, name, sup in ((OWNER_OID, "materialize", True), (SYSTEM_ROLE_OID, "mz_system", True)):
        r.add("pg_catalog", "pg_roles", oid, name, sup, True, True, True, True, False, -1,
              "********", None, False, [])
        r.add("pg_catalog", "pg_user", name, oid, True, sup, False, False, "********", None, [])
    r.add("pg_catalog", "pg_am", 403, "btree", "bthandler", "i")
    for mz_name, (oid, typname, typlen, cat, elem, arr) in TYPE_INFO.items():
        r.add("pg_catalog", "pg_type", oid, typname, pg, SYSTEM_ROLE_OID, typlen, 0 < typlen <= 8,
              "b", cat, False, True, ",", 0, elem, arr, f"{typname}in", f"{typname}out",
              f"{typname}recv", False, 0, -1, 0, 0, None)
        r.add("mz_catalog", "mz_types", f"s{oid}", oid, "s1", mz_name, cat, "s1", [])
    for setting, value in (("server_version", "9.5.0"), ("server_encoding", "UTF8"),
                           ("client_encoding", "UTF8"), ("standard_conforming_strings", "on"),
                           ("TimeZone", "UTC"), ("DateStyle", "ISO, MDY"),
                           ("integer_datetimes", "on"), ("max_identifier_length", "255")):
        r.add("pg_catalog", "pg_settings", setting, value, None, "eddy", "", "user", "string",
              "default")

    for o in catalog:
        if o.kind in ("database", "schema", "cluster"):
            continue
        schema_id, schema_oid = schemas.get((o.database, o.schema), (None, None))
        cluster_id = clusters.get(o.cluster) if o.cluster else None
        _object_rows(r, o, schema_id, schema_oid, cluster_id, by_id, indexed)
    return r.data


def _object_rows(r: _Rows, o: CatalogObject, schema_id, schema_oid, cluster_id, by_id,
                 indexed: set[str]) -> None:
    obj_cluster = cluster_id if o.kind in ("materialized-view", "index", "source", "sink") else None
    r.add("mz_catalog", "mz_objects", o.id, o.oid, schema_id, o.name, o.kind, OWNER_ID,
          obj_cluster, [])
    for dep in o.depends_on:
        r.add("mz_internal", "mz_object_dependencies", o.id, dep)
        if dep in by_id and by_id[dep].is_relation:
            r.add("pg_catalog", "pg_depend", 2618, o.oid + 1_000_000, 0, 1259, by_id[dep].oid, 0, "n")
    if o.comment is not None:
        r.add("mz_internal", "mz_comments", o.id, o.kind, None, o.comment)
        r.add("pg_catalog", "pg_description", o.oid, 1259, 0, o.comment)
    sql = o.create_sql
    if o.kind == "table":
        r.add("mz_catalog", "mz_tables", o.id, o.oid, schema_id, o.name, OWNER_ID, [], sql, sql, None)
    elif o.kind == "view":
        r.add("mz_catalog", "mz_views", o.id, o.oid, schema_id, o.name, _sql_body(sql), OWNER_ID,
              [], sql, sql)
        r.add("pg_catalog", "pg_views", o.schema, o.name, "materialize", _sql_body(sql))
        r.add("information_schema", "views", o.database, o.schema, o.name, _sql_body(sql))
    elif o.kind == "materialized-view":
        r.add("mz_catalog", "mz_materialized_views", o.id, o.oid, schema_id, o.name, cluster_id,
              _sql_body(sql), OWNER_ID, [], sql, sql)
        r.add("pg_catalog", "pg_matviews", o.schema, o.name, "materialize", None, False, True,
              _sql_body(sql))
    elif o.kind == "source":
        internal = o.internal or {}
        r.add("mz_catalog", "mz_sources", o.id, o.oid, schema_id, o.name,
              internal.get("source_type", "kafka" if "KAFKA" in sql.upper() else "subsource"),
              internal.get("connection_id"), None, internal.get("envelope_type"),
              internal.get("key_format"), internal.get("value_format"), cluster_id, OWNER_ID, [],
              sql, sql)
    elif o.kind == "sink":
        internal = o.internal or {}
        r.add("mz_catalog", "mz_sinks", o.id, o.oid, schema_id, o.name, "kafka",
              internal.get("connection_id"), None, internal.get("envelope_type"),
              internal.get("format"), internal.get("key_format"), internal.get("value_format"),
              cluster_id, OWNER_ID, sql, sql)
    elif o.kind in ("connection", "secret"):
        table = "mz_connections" if o.kind == "connection" else "mz_secrets"
        row = (o.id, o.oid, schema_id, o.name, "kafka", OWNER_ID, [], sql, sql)
        r.add("mz_catalog", table, *(row if o.kind == "connection" else row[:4] + row[5:7]))
    elif o.kind == "index":
        _index_rows(r, o, schema_oid, cluster_id, by_id)
    if o.is_relation:
        _relation_rows(r, o, schema_id, schema_oid, cluster_id, o.id in indexed)


def _index_rows(r: _Rows, o: CatalogObject, schema_oid, cluster_id, by_id) -> None:
    on = by_id.get(o.on_id)
    r.add("mz_catalog", "mz_indexes", o.id, o.oid, o.name, o.on_id, cluster_id, OWNER_ID,
          o.create_sql, o.create_sql)
    names = [c[0] for c in on.columns] if on else []
    positions = [names.index(k) + 1 if k in names else 0 for k in o.key_columns]
    for i, (key, pos) in enumerate(zip(o.key_columns, positions, strict=True)):
        r.add("mz_catalog", "mz_index_columns", o.id, i + 1, pos or None,
              None if pos else key, True)
    r.add("pg_catalog", "pg_class", o.oid, o.name, schema_oid, 0, 0, OWNER_OID, 403, 0, 0, 0, 0.0,
          0, 0, False, False, "p", "i", len(o.key_columns), 0, False, False, False, False, False,
          False, True, "d", False, [], [])
    if on is not None:
        r.add("pg_catalog", "pg_index", o.oid, on.oid, len(positions), len(positions), False, False,
              False, True, False, True, False, True, True, False, positions, [0] * len(positions),
              [0] * len(positions), [0] * len(positions), None, None)
        r.add("pg_catalog", "pg_indexes", on.schema, on.name, o.name, None, o.create_sql)
        r.add("mz_internal", "mz_hydration_statuses", o.id, f"{cluster_id}-r1", True)


def _relation_rows(r: _Rows, o: CatalogObject, schema_id, schema_oid, cluster_id,
                   indexed: bool) -> None:
    r.add("mz_catalog", "mz_relations", o.id, o.oid, schema_id, o.name, o.kind, OWNER_ID,
          cluster_id if o.kind in ("materialized-view", "source") else None, [])
    relkind = _RELKIND[o.kind]
    r.add("pg_catalog", "pg_class", o.oid, o.name, schema_oid, 0, 0, OWNER_OID, 0, 0, 0, 0, 0.0, 0,
          0, indexed, False, "p", relkind, len(o.columns), 0, False, o.kind == "view", False,
          False, False, False, True, "d", False, [], [])
    if o.kind == "view":
        r.add("pg_catalog", "pg_rewrite", o.oid + 1_000_000, "_RETURN", o.oid, "1", "O", True)
    if o.kind in ("table", "source"):
        r.add("pg_catalog", "pg_tables", o.schema, o.name, "materialize", None, False, False,
              False, False)
    if o.kind == "materialized-view":
        r.add("mz_internal", "mz_hydration_statuses", o.id, f"{cluster_id}-r1", True)
    r.add("information_schema", "tables", o.database, o.schema, o.name, _TABLE_TYPE[o.kind])
    for pos, (col, type_name, nullable) in enumerate(o.columns, start=1):
        base, typmod = _base_type(type_name)
        oid, _, typlen, _, _, _ = TYPE_INFO[base]
        r.add("mz_catalog", "mz_columns", o.id, col, pos, nullable, base, None, oid, typmod)
        r.add("pg_catalog", "pg_attribute", o.oid, col, oid, -1, typlen, pos, 0, -1, typmod,
              0 < typlen <= 8, "p", "i", not nullable, False, "", "", False, True, 0, 0, [], [])
        precision = scale = charlen = None
        if base == "numeric" and typmod > 0:
            precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
        elif base in ("character varying", "character") and typmod > 0:
            charlen = typmod - 4
        data_type = "ARRAY" if base.endswith("[]") else base
        r.add("information_schema", "columns", o.database, o.schema, o.name, col, pos, None,
              "YES" if nullable else "NO", data_type, charlen, precision, scale, None,
              TYPE_INFO[base][1])
        comment = (o.column_comments or {}).get(col)
        if comment is not None:
            r.add("mz_internal", "mz_comments", o.id, o.kind, pos, comment)
            r.add("pg_catalog", "pg_description", o.oid, 1259, pos, comment)


# ----------------------------------------------------------------------------- refresh


def _arrow(rows: list[tuple], cols: list[tuple[str, str]]) -> pa.Table:
    arrays = [pa.array([row[i] for row in rows], type=_K[kind][1])
              for i, (_, kind) in enumerate(cols)]
    return pa.Table.from_arrays(arrays, names=[c for c, _ in cols])


def refresh(conn, catalog: Catalog | list[CatalogObject]) -> None:
    """Bring the system relations up to date with `catalog` (call after each DDL commit).

    Incremental: a table whose rows did not change is left alone, one that only gained rows at
    the end (a CREATE) gets just those appended, any other is rewritten. The rows last written
    on `conn` are remembered in memory, guarded by a token stored with the per-table digests in
    `mz_internal._eddy_system_digests` (a rolled-back refresh changes no token, so the memory is
    dropped); on a fresh connection (engine start) the digests decide what to rewrite.
    """
    if not isinstance(catalog, Catalog):
        catalog = Catalog(list(catalog))
    data = build_rows(catalog)
    memo = _valid_memo(conn)
    known: dict[str, str] = {}
    if memo is None:
        for schema in PHYSICAL_SCHEMAS.values():
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_DIGESTS} "
                     "(name VARCHAR PRIMARY KEY, digest VARCHAR)")
        known = dict(conn.execute(f"SELECT name, digest FROM {_DIGESTS}").fetchall())
        status.install(conn, lambda schema: f'"{PHYSICAL_SCHEMAS[schema]}"')
        memo = _Memo()
    changed = []
    try:
        for (schema, name), cols in RELATIONS.items():
            if (schema, name) in status.LIVE_RELATIONS:
                continue
            key, rows = f"{schema}.{name}", data[(schema, name)]
            old = memo.rows.get(key)
            if old is not None:
                if old == rows:
                    continue
                _write(conn, physical(schema, name), cols, rows, old)
            elif known.get(key) != _digest((cols, rows)):
                _write(conn, physical(schema, name), cols, rows, None)
            else:
                memo.rows[key] = rows
                continue
            memo.rows[key] = rows
            changed.append((key, _digest((cols, rows))))
        digest = _digest(FUNCTIONS)
        if not memo.functions and known.get("functions") != digest:
            install_functions(conn)
            changed.append(("functions", digest))
        memo.functions = True
        memo.token = uuid.uuid4().hex
        changed.append((_TOKEN, memo.token))
        conn.execute(f"INSERT OR REPLACE INTO {_DIGESTS} SELECT unnest(?), unnest(?)",
                     [[k for k, _ in changed], [d for _, d in changed]])
    except BaseException:
        _MEMOS.pop(id(conn), None)
        raise
    _MEMOS[id(conn)] = (weakref.ref(conn), memo)


class _Memo:
    """What `refresh` last wrote on one connection."""

    def __init__(self):
        self.rows: dict[str, list[tuple]] = {}
        self.functions = False
        self.token = ""


_MEMOS: dict[int, tuple[weakref.ref, _Memo]] = {}
_DIGESTS = '"mz_internal"."_eddy_system_digests"'
_TOKEN = "__refresh_token"


def _valid_memo(conn) -> _Memo | None:
    """The memory of `conn`'s last refresh, if that refresh is what the database holds."""
    ref, memo = _MEMOS.get(id(conn), (None, None))
    if memo is None or ref() is not conn:
        return None
    row = conn.execute(f"SELECT digest FROM {_DIGESTS} WHERE name = ?", [_TOKEN]).fetchone()
    return memo if row is not None and row[0] == memo.token else None


def _write(conn, table: str, cols, rows: list[tuple], old: list[tuple] | None) -> None:
    """Append the new rows when `rows` extends `old`, else rewrite the table."""
    grew = old is not None and len(rows) > len(old) and rows[:len(old)] == old
    if not rows:        # most system tables of a new engine: no Arrow round trip
        columns = ", ".join(f'"{c}" {_K[kind][0]}' for c, kind in cols)
        conn.execute(f"CREATE OR REPLACE TABLE {table} ({columns})")
        return
    conn.register("_eddy_system_rows", _arrow(rows[len(old):] if grew else rows, cols))
    try:
        conn.execute(f"INSERT INTO {table} SELECT * FROM _eddy_system_rows" if grew else
                     f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _eddy_system_rows")
    finally:
        conn.unregister("_eddy_system_rows")


def _digest(value) -> str:
    return hashlib.sha1(repr(value).encode(), usedforsecurity=False).hexdigest()


# ----------------------------------------------------------------------------- name binding


def unqualified_relations() -> dict[str, str]:
    """{relation name: physical schema} for names clients write without a schema."""
    found: dict[str, str] = {}
    for schema in SEARCH_PATH:
        for s, name in RELATIONS:
            if s == schema:
                found.setdefault(name, PHYSICAL_SCHEMAS[s])
    return found


def _cast_target(to: exp.Expression) -> str | None:
    if isinstance(to, exp.ObjectIdentifier):
        return to.name.lower()
    if isinstance(to, exp.DataType) and isinstance(to.args.get("kind"), exp.Dot):
        return to.args["kind"].expression.name.lower()
    return None


_PG_SCALAR = {"text": "text", "oid": "bigint", "name": "text", "char": "text", "int2": "smallint",
              "int4": "integer", "int8": "bigint", "bool": "boolean", "float8": "double"}


def _rewrite_node(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Column) and node.args.get("db") is not None and \
            node.args["db"].name.lower() in PHYSICAL_SCHEMAS:      # pg_catalog.pg_class.oid
        node.set("db", None)
        node.set("catalog", None)
    elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func) and \
            isinstance(node.this, exp.Identifier | exp.Column) and \
            node.this.name.lower() in PHYSICAL_SCHEMAS:
        return node.expression.transform(_rewrite_node)         # pg_catalog.format_type(...)
    elif isinstance(node, exp.Operator) and str(node.args.get("operator")).endswith("~"):
        return exp.RegexpLike(this=node.this.transform(_rewrite_node),       # OPERATOR(pg_catalog.~)
                              expression=node.expression.transform(_rewrite_node))
    elif isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier) and \
            node.db and node.db.lower() in PHYSICAL_SCHEMAS:     # FROM pg_catalog.unnest(...)
        node.set("db", None)
        node.set("catalog", None)
    elif isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) and node.db and \
            (node.db.lower(), node.name.lower()) in RELATIONS:
        schema = node.db.lower()
        alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
        return exp.Table(this=exp.to_identifier(node.name.lower(), quoted=True),
                         db=exp.to_identifier(PHYSICAL_SCHEMAS[schema], quoted=True), alias=alias)
    return node


def _rewrite_cast(node: exp.Cast) -> exp.Expression:
    target = _cast_target(node.to)
    if target is not None:
        literal = (isinstance(node.this, exp.Literal) and node.this.is_string) or \
            isinstance(node.this, exp.Placeholder | exp.Parameter)      # a name, not an oid
        if target == "regtype":
            return exp.Anonymous(this="to_regtype", expressions=[node.this]) if literal else \
                exp.Anonymous(this="format_type", expressions=[node.this, exp.Null()])
        if target == "regclass":
            return exp.Anonymous(this="to_regclass", expressions=[node.this]) if literal else \
                exp.Anonymous(this="regclass_name", expressions=[node.this])
        if target in _PG_SCALAR:
            return exp.Cast(this=node.this, to=exp.DataType.build(_PG_SCALAR[target]))
    return node


def rewrite(ast: exp.Expression) -> exp.Expression:
    """Bind the system relations of a parsed query (sqlglot, postgres dialect) to their tables.

    For the engine's binder, before it resolves user objects: `pg_catalog.pg_class`,
    `"materialize".INFORMATION_SCHEMA.columns` and `mz_internal.mz_comments` become the physical
    tables (alias kept), `pg_catalog.pg_class.oid` column qualifiers lose the schema, and the
    PostgreSQL casts catalog queries use (`::regclass`, `::regtype`, `::pg_catalog.text`) and
    `OPERATOR(pg_catalog.~)` become the macros and operators above. Unqualified system names are
    the binder's: `unqualified_relations()` maps them.
    """
    ast = ast.transform(_rewrite_node)
    for cast in reversed(list(ast.find_all(exp.Cast))):     # innermost first
        new = _rewrite_cast(cast)
        if new is not cast:
            if cast is ast:
                return new
            cast.replace(new)
    return ast
