"""Column types: Materialize names, DuckDB storage types and PostgreSQL OIDs."""

from __future__ import annotations

import re

# Materialize type name -> (PostgreSQL OID, DuckDB type)
TYPES: dict[str, tuple[int, str]] = {
    "boolean": (16, "BOOLEAN"),
    "bytea": (17, "BLOB"),
    "bigint": (20, "BIGINT"),
    "smallint": (21, "SMALLINT"),
    "integer": (23, "INTEGER"),
    "text": (25, "VARCHAR"),
    "oid": (26, "UINTEGER"),
    "real": (700, "FLOAT"),
    "double precision": (701, "DOUBLE"),
    "character varying": (1043, "VARCHAR"),
    "character": (1042, "VARCHAR"),
    "date": (1082, "DATE"),
    "time": (1083, "TIME"),
    "timestamp": (1114, "TIMESTAMP"),
    "timestamp with time zone": (1184, "TIMESTAMPTZ"),
    "interval": (1186, "INTERVAL"),
    "numeric": (1700, "DECIMAL(38,10)"),
    "uuid": (2950, "UUID"),
    "jsonb": (3802, "JSON"),
    "mz_timestamp": (16552, "UBIGINT"),
    "text[]": (1009, "VARCHAR[]"),
    "integer[]": (1007, "INTEGER[]"),
    "bigint[]": (1016, "BIGINT[]"),
    "record": (2249, "VARCHAR"),
}

ALIASES = {
    "int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint",
    "bool": "boolean", "float8": "double precision", "float": "double precision",
    "double": "double precision", "float4": "real", "varchar": "character varying",
    "char": "character", "string": "text", "decimal": "numeric",
    "timestamptz": "timestamp with time zone", "timestamp without time zone": "timestamp",
    "json": "jsonb", "time without time zone": "time",
}

DUCK_TO_MZ = {
    "BOOLEAN": "boolean", "BLOB": "bytea", "BIGINT": "bigint", "SMALLINT": "smallint",
    "TINYINT": "smallint", "INTEGER": "integer", "VARCHAR": "text", "FLOAT": "real",
    "DOUBLE": "double precision", "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp", "TIMESTAMP_MS": "timestamp", "TIMESTAMP_S": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "INTERVAL": "interval",
    "HUGEINT": "numeric", "UBIGINT": "numeric", "UINTEGER": "bigint", "USMALLINT": "integer",
    "UTINYINT": "smallint", "UUID": "uuid", "JSON": "jsonb", "VARCHAR[]": "text[]",
    "INTEGER[]": "integer[]", "BIGINT[]": "bigint[]", '"NULL"': "text", "NULL": "text",
    "UHUGEINT": "numeric",
}


def normalize(name: str) -> str:
    """Canonical Materialize name of a type as written in DDL (keeps numeric(p,s))."""
    text = " ".join(name.strip().lower().split())
    base = re.sub(r"\s*\(.*\)", "", text)
    mods = text[len(base):].strip() if text.startswith(base) else ""
    base = ALIASES.get(base, base)
    if base in ("numeric",) and mods:
        return f"numeric{mods.replace(' ', '')}"
    if base in TYPES:
        return base
    if base.endswith("[]") and ALIASES.get(base[:-2], base[:-2]) + "[]" in TYPES:
        return ALIASES.get(base[:-2], base[:-2]) + "[]"
    from eddy.errors import unsupported

    raise unsupported(f"type {name}")


def duckdb_type(mz_name: str) -> str:
    """DuckDB storage type for a (normalized) Materialize type name."""
    if mz_name.startswith("numeric("):
        return "DECIMAL" + mz_name[len("numeric"):]
    return TYPES[mz_name][1]


def from_duckdb(duck: str) -> str:
    """Materialize type name for a DuckDB result type."""
    duck = str(duck).upper()
    if duck.startswith("DECIMAL"):
        return "numeric"
    if duck in DUCK_TO_MZ:
        return DUCK_TO_MZ[duck]
    if duck.endswith("[]"):
        return "text[]"
    if duck.startswith(("STRUCT", "MAP")):
        return "record"
    return "text"


def oid(mz_name: str) -> int:
    """PostgreSQL type OID of a Materialize type name."""
    if mz_name.startswith("numeric"):
        return 1700
    return TYPES.get(mz_name, (25, ""))[0]
