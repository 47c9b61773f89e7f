"""`--format avro`: the contract events as Avro in Confluent's wire format, with a schema registry.

One subject per topic, `<topic>-value`, holds the contract schema (`schema(topic)`): the fields of
CONTRACTS.md in order, `event_time` as `timestamp-millis`, money as `decimal(12, 2)`, nullable
fields as `["null", "string"]`. Version 2 (`--schema-evolution`) adds one optional field,
`client_version` (default null), a BACKWARD-compatible change: readers of version 1 keep working.
A message is a magic byte 0, the 4-byte schema id and the Avro body.

A message the generator deliberately malforms cannot be Avro of the contract; it is sent as
its raw (JSON) bytes, which a consumer sees as not-Avro and dead-letters, as a JSON consumer
dead-letters malformed JSON.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastavro import parse_schema, schemaless_writer
from fastavro.validation import validate as avro_validate

from loadgen.model import TOPICS
from loadgen.producer import KafkaSink

STRING = "string"
NULLABLE = ["null", "string"]
MONEY = {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}
TIMESTAMP = {"type": "long", "logicalType": "timestamp-millis"}
FIELD_TYPES = {  # fields whose Avro type is not a plain string
    "referrer": NULLABLE, "trace_id": NULLABLE, "quantity": "int",
    "item_count": "int", "unit_price": MONEY, "amount": MONEY, "success": "boolean",
}
NULLABLE_BY_TOPIC = {("clicks", "product_id"), ("device_changes", "device_id")}
EVOLVED_FIELD = "client_version"
EVOLVED_VALUE = "loadgen-2"
_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def schema(topic: str, version: int = 1) -> dict:
    """The Avro schema of `topic`'s events (version 2 adds an optional `client_version`)."""
    fields = [{"name": "event_id", "type": STRING}, {"name": "event_time", "type": TIMESTAMP}]
    for name in TOPICS[topic]:
        typ = NULLABLE if (topic, name) in NULLABLE_BY_TOPIC else FIELD_TYPES.get(name, STRING)
        fields.append({"name": name, "type": typ})
    if version >= 2:
        fields.append({"name": EVOLVED_FIELD, "type": NULLABLE, "default": None})
    return {"type": "record", "name": topic, "namespace": "shop.events", "fields": fields}


def to_datum(topic: str, event: dict, version: int = 1) -> dict:
    """The Avro datum of a contract event (JSON form): times to epoch ms, money to Decimal."""
    out = dict(event)
    t = datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))
    out["event_time"] = (t - _EPOCH) // _MS
    for name in ("amount", "unit_price"):
        if name in out and isinstance(out[name], int | float) and not isinstance(out[name], bool):
            out[name] = Decimal(repr(out[name])).quantize(_CENT)
    if version >= 2:
        out[EVOLVED_FIELD] = EVOLVED_VALUE
    return out


def frame(schema_id: int, parsed: dict, datum: dict) -> bytes:
    buf = io.BytesIO()
    buf.write(b"\0" + struct.pack(">I", schema_id))
    schemaless_writer(buf, parsed, datum)
    return buf.getvalue()


class ContractEncoder:
    """Registers the contract schemas and encodes events with the current version's id."""

    def __init__(self, registry_url: str, topic_prefix: str = ""):
        from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

        self._schema_cls = Schema
        self.client = SchemaRegistryClient({"url": registry_url})
        self.prefix = topic_prefix
        self.version = 0
        self.ids: dict[str, int] = {}
        self.parsed: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.use_version(1)

    def use_version(self, version: int) -> None:
        """Register version `version` of every contract schema and encode with it from now on."""
        ids, parsed = {}, {}
        for topic in TOPICS:
            s = schema(topic, version)
            subject = f"{self.prefix}{topic}-value"
            ids[topic] = self.client.register_schema(subject, self._schema_cls(json.dumps(s), "AVRO"))
            parsed[topic] = parse_schema(s)
        with self._lock:
            self.ids, self.parsed, self.version = ids, parsed, version

    def check(self, topic: str, event: dict) -> str | None:
        """None when `event` (a contract-valid event) fits the registered schema, else why."""
        try:
            datum = to_datum(topic, event, self.version)
            avro_validate(datum, self.parsed[topic], raise_errors=True)
        except Exception as e:  # noqa: BLE001 - fastavro's ValidationError and conversions
            return f"does not fit the registered Avro schema {self.prefix}{topic}-value: {e}"
        return None

    def encode(self, topic: str, event: dict) -> bytes:
        with self._lock:
            sid, parsed, version = self.ids[topic], self.parsed[topic], self.version
        return frame(sid, parsed, to_datum(topic, event, version))

    def encode_text(self, topic: str, value: str, mark: str | None) -> bytes | str:
        """The Kafka value of one generated message: Avro, or the raw text when malformed."""
        if mark is not None and mark.startswith("malformed"):
            return value
        return self.encode(topic, json.loads(value))


class AvroKafkaSink(KafkaSink):
    """`KafkaSink` producing Avro; with `evolve_after`, switches to schema version 2 once that
    many messages were sent (`--schema-evolution`)."""

    def __init__(self, bootstrap: str, registry_url: str, topic_prefix: str = "",
                 delivery_timeout_s: float = 30.0, evolve_after: int | None = None):
        super().__init__(bootstrap, topic_prefix, delivery_timeout_s)
        self.encoder = ContractEncoder(registry_url, topic_prefix)
        self.evolve_after = evolve_after
        self.sent = 0

    def send(self, messages: list) -> None:
        if self.evolve_after is not None and self.encoder.version == 1:
            head = max(0, self.evolve_after - self.sent)
            if head < len(messages):
                self._send(messages[:head])
                self.flush_pending()  # every v1 message is in Kafka before the first v2
                self.encoder.use_version(2)
                messages = messages[head:]
        self._send(messages)

    def _send(self, messages: list) -> None:
        if not messages:
            return
        enc = self.encoder.encode_text
        super().send([(t, k, enc(t, v, m), m) for t, k, v, m in messages])
        self.sent += len(messages)

    def flush_pending(self) -> None:
        self._producer.flush(self.timeout)
