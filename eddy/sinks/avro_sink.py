"""Kafka sinks in `FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr`.

At start the sink registers the relation's schema under `<topic>-value` (a record `row` of the
relation's columns, all nullable; ENVELOPE DEBEZIUM wraps it as `{before, after}`) and, with a
KEY, the key columns under `<topic>-key`, then writes Confluent wire-format Avro. Types: text ->
string, smallint/integer -> int, bigint -> long, real -> float, double -> double, boolean,
bytea -> bytes, numeric(p, s) -> decimal(p, s) (numeric: decimal(38, 10), eddy's storage),
date -> date, time -> time-micros, timestamp and timestamptz -> timestamp-micros, uuid -> uuid
string, jsonb and anything else -> string (its text).

The exactly-once machinery of `eddy.sinks.kafka` (state replayed from the topic, one Kafka
transaction per tick) works on a canonical JSON text per row. Here that text is the row's
Avro datum with raw values (epoch micros, days, decimal text, hex bytes), so encoding it and
decoding a replayed message give the same text.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from decimal import Decimal

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from eddy.sinks.encode import Encoder, dumps
from eddy.sinks.kafka import KafkaSinkDriver, read_topic
from eddy.sources.avro_registry import RegistryClient, csr_connection
from eddy.sources.avro_schema import plain_schema

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_TZ = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SIMPLE = {"text": "string", "character varying": "string", "smallint": "int", "integer": "int",
          "bigint": "long", "real": "float", "double precision": "double", "boolean": "boolean",
          "bytea": "bytes"}


def avro_type(sql: str):
    sql = sql.lower()
    if sql in SIMPLE:
        return SIMPLE[sql]
    if sql.startswith("numeric"):
        p, s = (38, 10)
        if "(" in sql:
            mods = [int(x) for x in sql[sql.index("(") + 1:-1].split(",")]
            p, s = mods[0], mods[1] if len(mods) > 1 else 0
        return {"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s}
    if sql == "date":
        return {"type": "int", "logicalType": "date"}
    if sql.startswith("time") and "stamp" not in sql:
        return {"type": "long", "logicalType": "time-micros"}
    if sql.startswith("timestamp"):
        return {"type": "long", "logicalType": "timestamp-micros"}
    if sql == "uuid":
        return {"type": "string", "logicalType": "uuid"}
    return "string"


def record_schema(name: str, columns: list[tuple[str, str]]) -> dict:
    return {"type": "record", "name": name, "fields": [
        {"name": c, "type": ["null", avro_type(t)], "default": None} for c, t in columns]}


def raw(sql: str, value):
    """An engine value as its raw Avro value, JSON-able (decimals as text, bytes as hex)."""
    if value is None:
        return None
    a = avro_type(sql)
    logical = a.get("logicalType") if isinstance(a, dict) else None
    if logical == "decimal":
        return str(Decimal(value).quantize(Decimal(1).scaleb(-a["scale"])))
    if logical == "timestamp-micros":
        if isinstance(value, dt.datetime):
            base = EPOCH_TZ if value.tzinfo else EPOCH
            return (value - base) // dt.timedelta(microseconds=1)
        return int(value)
    if logical == "date":
        return (value - EPOCH.date()).days if isinstance(value, dt.date) else int(value)
    if logical == "time-micros":
        if isinstance(value, dt.time):
            return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
        return int(value)
    if a == "bytes":
        return bytes(value).hex()
    if a == "string":
        if isinstance(value, dict | list):
            return dumps(value)
        return str(value)
    if a in ("int", "long"):
        return int(value)
    if a in ("float", "double"):
        return float(value)
    return value


def datum(sql: str, value):
    """A raw value (from `raw` or a replayed message) as fastavro writes it (plain schema)."""
    if value is None:
        return None
    a = avro_type(sql)
    if isinstance(a, dict) and a.get("logicalType") == "decimal":
        return Decimal(value)
    if a == "bytes":
        return bytes.fromhex(value)
    return value


def from_datum(sql: str, value):
    """A decoded (plain schema) value as its raw form."""
    if value is None:
        return None
    a = avro_type(sql)
    if isinstance(a, dict) and a.get("logicalType") == "decimal":
        return str(value)
    if a == "bytes":
        return bytes(value).hex()
    return value


class AvroRows(Encoder):
    """Rows as the canonical text of their raw Avro values (what the sink state holds)."""

    def cell(self, value, type_name: str):
        return raw(type_name, value)


class AvroSinkDriver(KafkaSinkDriver):
    def __init__(self, ctx, spec, connection: dict, columns: list[tuple[str, str]]):
        super().__init__(ctx, spec, connection, columns)
        self.encoder = AvroRows(columns, spec.key)
        self.registry = RegistryClient.from_options(csr_connection(ctx, spec.format_options["csr"]), ctx)
        self.types = dict(columns)
        row = record_schema("row", columns)
        if spec.envelope == "DEBEZIUM":
            value = {"type": "record", "name": "envelope", "fields": [
                {"name": "before", "type": ["null", row], "default": None},
                {"name": "after", "type": ["null", "row"], "default": None}]}
        else:
            value = row
        self.value_schema = value
        self.key_schema = record_schema("key", [(k, self.types[k]) for k in spec.key]) if spec.key else None
        self._plain_value = parse_schema(plain_schema(value))
        self._plain_key = parse_schema(plain_schema(self.key_schema)) if self.key_schema else None
        self._ids: dict[str, int] = {}
        self._writers: dict[int, dict] = {}

    def _register(self) -> None:
        if self._ids:
            return
        topic = self.spec.topic
        self._ids["value"] = self.registry.register(f"{topic}-value", json.dumps(self.value_schema))
        if self.key_schema is not None:
            self._ids["key"] = self.registry.register(f"{topic}-key", json.dumps(self.key_schema))

    # -- hooks of KafkaSinkDriver ---------------------------------------------------------
    def _replay(self):
        self._register()
        for key, value in read_topic(self._config, self.spec.topic):
            yield (None if key is None else self._to_text(key, "key"),
                   None if value is None else self._to_text(value, "value"))

    def _wire(self, key, value):
        self._register()
        k = None if key is None or self._plain_key is None else \
            self._frame(self._ids["key"], self._plain_key, self._row_datum(json.loads(key)))
        if value is None:
            return k, None
        obj = json.loads(value)
        if self.spec.envelope == "DEBEZIUM":
            obj = {side: None if obj.get(side) is None else self._row_datum(obj[side])
                   for side in ("before", "after")}
        else:
            obj = self._row_datum(obj)
        return k, self._frame(self._ids["value"], self._plain_value, obj)

    # -- conversions ----------------------------------------------------------------------
    def _row_datum(self, row: dict) -> dict:
        return {c: datum(self.types[c], v) for c, v in row.items()}

    def _row_text(self, record: dict) -> dict:
        return {c: from_datum(self.types[c], v) for c, v in record.items()}

    @staticmethod
    def _frame(schema_id: int, schema: dict, obj: dict) -> bytes:
        buf = io.BytesIO()
        buf.write(b"\0" + struct.pack(">I", schema_id))
        schemaless_writer(buf, schema, obj)
        return buf.getvalue()

    def _to_text(self, payload: bytes, what: str) -> bytes:
        schema_id = int.from_bytes(payload[1:5], "big")
        if schema_id not in self._writers:
            self._writers[schema_id] = parse_schema(plain_schema(json.loads(
                self.registry.schema_by_id(schema_id))))
        record = schemaless_reader(io.BytesIO(payload[5:]), self._writers[schema_id], None)
        if what == "key":
            return dumps(self._row_text(record)).encode()
        if self.spec.envelope == "DEBEZIUM":
            return dumps({side: None if record.get(side) is None else self._row_text(record[side])
                          for side in ("before", "after")}).encode()
        return dumps(self._row_text(record)).encode()
