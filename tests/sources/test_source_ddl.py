"""Parsing of CREATE CONNECTION ... TO KAFKA and CREATE SOURCE ... FROM KAFKA bodies."""

import pytest

from eddy.errors import EddyError
from eddy.sinks.ddl import parse_sink
from eddy.sources.ddl import DEAD_LETTER_COLUMNS, parse_connection, parse_source


def test_connection_broker_and_security_options_map_to_librdkafka():
    opts = parse_connection(
        "(BROKER '127.0.0.1:9092', SECURITY PROTOCOL = 'sasl_plaintext', "
        "SASL MECHANISMS = 'PLAIN', SASL USERNAME = 'u', SASL PASSWORD = SECRET kpass)")
    assert opts["config"] == {
        "bootstrap.servers": "127.0.0.1:9092", "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN", "sasl.username": "u"}
    assert opts["secrets"] == {"sasl.password": "kpass"}


def test_connection_brokers_list_and_bare_protocol():
    opts = parse_connection("(BROKERS ('a:1', 'b:2'), SECURITY PROTOCOL PLAINTEXT, PROGRESS TOPIC 'p')")
    assert opts["config"]["bootstrap.servers"] == "a:1,b:2"
    assert opts["config"]["security.protocol"] == "PLAINTEXT"
    assert opts["progress_topic"] == "p"


@pytest.mark.parametrize("body, code, words", [
    ("(SECURITY PROTOCOL = 'SSL')", "42601", "BROKER"),
    ("(BROKER 'nohost')", "22023", "host:port"),
    ("(BROKER 'a:1', AWS PRIVATELINK x)", "0A000", "AWS PRIVATELINK"),
    ("(BROKER 'a:1'", "42601", "')'"),
    ("(BROKER 'a:1) ", "42601", "syntax error"),
])
def test_connection_errors_name_the_problem(body, code, words):
    with pytest.raises(EddyError) as e:
        parse_connection(body)
    assert e.value.sqlstate == code
    assert words in e.value.message


def test_json_source_has_one_jsonb_column():
    spec = parse_source("CONNECTION kc (TOPIC 'clicks') FORMAT JSON")
    assert spec.topic == "clicks" and spec.connection == "kc"
    assert spec.columns == [("data", "jsonb")]
    assert spec.upsert_key is None


def test_text_and_bytes_sources_and_default_format():
    assert parse_source("CONNECTION kc (TOPIC 't') FORMAT TEXT").columns == [("text", "text")]
    assert parse_source("CONNECTION kc (TOPIC 't') FORMAT BYTES").columns == [("data", "bytea")]
    assert parse_source("CONNECTION kc (TOPIC 't')").columns == [("data", "bytea")]


def test_include_adds_metadata_columns_in_order_with_renames():
    spec = parse_source(
        "CONNECTION kc (TOPIC 't') KEY FORMAT TEXT VALUE FORMAT JSON "
        "INCLUDE PARTITION, OFFSET AS off, TIMESTAMP AS ts, KEY AS user_id ENVELOPE NONE")
    assert spec.columns == [("user_id", "text"), ("data", "jsonb"), ("partition", "integer"),
                            ("off", "bigint"), ("ts", "timestamp")]


def test_upsert_includes_the_key_and_names_it_the_upsert_key():
    spec = parse_source("CONNECTION kc (TOPIC 't') KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT")
    assert spec.columns == [("key", "text"), ("data", "jsonb")]
    assert spec.upsert_key == ["key"]
    spec = parse_source("CONNECTION kc (TOPIC 't') FORMAT JSON INCLUDE KEY AS k ENVELOPE UPSERT")
    assert spec.upsert_key == ["k"] and spec.columns[0] == ("k", "jsonb")


def test_start_offsets_timestamp_and_with_options():
    spec = parse_source("CONNECTION kc (TOPIC 't', START OFFSET (1, 2, 3)) FORMAT JSON "
                        "WITH (DEAD LETTER TOPIC = 't_dlq', JSON OBJECTS ONLY = false)")
    assert spec.start_offsets == [1, 2, 3]
    assert spec.dead_letter_topic == "t_dlq" and spec.json_objects_only is False
    assert parse_source("CONNECTION db.kc (TOPIC 't', START TIMESTAMP -60000)").start_timestamp == -60000


@pytest.mark.parametrize("body, code, words", [
    ("CONNECTION kc (TOPIC 't') FORMAT PROTOBUF USING CONFLUENT SCHEMA REGISTRY CONNECTION csr", "0A000", "FORMAT PROTOBUF"),
    ("CONNECTION kc (TOPIC 't') FORMAT JSON ENVELOPE DEBEZIUM", "0A000", "ENVELOPE DEBEZIUM"),
    ("CONNECTION kc (TOPIC 't') FORMAT JSON INCLUDE HEADERS", "0A000", "INCLUDE HEADERS"),
    ("CONNECTION kc (TOPIC 't', FETCH MAGIC 3)", "0A000", "FETCH MAGIC"),
    ("CONNECTION kc (TOPIC 't') FORMAT JSON WITH (SHINY = 1)", "0A000", "SHINY"),
    ("CONNECTION kc (START OFFSET (0))", "42601", "TOPIC is required"),
    ("CONNECTION kc (TOPIC 't') FORMAT XML", "42601", "JSON, TEXT or BYTES"),
    ("CONNECTION kc (TOPIC 't') FORMAT JSON ENVELOPE", "42601", "NONE or UPSERT"),
    ("CONNECTION kc (TOPIC 't') FORMAT JSON INCLUDE OFFSET AS data", "42701", '"data"'),
    ("CONNECTION kc (TOPIC 't') FORMAT JSON garbage", "42601", "garbage"),
    ("CONNECTION kc (TOPIC 't', START OFFSET (1), START TIMESTAMP 5)", "42601", "cannot both"),
])
def test_source_errors_name_the_problem(body, code, words):
    with pytest.raises(EddyError) as e:
        parse_source(body)
    assert e.value.sqlstate == code, e.value.message
    assert words in e.value.message


def test_dead_letter_relation_columns():
    assert [c for c, _ in DEAD_LETTER_COLUMNS] == [
        "topic", "partition", "offset", "key", "raw", "error", "timestamp", "received_at"]


def test_sink_body():
    spec = parse_sink("CONNECTION kc (TOPIC 'out') KEY (user_id) NOT ENFORCED FORMAT JSON ENVELOPE UPSERT",
                      ["user_id", "n"])
    assert (spec.topic, spec.key, spec.envelope) == ("out", ["user_id"], "UPSERT")
    spec = parse_sink("CONNECTION kc (TOPIC 'out') KEY FORMAT JSON VALUE FORMAT JSON ENVELOPE DEBEZIUM", ["a"])
    assert spec.key == [] and spec.envelope == "DEBEZIUM"


@pytest.mark.parametrize("body, code, words", [
    ("CONNECTION kc (TOPIC 'o') FORMAT JSON ENVELOPE UPSERT", "42601", "need a KEY"),
    ("CONNECTION kc (TOPIC 'o') KEY (nope) FORMAT JSON ENVELOPE UPSERT", "42703", '"nope"'),
    ("CONNECTION kc (TOPIC 'o') FORMAT AVRO ENVELOPE DEBEZIUM", "0A000", "FORMAT AVRO"),
    ("CONNECTION kc (TOPIC 'o') FORMAT JSON ENVELOPE NONE", "0A000", "ENVELOPE NONE"),
])
def test_sink_errors(body, code, words):
    with pytest.raises(EddyError) as e:
        parse_sink(body, ["a"])
    assert e.value.sqlstate == code and words in e.value.message
