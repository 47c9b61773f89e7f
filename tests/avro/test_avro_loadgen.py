"""The load generator's Avro side: `loadgen api --format avro` checks each event against the
registered schema (an event the contract allows but the schema cannot hold is refused with the
reason) and produces Confluent wire-format Avro that confluent-kafka's AvroDeserializer reads."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from conftest import free_port

import stack
from loadgen.model import TOPICS

pytestmark = pytest.mark.integration


def post(port: int, body) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/collect", json.dumps(body).encode(), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def test_api_validates_against_the_registered_schema(schema_registry, kafka_bootstrap):
    prefix = f"lga{uuid.uuid4().hex[:6]}_"
    stack.create_topics(kafka_bootstrap, [prefix + t for t in TOPICS])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "loadgen", "api", "--port", str(port),
                             "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix,
                             "--format", "avro", "--registry-url", schema_registry.url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        good = {"event_id": "e1", "event_time": "2026-11-20T10:11:12.345Z", "user_id": "u1",
                "event_type": "add_to_cart", "product_id": "p1", "quantity": 2, "unit_price": 9.99}
        too_big = {**good, "event_id": "e2", "quantity": 3_000_000_000}  # an int of the contract, not of Avro's int
        status, body = post(port, [{"topic": "cart_events", "event": good},
                                   {"topic": "cart_events", "event": too_big}])
        assert status == 422 and body["accepted"] == 1
        [rejected] = body["rejected"]
        assert rejected["index"] == 1 and "registered Avro schema" in rejected["reason"]
        topic = prefix + "cart_events"
        c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": uuid.uuid4().hex})
        c.assign([TopicPartition(topic, p, 0) for p in range(3)])
        got = []
        for _ in range(30):
            got += [m for m in c.consume(10, 1.0) if m.error() is None]
            if got:
                break
        c.close()
        assert len(got) == 1 and got[0].value()[0] == 0 and got[0].key() == b"u1"
        de = AvroDeserializer(SchemaRegistryClient({"url": schema_registry.url}))
        event = de(got[0].value(), SerializationContext(topic, MessageField.VALUE))
        assert event["event_id"] == "e1" and event["quantity"] == 2
        assert str(event["unit_price"]) == "9.99" and event["event_time"].isoformat() == \
            "2026-11-20T10:11:12.345000+00:00"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        stack.delete_topics(kafka_bootstrap, [prefix + t for t in TOPICS])
