"""confluent-kafka's own schema registry clients against the stack's Apicurio Registry: register,
fetch by id and by version, the compatibility check's 409, Avro serdes through real Kafka, and
schemas kept across a registry restart."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

pytestmark = pytest.mark.integration

V1 = {"type": "record", "name": "payment", "fields": [
    {"name": "id", "type": "string"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}}]}
V2 = {**V1, "fields": V1["fields"] + [{"name": "note", "type": ["null", "string"], "default": None}]}
BAD = {**V1, "fields": [{"name": "id", "type": "long"}, V1["fields"][1]]}  # id: string -> long


def test_register_fetch_and_refuse_incompatible(schema_registry):
    client = SchemaRegistryClient({"url": schema_registry.url})
    subject = f"pay-{uuid.uuid4().hex[:8]}-value"
    id1 = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
    assert client.register_schema(subject, Schema(json.dumps(V1), "AVRO")) == id1  # idempotent
    id2 = client.register_schema(subject, Schema(json.dumps(V2), "AVRO"))
    assert id2 != id1
    fresh = SchemaRegistryClient({"url": schema_registry.url})  # no cache
    assert json.loads(fresh.get_schema(id1).schema_str) == V1
    assert json.loads(fresh.get_schema(id2).schema_str) == V2
    v1, latest = fresh.get_version(subject, 1), fresh.get_latest_version(subject)
    assert (v1.version, v1.schema_id, json.loads(v1.schema.schema_str)) == (1, id1, V1)
    assert (latest.version, latest.schema_id) == (2, id2)
    assert fresh.get_versions(subject) == [1, 2]
    with pytest.raises(SchemaRegistryError) as refused:
        fresh.register_schema(subject, Schema(json.dumps(BAD), "AVRO"))
    assert refused.value.http_status_code == 409 and refused.value.error_code == 409
    assert fresh.get_versions(subject) == [1, 2]  # nothing was added


def test_avro_serdes_through_kafka(schema_registry, kafka_bootstrap, kafka_topic):
    client = SchemaRegistryClient({"url": schema_registry.url})
    ser = AvroSerializer(client, json.dumps(V2))
    from decimal import Decimal
    records = [{"id": f"p{i}", "amount": Decimal(f"{i}.{i % 100:02d}"), "note": None if i % 2 else "x"}
               for i in range(50)]
    p = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for r in records:
        p.produce(kafka_topic, ser(r, SerializationContext(kafka_topic, MessageField.VALUE)))
    assert p.flush(30) == 0
    subject = f"{kafka_topic}-value"  # TopicNameStrategy, auto-registered
    assert SchemaRegistryClient({"url": schema_registry.url}).get_latest_version(subject).version == 1
    de = AvroDeserializer(SchemaRegistryClient({"url": schema_registry.url}))
    c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": uuid.uuid4().hex,
                  "auto.offset.reset": "earliest"})
    c.subscribe([kafka_topic])
    got = []
    for _ in range(60):
        for m in c.consume(100, 1.0):
            if m.error() is None:
                assert m.value()[0] == 0  # Confluent wire format
                got.append(de(m.value(), SerializationContext(kafka_topic, MessageField.VALUE)))
        if len(got) == len(records):
            break
    c.close()
    assert sorted(got, key=lambda r: r["id"]) == sorted(records, key=lambda r: r["id"])


def test_schemas_survive_a_registry_restart(schema_registry):
    client = SchemaRegistryClient({"url": schema_registry.url})
    subject = f"keep-{uuid.uuid4().hex[:8]}-value"
    sid = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
    schema_registry.restart()
    fresh = SchemaRegistryClient({"url": schema_registry.url})
    assert json.loads(fresh.get_schema(sid).schema_str) == V1
    assert fresh.get_latest_version(subject).schema_id == sid
    with pytest.raises(SchemaRegistryError) as refused:  # the compatibility level is kept too
        fresh.register_schema(subject, Schema(json.dumps(BAD), "AVRO"))
    assert refused.value.error_code == 409
