"""Avro sources on real Kafka and the stack's registry, checked against confluent-kafka's own
AvroDeserializer (an independent decoder): types and logical types, schema evolution both ways,
dead letters with reasons, columns fixed at creation across restarts, UPSERT and DEBEZIUM."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from avro_helpers import register, wire
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from kafka_harness import driver_of, kafka_engine, produce, query, wait_until

from eddy.sources.avro_registry import ConfluentConnector

pytestmark = pytest.mark.integration

V1 = {"type": "record", "name": "thing", "namespace": "t", "fields": [
    {"name": "id", "type": "string"},
    {"name": "n", "type": "int"},
    {"name": "big", "type": "long"},
    {"name": "ratio", "type": "float"},
    {"name": "score", "type": "double"},
    {"name": "ok", "type": "boolean"},
    {"name": "blob", "type": "bytes"},
    {"name": "color", "type": {"type": "enum", "name": "color", "symbols": ["RED", "GREEN"]}},
    {"name": "tag", "type": {"type": "fixed", "name": "tag4", "size": 4}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 3}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "clock", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "maybe", "type": ["null", "string"], "default": None},
    {"name": "items", "type": {"type": "array", "items": "int"}},
    {"name": "attrs", "type": {"type": "map", "values": "string"}},
    {"name": "inner", "type": {"type": "record", "name": "inner", "fields": [{"name": "x", "type": "int"}]}},
    {"name": "level", "type": "string", "default": "info"},
]}
TYPES = {"id": "text", "n": "integer", "big": "bigint", "ratio": "real", "score": "double precision",
         "ok": "boolean", "blob": "bytea", "color": "text", "tag": "bytea", "price": "numeric",
         "day": "date", "at_ms": "timestamp", "at_us": "timestamp",
         "clock": "time", "uid": "uuid", "maybe": "text", "items": "jsonb",
         "attrs": "jsonb", "inner": "jsonb", "level": "text"}
# v2 (a later writer): adds an optional field, drops `level` (which has a default in v1)
V2 = {**V1, "fields": [f for f in V1["fields"] if f["name"] != "level"]
      + [{"name": "extra", "type": ["null", "string"], "default": None}]}
INCOMPATIBLE = {**V1, "fields": [{"name": "id", "type": "long"}] + V1["fields"][1:]}


def record(i: int, schema=V1) -> dict:
    r = {"id": f"r{i}", "n": i, "big": 2**40 + i, "ratio": 0.5 * i, "score": i / 3, "ok": i % 2 == 0,
         "blob": bytes([i, 0, 255]), "color": "GREEN" if i % 2 else "RED", "tag": b"ab" + bytes([i, 7]),
         "price": Decimal(f"{i}.125"), "day": dt.date(2026, 1, 1) + dt.timedelta(days=i),
         "at_ms": dt.datetime(2026, 11, 20, 10, 11, 12, 345000, tzinfo=dt.UTC) + dt.timedelta(seconds=i),
         "at_us": dt.datetime(2026, 11, 20, 10, 11, 12, 345678, tzinfo=dt.UTC),
         "clock": dt.time(10, 11, 12, 345000), "uid": uuid.UUID(int=i + 1),
         "maybe": None if i % 3 else f"m{i}", "items": [i, i + 1], "attrs": {"k": str(i)},
         "inner": {"x": i}, "level": "warn"}
    if schema is V2:
        r.pop("level")
        r["extra"] = f"e{i}"
    return r


def as_row(r: dict) -> tuple:
    """What the source should hold for a record decoded with the reader schema V1."""
    return (r["id"], r["n"], r["big"], pytest.approx(r["ratio"]), r["score"], r["ok"], r["blob"],
            r["color"], r["tag"], r["price"], r["day"], r["at_ms"].replace(tzinfo=None),
            r["at_us"].replace(tzinfo=None), r["clock"], str(r["uid"]), r["maybe"], r["items"],
            r["attrs"], r["inner"], r["level"])


def normalize(row: tuple) -> tuple:
    row = list(row)
    row[6], row[8] = bytes(row[6]), bytes(row[8])
    row[14] = str(row[14])
    for j in (16, 17, 18):
        row[j] = json.loads(row[j]) if isinstance(row[j], str) else row[j]
    return tuple(row)


def setup(engine, bootstrap, url, statement):
    s = engine.session()
    s.execute(f"CREATE CONNECTION IF NOT EXISTS kc TO KAFKA (BROKER '{bootstrap}')")
    s.execute(f"CREATE CONNECTION IF NOT EXISTS csr TO CONFLUENT SCHEMA REGISTRY (URL '{url}')")
    s.execute(statement)
    s.close()


def avro_engine(data_dir=None):
    cm = kafka_engine(data_dir)
    engine = cm.__enter__()
    engine.register_connector(ConfluentConnector())
    return cm, engine


def test_types_evolution_dead_letters_and_fixed_columns(schema_registry, kafka_bootstrap,
                                                        kafka_topic, tmp_path):
    client = SchemaRegistryClient({"url": schema_registry.url})
    ctx = SerializationContext(kafka_topic, MessageField.VALUE)
    ser1 = AvroSerializer(client, json.dumps(V1))
    v1_msgs = [(f"k{i}".encode(), ser1(record(i), ctx)) for i in range(20)]
    produce(kafka_bootstrap, kafka_topic, v1_msgs)
    cm, engine = avro_engine(tmp_path / "eddy")
    try:
        setup(engine, kafka_bootstrap, schema_registry.url,
              f"CREATE SOURCE src FROM KAFKA CONNECTION kc (TOPIC '{kafka_topic}') "
              "FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr")
        # the subject evolves after the source was created: a v2 writer, then junk
        v2_id = register(client, f"{kafka_topic}-value", V2)
        bad_id = register(client, f"other-{kafka_topic}-value", INCOMPATIBLE)
        v2_msgs = [(b"k", wire(v2_id, V2, record(i, V2))) for i in range(20, 30)]
        good_v1 = wire(v1_id(client, kafka_topic), V1, record(99))
        junk = [(b"j", b'{"id": "json, not avro"}'), (b"j", b"\0\x7f\xff\xff\xf0" + good_v1[5:]),
                (b"j", good_v1[:-4]), (b"j", wire(bad_id, INCOMPATIBLE, {**record(98), "id": 5})),
                (b"j", None)]
        produce(kafka_bootstrap, kafka_topic, v2_msgs + junk)
        total = len(v1_msgs) + len(v2_msgs) + len(junk)
        wait_until(lambda: driver_of(engine, "src").status()["offset_committed"] == total,
                   what="every message committed")
        cols = query(engine, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'src' ORDER BY ordinal_position")
        assert dict(cols) == TYPES and [c for c, _ in cols] == [f["name"] for f in V1["fields"]]
        got = sorted(normalize(r) for r in query(engine, "SELECT * FROM src"))
        # the independent reference: confluent's deserializer, resolving to the reader schema V1
        de = AvroDeserializer(client, json.dumps(V1))
        want = [de(v, ctx) for _, v in v1_msgs + v2_msgs]
        want = sorted(as_row({**r, "level": r.get("level", "info")}) for r in want)
        assert len(got) == 30 and got == want
        assert query(engine, "SELECT count(*) FROM src WHERE level = 'info'")[0][0] == 10
        dead = {r[0]: r[1] for r in query(engine, 'SELECT "offset", error FROM src_dead_letters')}
        reasons = sorted(dead.values())
        assert len(reasons) == len(junk)
        for words in ("not Confluent Avro wire format", "unknown schema id 2147483632",
                      "corrupt Avro body", "incompatible with the reader schema", "null payload"):
            assert any(words in r for r in reasons), (words, reasons)
    finally:
        cm.__exit__(None, None, None)
    # a newer version of the subject does not change the columns: the schema was seeded
    register(client, f"{kafka_topic}-value", {**V2, "fields": V2["fields"] + [
        {"name": "later", "type": ["null", "long"], "default": None}]})
    cm, engine = avro_engine(tmp_path / "eddy")
    try:
        cols2 = query(engine, "SELECT column_name FROM information_schema.columns "
                              "WHERE table_name = 'src' ORDER BY ordinal_position")
        assert [c for c, in cols2] == [c for c, _ in cols]
        body = next(o.internal["body"] for o in engine.catalog if o.name == "src")
        assert "SEED VALUE SCHEMA" in body
        assert query(engine, "SELECT count(*) FROM src")[0][0] == 30
    finally:
        cm.__exit__(None, None, None)


def v1_id(client, topic: str) -> int:
    return client.get_version(f"{topic}-value", 1).schema_id


KEY = {"type": "record", "name": "key", "fields": [{"name": "id", "type": "int"}]}
ROW = {"type": "record", "name": "row", "fields": [
    {"name": "id", "type": "int"}, {"name": "name", "type": "string"}]}
ENVELOPE = {"type": "record", "name": "envelope", "fields": [
    {"name": "before", "type": ["null", ROW], "default": None},
    {"name": "after", "type": ["null", "row"], "default": None},
    {"name": "op", "type": "string"}]}


def test_upsert_and_debezium(schema_registry, kafka_bootstrap, make_topic):
    client = SchemaRegistryClient({"url": schema_registry.url})
    up_text, up_avro, dbz = make_topic("up-text"), make_topic("up-avro"), make_topic("dbz")
    value = {"type": "record", "name": "v", "fields": [{"name": "name", "type": "string"}]}
    vid = register(client, f"{up_text}-value", value)
    register(client, f"{up_avro}-value", value)
    kid = register(client, f"{up_avro}-key", KEY)
    eid = register(client, f"{dbz}-value", ENVELOPE)
    register(client, f"{dbz}-key", KEY)
    cm, engine = avro_engine()
    try:
        setup(engine, kafka_bootstrap, schema_registry.url,
              f"CREATE SOURCE up_text FROM KAFKA CONNECTION kc (TOPIC '{up_text}') KEY FORMAT TEXT "
              "VALUE FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE UPSERT")
        setup(engine, kafka_bootstrap, schema_registry.url,
              f"CREATE SOURCE up_avro FROM KAFKA CONNECTION kc (TOPIC '{up_avro}') "
              "FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE UPSERT")
        setup(engine, kafka_bootstrap, schema_registry.url,
              f"CREATE SOURCE dbz FROM KAFKA CONNECTION kc (TOPIC '{dbz}') "
              "FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE DEBEZIUM")
        produce(kafka_bootstrap, up_text, [(b"a", wire(vid, value, {"name": "a1"})),
                                           (b"b", wire(vid, value, {"name": "b1"})),
                                           (b"a", wire(vid, value, {"name": "a2"})), (b"b", None)], partition=0)
        produce(kafka_bootstrap, up_avro, [(wire(kid, KEY, {"id": i % 3}), wire(vid, value, {"name": f"n{i}"}))
                                           for i in range(7)] + [(wire(kid, KEY, {"id": 1}), None)], partition=0)
        produce(kafka_bootstrap, dbz, [
            (wire(kid, KEY, {"id": 1}), wire(eid, ENVELOPE, {"before": None, "after": {"id": 1, "name": "x"}, "op": "c"})),
            (wire(kid, KEY, {"id": 2}), wire(eid, ENVELOPE, {"before": None, "after": {"id": 2, "name": "y"}, "op": "c"})),
            (wire(kid, KEY, {"id": 1}), wire(eid, ENVELOPE, {"before": {"id": 1, "name": "x"}, "after": {"id": 1, "name": "x2"}, "op": "u"})),
            (wire(kid, KEY, {"id": 2}), wire(eid, ENVELOPE, {"before": {"id": 2, "name": "y"}, "after": None, "op": "d"})),
            (wire(kid, KEY, {"id": 3}), wire(eid, ENVELOPE, {"before": None, "after": {"id": 3, "name": "z"}, "op": "c"}))],
            partition=0)
        wait_until(lambda: driver_of(engine, "dbz").status()["offset_committed"] == 5
                   and driver_of(engine, "up_avro").status()["offset_committed"] == 8
                   and driver_of(engine, "up_text").status()["offset_committed"] == 4, what="committed")
        assert query(engine, "SELECT key, name FROM up_text") == [("a", "a2")]
        assert sorted(query(engine, "SELECT id, name FROM up_avro")) == [(0, "n6"), (2, "n5")]
        assert sorted(query(engine, "SELECT id, name FROM dbz")) == [(1, "x2"), (3, "z")]
        assert query(engine, "SELECT count(*) FROM dbz_dead_letters")[0][0] == 0
    finally:
        cm.__exit__(None, None, None)
