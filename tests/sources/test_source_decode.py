"""The batch decoder: Arrow rows for good messages, dead letters for the rest (no Kafka)."""

import json

import pyarrow as pa
import pytest

from eddy.sources.ddl import parse_source
from eddy.sources.decode import JsonChecker, RawBatch, binary_array, decode

BAD = {
    b'{"a":1,}': "invalid JSON",
    b'{"a":': "invalid JSON",
    b"[1, 2]": "found an array",
    b'"just a string"': "found a string",
    b"42": "found a number",
    b"": "empty payload",
    b"   \n ": "empty payload",
    b'{"a":"\xff\xfe"}': "invalid UTF-8",
    b'{"a":1}{"b":2}': "invalid JSON",
    b'{"a":1}\n{"b":2}': "invalid JSON",
    b'{"x":"\\ud800"}': "invalid JSON",
}
GOOD = [b'{"a":1}', b' {"nested": {"list": [1, 2, {"x": null}]}} ', b'{"a":\n 2}',
        b'{"u":"caf\xc3\xa9 \xe2\x9c\x93"}', b"{}"]


def batch(values, keys=None, topic="t"):
    n = len(values)
    return RawBatch(topic, [i % 3 for i in range(n)], list(range(100, 100 + n)),
                    [1_700_000_000_000 + i for i in range(n)], keys or [b"k"] * n, list(values))


@pytest.fixture(scope="module")
def checker():
    return JsonChecker()


def test_binary_array_matches_pyarrow_including_nulls():
    vals = [b"a", None, b"", b"xyz" * 100, None]
    assert binary_array(vals).to_pylist() == pa.array(vals, pa.binary()).to_pylist()


def test_every_bad_message_is_a_dead_letter_with_its_offset_and_error(checker):
    spec = parse_source("CONNECTION kc (TOPIC 't') FORMAT JSON INCLUDE OFFSET")
    values = GOOD + list(BAD) + [None]
    d = decode(spec, batch(values), checker)
    assert d.rows.column_names == ["data", "offset"]
    assert d.rows.column("offset").to_pylist() == list(range(100, 100 + len(GOOD)))
    assert [json.loads(x) for x in d.rows.column("data").to_pylist()] == [json.loads(g) for g in GOOD]
    dead = d.dead.to_pylist()
    assert [r["offset"] for r in dead] == list(range(100 + len(GOOD), 100 + len(values)))
    for r, (raw, words) in zip(dead, BAD.items(), strict=False):
        assert r["raw"] == raw and words in r["error"], (raw, r["error"])
        assert r["topic"] == "t" and r["key"] == b"k"
    assert dead[-1]["raw"] is None and "null payload" in dead[-1]["error"]


def test_one_megabyte_payloads_pass_or_fail_whole(checker):
    spec = parse_source("CONNECTION kc (TOPIC 't') FORMAT JSON")
    big_ok = json.dumps({"blob": "x" * (1 << 20)}).encode()
    big_bad = big_ok[:-1]
    d = decode(spec, batch([big_ok, big_bad, b'{"a":1}']), checker)
    assert d.rows.column("data").to_pylist() == [big_ok.decode().replace(" ", ""), '{"a":1}']
    assert d.dead.column("offset").to_pylist() == [101]


def test_any_json_value_when_objects_are_not_required(checker):
    spec = parse_source("CONNECTION kc (TOPIC 't') FORMAT JSON WITH (JSON OBJECTS ONLY = false)")
    d = decode(spec, batch([b"[1]", b'"s"', b"3.5", b"null", b"[1,]", b'{"a":1}']), checker)
    assert d.rows.column("data").to_pylist() == ["[1]", '"s"', "3.5", "null", '{"a":1}']
    assert d.dead.column("offset").to_pylist() == [104]


def test_text_and_bytes_formats(checker):
    text = parse_source("CONNECTION kc (TOPIC 't') FORMAT TEXT")
    d = decode(text, batch([b"hello", b"\xff", b""]), checker)
    assert d.rows.column("text").to_pylist() == ["hello", ""]
    assert "invalid UTF-8" in d.dead.column("error")[0].as_py()
    raw = parse_source("CONNECTION kc (TOPIC 't') FORMAT BYTES")
    d = decode(raw, batch([b"\xff\x00", b""]), checker)
    assert d.rows.column("data").to_pylist() == [b"\xff\x00", b""] and d.dead.num_rows == 0


def test_metadata_columns(checker):
    spec = parse_source("CONNECTION kc (TOPIC 't') KEY FORMAT TEXT VALUE FORMAT JSON "
                        "INCLUDE KEY AS user_id, PARTITION, TIMESTAMP AS ts")
    d = decode(spec, batch([b'{"a":1}', b'{"a":2}'], keys=[b"u1", None]), checker)
    rows = d.rows.to_pylist()
    assert [(r["user_id"], r["partition"]) for r in rows] == [("u1", 0), (None, 1)]
    assert rows[0]["ts"].year == 2023 and d.rows.schema.field("ts").type == pa.timestamp("ms")


def test_upsert_tombstones_last_value_per_key_and_keyless_messages(checker):
    spec = parse_source("CONNECTION kc (TOPIC 't') KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT")
    values = [b'{"v":1}', b'{"v":2}', None, b'{"v":3}', b'{"v":4}', b"[bad"]
    keys = [b"a", b"a", b"b", b"c", None, b"c"]
    d = decode(spec, batch(values, keys), checker)
    rows = {r["key"]: (r["data"], r["__tombstone"]) for r in d.rows.to_pylist()}
    assert rows == {"a": ('{"v":2}', False), "b": (None, True), "c": ('{"v":3}', False)}
    assert d.rows.num_rows == 3
    errors = dict(zip(d.dead.column("offset").to_pylist(), d.dead.column("error").to_pylist(), strict=True))
    assert set(errors) == {104, 105} and "no key" in errors[104] and "invalid JSON" in errors[105]


def test_a_large_clean_batch_has_no_dead_letters(checker):
    docs = [json.dumps({"event_id": str(i), "user_id": f"u{i % 7}", "amount": i / 4}).encode()
            for i in range(20_000)]
    docs[12_345] = b'{"event_id": "x",}'
    spec = parse_source("CONNECTION kc (TOPIC 't') FORMAT JSON")
    d = decode(spec, batch(docs), checker)
    assert d.rows.num_rows == 19_999
    assert d.dead.column("offset").to_pylist() == [100 + 12_345]


def test_json_columns_use_the_arrow_json_type_and_json_keys_upsert(checker):
    spec = parse_source("CONNECTION kc (TOPIC 't') FORMAT JSON ENVELOPE UPSERT")
    d = decode(spec, batch([b'{"v":1}', b'{"v":2}', None], keys=[b'"a"', b'"a"', b'{"id":2}']), checker)
    assert d.rows.schema.field("data").type == pa.json_()
    assert d.rows.to_pylist() == [{"key": '"a"', "data": '{"v":2}', "__tombstone": False},
                                  {"key": '{"id":2}', "data": None, "__tombstone": True}]


def test_jsonb_text_is_canonical_so_equal_values_are_equal(checker):
    from eddy.sql.dialect import canonical_json
    spellings = [b'{"b": [1, 2.50], "a": {"y": 1, "x": "\xc3\xa9"}}',
                 b'{ "a" : {"x":"\\u00e9","y":1} , "b":[1,2.5] }',
                 b'{"a": {"x": "\xc3\xa9", "y": 0, "y": 1}, "b": [1, 2.5]}']   # last duplicate wins
    exact = [b'{"n": 1e100, "m": 1.5E-7}', b'{"big": 123456789012345678901234567890}',
             b'{"s": "1e5 is text", "i": 9007199254740993}']
    spec = parse_source("CONNECTION kc (TOPIC 't') FORMAT JSON")
    d = decode(spec, batch(spellings + exact), checker)
    texts = d.rows.column("data").to_pylist()
    assert len(set(texts[:3])) == 1 and texts[0] == '{"a":{"x":"é","y":1},"b":[1,2.5]}'
    assert texts[3:] == [canonical_json(v) for v in exact]
    assert texts[4] == '{"big":123456789012345678901234567890}'


def test_canonical_numbers_match_canonical_json_exactly():
    from eddy.sources.decode import canonical_array
    from eddy.sql.dialect import canonical_json
    docs = [b'{"a": 0.00001}', b'{"a": 1e16, "b": 12345678901234567.0}', b'{"a": -1.5E-7}',
            b'{"a": 123456789012345678901234567890}', b'{"a": 0.0001, "b": 100.0, "c": -0.0}',
            b'{"a": 1, "t": "1e5 and .00001 in text"}', b'{"x":"\\ud800"}', b'{"z": 1, "a": 2}']
    texts = canonical_array([*docs, None]).to_pylist()
    assert texts[:-3] == [canonical_json(d) for d in docs[:-2]]
    assert texts[-2:] == ['{"a":2,"z":1}', None]
