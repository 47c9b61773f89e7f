"""Helpers of the Avro tests: Confluent wire format by hand, registering with confluent's client."""

from __future__ import annotations

import io
import json
import struct

from fastavro import parse_schema, schemaless_writer


def wire(schema_id: int, schema: dict, record) -> bytes:
    """Confluent wire format: magic byte 0, big-endian schema id, Avro body."""
    buf = io.BytesIO()
    buf.write(b"\0" + struct.pack(">I", schema_id))
    schemaless_writer(buf, parse_schema(schema), record)
    return buf.getvalue()


def register(client, subject: str, schema: dict) -> int:
    from confluent_kafka.schema_registry import Schema
    return client.register_schema(subject, Schema(json.dumps(schema), "AVRO"))
