"""Parsing of the `CREATE SINK ... INTO KAFKA` body.

`CONNECTION conn (TOPIC 't' [, TRANSACTIONAL ID PREFIX 'p'] [, TOPIC PARTITION COUNT n]
[, COMPRESSION TYPE 'lz4']) [KEY (col, ...) [NOT ENFORCED]] FORMAT JSON | KEY FORMAT JSON VALUE
FORMAT JSON, ENVELOPE UPSERT | DEBEZIUM`, as in Materialize. UPSERT needs a KEY.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eddy.errors import EddyError, unsupported
from eddy.sources.options import Cursor

SINK_OPTIONS = ("TOPIC", "TRANSACTIONAL ID PREFIX", "TOPIC PARTITION COUNT", "COMPRESSION TYPE",
                "PROGRESS GROUP ID PREFIX", "TOPIC REPLICATION FACTOR")


@dataclass
class SinkSpec:
    connection: str
    topic: str = ""
    key: list[str] = field(default_factory=list)
    envelope: str = "UPSERT"  # UPSERT | DEBEZIUM
    transactional_id_prefix: str | None = None
    partition_count: int | None = None
    compression: str | None = None
    format_options: dict = field(default_factory=dict)  # FORMAT AVRO: {"csr": connection}


def _format(cur: Cursor, spec: SinkSpec | None = None) -> None:
    fmt = cur.next_word()
    if fmt == "AVRO" and spec is not None and cur.at_word("USING"):
        cur.expect_word("USING", "CONFLUENT", "SCHEMA", "REGISTRY", "CONNECTION")
        spec.format_options["csr"] = cur.expect_name()
        return
    if fmt != "JSON":
        raise unsupported(f"FORMAT {fmt} for KAFKA sinks")


def parse_sink(body: str, columns: list[str]) -> SinkSpec:
    """The text after `INTO KAFKA`; `columns` are those of the sunk relation (for KEY checks)."""
    cur = Cursor(body, "CREATE SINK ... INTO KAFKA")
    cur.expect_word("CONNECTION")
    spec = SinkSpec(connection=cur.expect_name())
    cur.expect_punct("(")
    while True:
        name = cur.option_name(SINK_OPTIONS)
        cur.accept_punct("=")
        if name == "TOPIC":
            spec.topic = cur.expect_string()
        elif name == "TRANSACTIONAL ID PREFIX":
            spec.transactional_id_prefix = cur.expect_string()
        elif name == "TOPIC PARTITION COUNT":
            spec.partition_count = cur.expect_int()
        elif name == "COMPRESSION TYPE":
            spec.compression = str(cur.expect_value()).lower()
        elif name in SINK_OPTIONS:
            cur.expect_value()  # accepted for compatibility, no effect on one local broker
        else:
            raise unsupported(f"KAFKA sink option {name}")
        if not cur.accept_punct(","):
            break
    cur.expect_punct(")")
    if not spec.topic:
        raise EddyError("42601", "CREATE SINK ... INTO KAFKA: TOPIC is required")
    if cur.at_word("KEY") and not cur.at_word("KEY", "FORMAT"):
        cur.expect_word("KEY")
        cur.expect_punct("(")
        spec.key = [cur.expect_name()]
        while cur.accept_punct(","):
            spec.key.append(cur.expect_name())
        cur.expect_punct(")")
        cur.accept_word("NOT", "ENFORCED")
    if cur.accept_word("KEY", "FORMAT"):
        _format(cur)
        cur.expect_word("VALUE", "FORMAT")
        _format(cur)
    else:
        cur.expect_word("FORMAT")
        _format(cur, spec)
    cur.expect_word("ENVELOPE")
    env = cur.next_word()
    if env not in ("UPSERT", "DEBEZIUM"):
        raise unsupported(f"ENVELOPE {env} for KAFKA sinks")
    spec.envelope = env
    if cur.accept_word("WITH"):
        raise unsupported("WITH options for KAFKA sinks")
    cur.expect_end()
    missing = [k for k in spec.key if k not in columns]
    if missing:
        raise EddyError("42703", f'sink KEY column "{missing[0]}" does not exist')
    if env == "UPSERT" and not spec.key:
        raise EddyError("42601", "ENVELOPE UPSERT sinks need a KEY (col, ...)")
    return spec
