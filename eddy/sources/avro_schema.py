"""Avro schemas to relation columns, as Materialize maps them.

A record's fields become columns, in order. `["null", T]` is a nullable T. Types: boolean ->
boolean, int -> integer, long -> bigint, float -> real, double -> double precision, string and
enum -> text, bytes and fixed -> bytea; logical types: date -> date, time-millis/micros -> time,
timestamp-millis/micros and local-timestamp-* -> timestamp, decimal(p, s) -> numeric(p, s),
uuid -> uuid. Nested records, arrays, maps and unions of several types become jsonb (eddy has no
record or list column types).

For decoding, the schema is rewritten without the time logical types (`plain_schema`), so
fastavro hands back the raw integers and Arrow casts whole columns (no datetime per value).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import pyarrow as pa

from eddy.errors import EddyError

PRIMITIVE = {"boolean": "boolean", "int": "integer", "long": "bigint", "float": "real",
             "double": "double precision", "string": "text", "bytes": "bytea"}
# logical type -> (column type, Arrow type of the raw value, Arrow type of the column)
TIME_LOGICAL = {
    "date": ("date", pa.int32(), pa.date32()),
    "time-millis": ("time", pa.int32(), pa.time32("ms")),
    "time-micros": ("time", pa.int64(), pa.time64("us")),
    "timestamp-millis": ("timestamp", pa.int64(), pa.timestamp("ms")),
    "timestamp-micros": ("timestamp", pa.int64(), pa.timestamp("us")),
    "local-timestamp-millis": ("timestamp", pa.int64(), pa.timestamp("ms")),
    "local-timestamp-micros": ("timestamp", pa.int64(), pa.timestamp("us")),
}
ARROW = {"boolean": pa.bool_(), "integer": pa.int32(), "bigint": pa.int64(), "real": pa.float32(),
         "double precision": pa.float64(), "text": pa.string(), "bytea": pa.binary(),
         "uuid": pa.string(), "jsonb": pa.string()}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the SQL type name
    raw: pa.DataType  # what the decoded Python values convert to
    arrow: pa.DataType  # the column's Arrow type (a cast from `raw` when they differ)
    json: bool = False  # nested value: serialized to jsonb text


def parse(text: str) -> dict | list | str:
    try:
        return json.loads(text)
    except ValueError as e:
        raise EddyError("22P02", f"invalid Avro schema JSON: {e}") from None


def _named(schema, names: dict):
    """Resolve a reference to a named type defined earlier in the schema."""
    if isinstance(schema, str) and schema not in PRIMITIVE and schema != "null":
        if schema not in names:
            raise EddyError("22P02", f"Avro schema refers to unknown type {schema!r}")
        return names[schema]
    return schema


def _collect_names(schema, names: dict, namespace: str = "") -> None:
    if isinstance(schema, list):
        for s in schema:
            _collect_names(s, names, namespace)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "error", "enum", "fixed"):
            ns = schema.get("namespace", namespace)
            name = schema["name"]
            names[name] = schema
            names[name if "." in name or not ns else f"{ns}.{name}"] = schema
            for f in schema.get("fields", []):
                _collect_names(f["type"], names, ns)
        elif t == "array":
            _collect_names(schema["items"], names, namespace)
        elif t == "map":
            _collect_names(schema["values"], names, namespace)
        elif isinstance(t, dict | list):
            _collect_names(t, names, namespace)


def column_of(name: str, schema, names: dict) -> Column:
    """The column a field of type `schema` becomes."""
    schema = _named(schema, names)
    if isinstance(schema, list):
        branches = [s for s in schema if s != "null"]
        if len(branches) == 1:
            return column_of(name, branches[0], names)
        return Column(name, "jsonb", pa.string(), pa.string(), json=True)
    if isinstance(schema, str):
        if schema == "null":
            return Column(name, "text", pa.string(), pa.string())
        t = PRIMITIVE[schema]
        return Column(name, t, ARROW[t], ARROW[t])
    t = schema.get("type")
    logical = schema.get("logicalType")
    if logical in TIME_LOGICAL and t in ("int", "long"):
        sql, raw, arrow = TIME_LOGICAL[logical]
        return Column(name, sql, raw, arrow)
    if logical == "decimal" and t in ("bytes", "fixed"):
        p, s = int(schema["precision"]), int(schema.get("scale", 0))
        if p > 38:
            return Column(name, "numeric", pa.decimal128(38, min(s, 10)), pa.decimal128(38, min(s, 10)))
        return Column(name, f"numeric({p},{s})", pa.decimal128(p, s), pa.decimal128(p, s))
    if logical == "uuid" and t == "string":
        return Column(name, "uuid", pa.string(), pa.string())
    if t in ("enum",):
        return Column(name, "text", pa.string(), pa.string())
    if t == "fixed":
        return Column(name, "bytea", pa.binary(), pa.binary())
    if t in ("record", "error", "array", "map"):
        return Column(name, "jsonb", pa.string(), pa.string(), json=True)
    if isinstance(t, str | list | dict):
        return column_of(name, t, names)
    raise EddyError("0A000", f"Avro type {t!r} not supported")


def record_columns(schema) -> list[Column]:
    """The columns of a top-level record schema (a non-record value is one column `value`)."""
    names: dict = {}
    _collect_names(schema, names)
    resolved = _named(schema, names)
    if isinstance(resolved, dict) and resolved.get("type") in ("record", "error"):
        return [column_of(f["name"], f["type"], names) for f in resolved["fields"]]
    return [column_of("value", schema, names)]


def plain_schema(schema):
    """A copy of `schema` without the date/time and uuid logical types (raw ints and strings
    are decoded; Arrow casts the columns)."""
    schema = copy.deepcopy(schema)

    def strip(node):
        if isinstance(node, list):
            for s in node:
                strip(s)
        elif isinstance(node, dict):
            if node.get("logicalType") in TIME_LOGICAL or node.get("logicalType") == "uuid":
                node.pop("logicalType")
            for key in ("type", "items", "values"):
                if isinstance(node.get(key), dict | list):
                    strip(node[key])
            for f in node.get("fields", []):
                if isinstance(f.get("type"), dict | list):
                    strip(f["type"])
    strip(schema)
    return schema


def debezium_after(schema) -> dict:
    """The row schema of a Debezium envelope (the `after` field's record)."""
    names: dict = {}
    _collect_names(schema, names)
    resolved = _named(schema, names)
    fields = {f["name"]: f["type"] for f in resolved.get("fields", [])} if isinstance(resolved, dict) else {}
    if "after" not in fields or "before" not in fields:
        raise EddyError("22P02", "ENVELOPE DEBEZIUM needs a value schema with `before` and `after` fields")
    after = fields["after"]
    if isinstance(after, list):
        after = next((s for s in after if s != "null"), None)
    after = _named(after, names)
    if not isinstance(after, dict) or after.get("type") != "record":
        raise EddyError("22P02", "ENVELOPE DEBEZIUM: `after` must be a (nullable) record")
    return after
