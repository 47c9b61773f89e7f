"""Avro sinks: `CREATE SINK ... FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr`
registers the relation's schema and writes Confluent wire-format Avro that confluent-kafka's
AvroDeserializer reads back as the relation's rows (UPSERT and DEBEZIUM), exactly once across
a restart of the engine."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from kafka_harness import driver_of, kafka_engine, query, wait_until

from eddy.sources.avro_registry import ConfluentConnector

pytestmark = pytest.mark.integration


def read_all(bootstrap: str, topic: str, url: str) -> list[tuple]:
    """(key, value) of every committed message, decoded by confluent's deserializer."""
    client = SchemaRegistryClient({"url": url})
    de = AvroDeserializer(client)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                  "isolation.level": "read_committed", "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10).topics[topic]
    c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
    out, eof = [], set()
    while len(eof) < len(md.partitions):
        for m in c.consume(500, 1.0):
            if m.error() is not None:
                eof.add(m.partition())
                continue
            k = de(m.key(), SerializationContext(topic, MessageField.KEY)) if m.key() else None
            v = de(m.value(), SerializationContext(topic, MessageField.VALUE)) if m.value() else None
            out.append((k, v))
    c.close()
    return out


def upsert_state(messages) -> dict:
    state = {}
    for k, v in messages:
        key = tuple(sorted(k.items()))
        if v is None:
            state.pop(key, None)
        else:
            state[key] = v
    return state


def test_avro_sink_upsert_and_debezium(schema_registry, kafka_bootstrap, tmp_path):
    up, dbz = f"sink-up-{uuid.uuid4().hex[:8]}", f"sink-dbz-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "eddy"
    with kafka_engine(data) as engine:
        engine.register_connector(ConfluentConnector())
        s = engine.session()
        s.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{kafka_bootstrap}')")
        s.execute(f"CREATE CONNECTION csr TO CONFLUENT SCHEMA REGISTRY (URL '{schema_registry.url}')")
        s.execute("CREATE TABLE t (id integer, name text, amount numeric(10,2), at timestamp, "
                  "day date, blob bytea, score double precision)")
        s.execute("CREATE MATERIALIZED VIEW v AS SELECT id, name, amount, at, day, blob, score FROM t")
        s.execute(f"CREATE SINK up FROM v INTO KAFKA CONNECTION kc (TOPIC '{up}') KEY (id) "
                  "FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE UPSERT")
        s.execute(f"CREATE SINK dbz FROM v INTO KAFKA CONNECTION kc (TOPIC '{dbz}') "
                  "FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE DEBEZIUM")
        s.execute("INSERT INTO t VALUES (1, 'a', 1.50, '2026-11-20 10:11:12.345678', '2026-01-02', "
                  "'\\x00ff', 0.25), (2, 'b', 2.00, NULL, NULL, NULL, NULL), "
                  "(3, 'c', 3.10, '2026-01-01 00:00:00', '2026-01-01', '\\x01', 1.5)")
        s.execute("UPDATE t SET name = 'b2', amount = 20.05 WHERE id = 2")
        s.execute("DELETE FROM t WHERE id = 3")
        wait_until(lambda: sorted(dict(k)["id"] for k in upsert_state(
                       read_all(kafka_bootstrap, up, schema_registry.url))) == [1, 2]
                   and driver_of(engine, "dbz").status()["pending_ticks"] == 0, timeout=120,
                   what="the sinks caught up")
        s.close()
    # a restart re-syncs from the topics: nothing is written twice
    with kafka_engine(data) as engine:
        engine.register_connector(ConfluentConnector())
        s = engine.session()
        s.execute("INSERT INTO t VALUES (4, 'd', 4.00, NULL, NULL, NULL, NULL)")
        wait_until(lambda: len(query(engine, "SELECT * FROM v")) == 3, what="restart")
        wait_until(lambda: len(upsert_state(read_all(kafka_bootstrap, up, schema_registry.url))) == 3,
                   timeout=90, what="id 4 in the upsert topic")
        names = ["id", "name", "amount", "at", "day", "blob", "score"]
        want = {r[0]: dict(zip(names, r, strict=True)) for r in query(engine, "SELECT * FROM v")}
        s.close()
    for row in want.values():  # timestamp-micros reads back as UTC
        row["at"] = row["at"] and row["at"].replace(tzinfo=dt.UTC)
        row["blob"] = row["blob"] and bytes(row["blob"])
    assert sorted(want) == [1, 2, 4] and want[2]["name"] == "b2" and want[2]["amount"] == Decimal("20.05")
    assert want[1]["at"] == dt.datetime(2026, 11, 20, 10, 11, 12, 345678, tzinfo=dt.UTC)
    up_msgs = read_all(kafka_bootstrap, up, schema_registry.url)
    state = upsert_state(up_msgs)
    assert {dict(k)["id"]: v for k, v in state.items()} == want
    # exactly once: the row that never changed was written once, also across the restart
    assert sum(1 for k, _ in up_msgs if dict(k)["id"] == 1) == 1
    assert sum(1 for _, v in read_all(kafka_bootstrap, dbz, schema_registry.url)
               if v["after"] is not None and v["after"]["id"] == 1) == 1
    dbz_msgs = read_all(kafka_bootstrap, dbz, schema_registry.url)
    rows: dict = {}
    for _, v in dbz_msgs:
        if v["before"] is not None:
            rows.pop(v["before"]["id"])
        if v["after"] is not None:
            rows[v["after"]["id"]] = v["after"]
    assert rows == want
    client = SchemaRegistryClient({"url": schema_registry.url})
    assert client.get_latest_version(f"{up}-key").schema.schema_str
