"""Parsing of `CREATE CONNECTION ... TO KAFKA (...)` and `CREATE SOURCE ... FROM KAFKA ...` bodies.

The semantics follow Materialize: `FORMAT JSON` gives one `data jsonb` column, `FORMAT TEXT` a
`text text` column, `FORMAT BYTES` (the default) a `data bytea` column; `FORMAT x` sets the key
and the value format, `KEY FORMAT x VALUE FORMAT y` each; `INCLUDE KEY, PARTITION, OFFSET,
TIMESTAMP [AS name]` add columns; `ENVELOPE UPSERT` keeps the latest value per key (the key is
included as `key` unless renamed) and a null value deletes it.

Beyond Materialize, a trailing `WITH (DEAD LETTER TOPIC = 't', JSON OBJECTS ONLY = false)`
republishes undecodable messages to a topic (they always land in `<source>_dead_letters`), and
lets a JSON source accept any JSON value (by default a JSON value must be an object, as every
event of the platform is).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eddy.errors import EddyError, unsupported
from eddy.sources.options import Cursor

FORMATS = {"JSON": "jsonb", "TEXT": "text", "BYTES": "bytea"}
UNSUPPORTED_FORMATS = ("PROTOBUF", "CSV", "REGEX")
# AVRO: the columns come from the registry (eddy.sources.avro_source); "data" is a placeholder
FORMATS["AVRO"] = "jsonb"
VALUE_COLUMN = {"JSON": "data", "TEXT": "text", "BYTES": "data", "AVRO": "data"}
INCLUDE_TYPES = {"PARTITION": "integer", "OFFSET": "bigint", "TIMESTAMP": "timestamp"}

# librdkafka settings for the connection options (Materialize's spelling -> librdkafka key)
CONNECTION_OPTIONS = {
    "SECURITY PROTOCOL": "security.protocol",
    "SASL MECHANISMS": "sasl.mechanisms",
    "SASL USERNAME": "sasl.username",
    "SASL PASSWORD": "sasl.password",
    "SSL CERTIFICATE AUTHORITY": "ssl.ca.pem",
    "SSL CERTIFICATE": "ssl.certificate.pem",
    "SSL KEY": "ssl.key.pem",
    "CLIENT ID": "client.id",
}
CONNECTION_KEYWORDS = ("BROKER", "BROKERS", "PROGRESS TOPIC", *CONNECTION_OPTIONS)
TOPIC_OPTIONS = ("TOPIC", "START OFFSET", "START TIMESTAMP", "GROUP ID PREFIX",
                 "DEAD LETTER TOPIC", "TOPIC METADATA REFRESH INTERVAL")
WITH_OPTIONS = ("DEAD LETTER TOPIC", "JSON OBJECTS ONLY", "RETAIN HISTORY", "SIZE")
DEAD_LETTER_COLUMNS = [
    ("topic", "text"),
    ("partition", "integer"),
    ("offset", "bigint"),
    ("key", "bytea"),
    ("raw", "bytea"),
    ("error", "text"),
    ("timestamp", "timestamp"),
    ("received_at", "timestamptz"),
]


@dataclass
class SourceSpec:
    """A parsed Kafka source body."""

    connection: str
    topic: str
    key_format: str | None = None  # JSON | TEXT | BYTES; None when the key is not decoded
    value_format: str = "BYTES"
    include: list[tuple[str, str]] = field(default_factory=list)  # (KEY|PARTITION|..., column)
    envelope: str = "NONE"  # NONE | UPSERT
    start_offsets: list[int] | None = None
    start_timestamp: int | None = None
    group_id_prefix: str | None = None
    dead_letter_topic: str | None = None
    json_objects_only: bool = True
    metadata_refresh_ms: int = 5000
    format_options: dict = field(default_factory=dict)  # FORMAT AVRO: registry, seeds

    @property
    def key_column(self) -> str | None:
        """The column that holds the decoded key, if any."""
        return next((name for what, name in self.include if what == "KEY"), None)

    @property
    def columns(self) -> list[tuple[str, str]]:
        """The source relation: key first (if included), the value, then metadata columns."""
        cols: list[tuple[str, str]] = []
        key = self.key_column
        if key is not None:
            cols.append((key, FORMATS[self.key_format or "BYTES"]))
        cols.append((VALUE_COLUMN[self.value_format], FORMATS[self.value_format]))
        cols += [(name, INCLUDE_TYPES[what]) for what, name in self.include if what != "KEY"]
        return cols

    @property
    def upsert_key(self) -> list[str] | None:
        return [self.key_column] if self.envelope == "UPSERT" else None


def parse_connection(body: str) -> dict:
    """`(BROKER 'h:p' | BROKERS ('a', 'b'), SECURITY PROTOCOL = ..., SASL ...)` -> options.

    Returns a JSON-able dict: {"kind": "kafka", "config": {librdkafka settings},
    "secrets": {librdkafka key: secret name}, "progress_topic": str | None}.
    """
    cur = Cursor(body, "CREATE CONNECTION ... TO KAFKA")
    config: dict[str, str] = {}
    secrets: dict[str, str] = {}
    progress_topic = None
    brokers: list[str] = []
    cur.expect_punct("(")
    while True:
        name = cur.option_name(CONNECTION_KEYWORDS)
        cur.accept_punct("=")
        if name == "BROKER":
            brokers.append(cur.expect_string())
        elif name == "BROKERS":
            cur.expect_punct("(")
            brokers.append(cur.expect_string())
            while cur.accept_punct(","):
                brokers.append(cur.expect_string())
            cur.expect_punct(")")
        elif name == "PROGRESS TOPIC":
            progress_topic = cur.expect_string()
        elif name in CONNECTION_OPTIONS:
            key = CONNECTION_OPTIONS[name]
            if cur.accept_word("SECRET"):
                secrets[key] = cur.expect_name()
            else:
                value = cur.expect_value()
                config[key] = value if isinstance(value, str) else str(value).lower()
        else:
            raise unsupported(f"CONNECTION option {name}")
        if not cur.accept_punct(","):
            break
    cur.expect_punct(")")
    cur.expect_end()
    if not brokers:
        raise EddyError("42601", "CREATE CONNECTION ... TO KAFKA: BROKER or BROKERS is required")
    for b in brokers:
        host, _, port = b.rpartition(":")
        if not host or not port.isdigit():
            raise EddyError("22023", f"invalid BROKER {b!r}: expected 'host:port'")
    if "security.protocol" in config:
        config["security.protocol"] = config["security.protocol"].upper()
    config["bootstrap.servers"] = ",".join(brokers)
    return {"kind": "kafka", "config": config, "secrets": secrets, "progress_topic": progress_topic}


def _parse_format(cur: Cursor, spec: SourceSpec | None = None) -> str:
    fmt = cur.next_word("JSON, TEXT or BYTES after FORMAT")
    if fmt == "AVRO" and spec is not None:
        from eddy.sources.avro_format import parse_avro_format
        parse_avro_format(cur, spec)
        return fmt
    if fmt in UNSUPPORTED_FORMATS:
        raise unsupported(f"FORMAT {fmt}")
    if fmt not in FORMATS:
        raise cur.error("JSON, TEXT or BYTES after FORMAT")
    return fmt


def parse_source(body: str) -> SourceSpec:
    """The text after `FROM KAFKA`: `CONNECTION conn (TOPIC 't' ...) [format] [INCLUDE ...]
    [ENVELOPE NONE | UPSERT] [WITH (...)]`."""
    cur = Cursor(body, "CREATE SOURCE ... FROM KAFKA")
    cur.expect_word("CONNECTION")
    spec = SourceSpec(connection=cur.expect_name(), topic="")
    with_options: dict = {}
    cur.expect_punct("(")
    while True:
        name = cur.option_name(TOPIC_OPTIONS)
        cur.accept_punct("=")
        if name == "TOPIC":
            spec.topic = cur.expect_string()
        elif name == "START OFFSET":
            cur.expect_punct("(")
            offsets = [cur.expect_int()]
            while cur.accept_punct(","):
                offsets.append(cur.expect_int())
            cur.expect_punct(")")
            if any(o < 0 for o in offsets):
                raise EddyError("22023", "START OFFSET values must be >= 0")
            spec.start_offsets = offsets
        elif name == "START TIMESTAMP":
            spec.start_timestamp = cur.expect_int()
        elif name == "GROUP ID PREFIX":
            spec.group_id_prefix = cur.expect_string()
        elif name == "DEAD LETTER TOPIC":
            with_options[name] = cur.expect_string()
        elif name == "TOPIC METADATA REFRESH INTERVAL":
            spec.metadata_refresh_ms = _interval_ms(cur)
        else:
            raise unsupported(f"KAFKA source option {name}")
        if not cur.accept_punct(","):
            break
    cur.expect_punct(")")
    if not spec.topic:
        raise EddyError("42601", "CREATE SOURCE ... FROM KAFKA: TOPIC is required")
    if spec.start_offsets is not None and spec.start_timestamp is not None:
        raise EddyError("42601", "START OFFSET and START TIMESTAMP cannot both be given")

    if cur.accept_word("KEY", "FORMAT"):
        spec.key_format = _parse_format(cur, spec)
        cur.expect_word("VALUE", "FORMAT")
        spec.value_format = _parse_format(cur, spec)
    elif cur.accept_word("FORMAT"):
        spec.value_format = spec.key_format = _parse_format(cur, spec)
    elif cur.at_word("VALUE", "FORMAT"):
        raise EddyError("42601", "VALUE FORMAT requires KEY FORMAT before it; use FORMAT for both")

    if cur.accept_word("INCLUDE"):
        _parse_include(cur, spec)
    if cur.accept_word("ENVELOPE"):
        env = cur.next_word("NONE or UPSERT after ENVELOPE")
        if env in ("DEBEZIUM", "MATERIALIZE") and not (env == "DEBEZIUM" and spec.value_format == "AVRO"):
            raise unsupported(f"ENVELOPE {env} for KAFKA sources")
        if env not in ("NONE", "UPSERT", "DEBEZIUM"):
            raise cur.error("NONE or UPSERT after ENVELOPE")
        spec.envelope = env
    if cur.accept_word("EXPOSE", "PROGRESS"):
        raise unsupported("EXPOSE PROGRESS")
    if cur.accept_word("WITH"):
        with_options.update(_parse_with(cur))
    cur.expect_end()

    spec.dead_letter_topic = with_options.get("DEAD LETTER TOPIC")
    objects_only = with_options.get("JSON OBJECTS ONLY", True)
    if not isinstance(objects_only, bool):
        raise EddyError("22023", "JSON OBJECTS ONLY must be true or false")
    spec.json_objects_only = objects_only
    if spec.envelope == "UPSERT":
        if spec.key_format is None:
            spec.key_format = "BYTES"
        if spec.key_column is None:
            spec.include.insert(0, ("KEY", "key"))
    elif spec.key_column is not None and spec.key_format is None:
        spec.key_format = "BYTES"
    names = [c for c, _ in spec.columns]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise EddyError("42701", f'column "{dup}" specified more than once; rename it with AS')
    return spec


def _parse_include(cur: Cursor, spec: SourceSpec) -> None:
    while True:
        what = cur.next_word("KEY, PARTITION, OFFSET or TIMESTAMP after INCLUDE")
        if what in ("HEADERS", "HEADER"):
            raise unsupported(f"INCLUDE {what}")
        if what != "KEY" and what not in INCLUDE_TYPES:
            raise cur.error("KEY, PARTITION, OFFSET or TIMESTAMP after INCLUDE")
        name = cur.expect_name() if cur.accept_word("AS") else what.lower()
        if any(w == what for w, _ in spec.include):
            raise EddyError("42601", f"INCLUDE {what} given more than once")
        spec.include.append((what, name))
        if not cur.accept_punct(","):
            return


def _parse_with(cur: Cursor) -> dict:
    out: dict = {}
    cur.expect_punct("(")
    while True:
        name = cur.option_name(WITH_OPTIONS)
        cur.accept_punct("=")
        if name not in WITH_OPTIONS:
            raise unsupported(f"WITH option {name} for KAFKA sources")
        if name == "RETAIN HISTORY":
            cur.accept_word("FOR")
        value = cur.expect_value()
        if name == "DEAD LETTER TOPIC" and not isinstance(value, str):
            raise EddyError("22023", "DEAD LETTER TOPIC must be a quoted topic name")
        out[name] = value
        if not cur.accept_punct(","):
            break
    cur.expect_punct(")")
    return out


def _interval_ms(cur: Cursor) -> int:
    value = cur.expect_value()
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    units = {"ms": 1, "s": 1000, "m": 60_000}
    for suffix, mult in sorted(units.items(), key=lambda kv: -len(kv[0])):
        num = text.removesuffix(suffix).strip()
        if text.endswith(suffix) and num.isdigit():
            return int(num) * mult
    raise EddyError("22023", f"invalid interval {value!r}")
