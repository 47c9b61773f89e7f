"""Kafka sources end to end on a real broker and the real engine: bad input and dead letters,
UPSERT, partitions added later, start offsets, status and statistics."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions
from kafka_harness import create_topic, driver_of, kafka_engine, produce, query, wait_until, wire

import stack

pytestmark = pytest.mark.integration


def _setup(engine, bootstrap, topic, body="FORMAT JSON", name="src", options=""):
    session = engine.session()
    session.execute(f"CREATE CONNECTION IF NOT EXISTS kc TO KAFKA (BROKER '{bootstrap}')")
    session.execute(f"CREATE SOURCE {name} FROM KAFKA CONNECTION kc (TOPIC '{topic}'{options}) {body}")
    session.close()


def test_bad_input_goes_to_dead_letters_and_the_source_keeps_running(kafka_bootstrap, make_topic):
    topic = make_topic("badinput")
    dlq = make_topic("badinput-dlq", partitions=1)
    big = f"{topic}-big"
    create_topic(kafka_bootstrap, big, partitions=1, config={"max.message.bytes": str(4 << 20)})
    try:
        _bad_input(kafka_bootstrap, topic, dlq, big)
    finally:
        stack.delete_topics(kafka_bootstrap, [big])


def _bad_input(kafka_bootstrap, topic, dlq, big):
    mb = 1 << 20
    good_big = json.dumps({"user_id": "big", "blob": "x" * mb}).encode()
    assert len(good_big) > mb
    cases = [  # (value, good?)
        (b'{"user_id": "a", "n": 1}', True),
        (b'{"user_id": "a", "n": 2,}', False),          # invalid JSON
        (b'{"user_id": "b", "n": "\xff\xfe"}', False),  # invalid UTF-8
        (b'[{"user_id": "a"}]', False),                 # an array, not an object
        (b"", False),                                   # empty payload
        (None, False),                                  # null payload
        (b'{"user_id": "b", "n": 3}', True),
        (good_big, True),                               # 1 MB payloads, valid and not
        (good_big[:-2], False),
        (b'"a string"', False),
        (b'{"user_id": "c", "note": "caf\xc3\xa9"}', True),
    ]
    rounds = 40
    messages = [(f"k{i}".encode(), v) for i in range(rounds) for v, _ in cases]
    good = sum(ok for _, ok in cases) * rounds
    with kafka_engine() as engine:
        # the big messages go to their own one-partition topic so offsets are easy to check
        produce(kafka_bootstrap, topic, [m for m in messages if m[1] is None or len(m[1]) < 1000])
        produce(kafka_bootstrap, big, [m for m in messages if m[1] is not None and len(m[1]) >= 1000])
        _setup(engine, kafka_bootstrap, topic, f"KEY FORMAT TEXT VALUE FORMAT JSON INCLUDE KEY AS k, PARTITION, OFFSET "
                                              f"WITH (DEAD LETTER TOPIC = '{dlq}')")
        _setup(engine, kafka_bootstrap, big, "FORMAT JSON", name="src_big")
        query(engine, "CREATE MATERIALIZED VIEW users AS SELECT data->>'user_id' AS user_id, "
                      "count(*) AS n FROM src GROUP BY 1")
        wait_until(lambda: driver_of(engine, "src").status()["offset_committed"] == len(messages) - 2 * rounds
                   and driver_of(engine, "src_big").status()["offset_committed"] == 2 * rounds,
                   what="all offsets committed")
        n_src = query(engine, "SELECT count(*) FROM src")[0][0]
        n_big = query(engine, "SELECT count(*) FROM src_big")[0][0]
        assert n_src + n_big == good
        assert n_big == rounds and query(engine, "SELECT count(*) FROM users")[0][0] == 3
        dead = query(engine, 'SELECT partition, "offset", key, raw, error FROM src_dead_letters')
        dead_big = query(engine, 'SELECT "offset", raw, error FROM src_big_dead_letters')
        assert len(dead) + len(dead_big) == len(messages) - good
        # every bad message is there, with its own offset: compare with the topic itself
        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "check"})
        by_pos = {}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
        while len(by_pos) < len(messages) - 2 * rounds:
            for m in consumer.consume(1000, 1.0):
                by_pos[(m.partition(), m.offset())] = m.value()
        consumer.close()
        for partition, offset, key, raw, error in dead:
            assert by_pos[(partition, offset)] == raw and key.startswith(b"k"), (partition, offset)
            assert error
        errors = sorted({e.split(":")[0] for *_, e in dead})
        assert errors == ["empty payload", "expected a JSON object, found a string",
                          "expected a JSON object, found an array", "invalid JSON", "invalid UTF-8",
                          "message has no value (null payload)"]
        assert [len(raw) for _, raw, _ in dead_big] == [len(good_big) - 2] * rounds
        assert sorted(o for o, _, _ in dead_big) == list(range(1, 2 * rounds, 2))
        st = driver_of(engine, "src").status()
        assert st["status"] == "running" and st["error"] is None
        assert st["dead_letters"] == len(dead) and st["dead_letters_committed"] == len(dead)
        assert st["updates_committed"] == n_src and st["messages_received"] == len(messages) - 2 * rounds
        assert all(p["lag"] == 0 for p in st["partitions"])
        # the same, as a client sees it: SQL over the PostgreSQL protocol
        with wire(engine) as sql:
            stats = {name: tuple(rest) for name, *rest in sql(
                "SELECT o.name, s.dead_letters_received, s.dead_letters_committed, "
                "s.updates_committed, s.messages_received, s.offset_committed, "
                "s.snapshot_committed FROM mz_internal.mz_source_statistics s "
                "JOIN mz_sources o USING (id)")}
            statuses = sql("SELECT o.name, s.status, s.error FROM mz_internal.mz_source_statuses s"
                           " JOIN mz_sources o USING (id) ORDER BY 1")
            lag = sql("SELECT p.partition, p.lag FROM mz_internal.mz_source_partition_statistics p "
                      "JOIN mz_sources o ON o.id = p.source_id WHERE o.name = 'src' ORDER BY 1")
        n_topic = len(messages) - 2 * rounds
        assert stats["src"] == (len(dead), len(dead), n_src, n_topic, n_topic, True), stats
        assert stats["src_big"] == (len(dead_big), len(dead_big), n_big, 2 * rounds, 2 * rounds,
                                    True), stats
        assert statuses == [("src", "running", None), ("src_big", "running", None)]
        assert lag == [(0, 0), (1, 0), (2, 0)]
        # republished copies carry their origin
        c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "dlq-check"})
        c.assign([TopicPartition(dlq, 0, 0)])
        copies = []
        wait_until(lambda: copies.extend(m for m in c.consume(500, 0.5) if m.error() is None)
                   or len(copies) >= len(dead), what="dead-letter topic copies")
        c.close()
        origin = {(int(dict(m.headers())["eddy.partition"]), int(dict(m.headers())["eddy.offset"]))
                  for m in copies}
        assert origin == {(p, o) for p, o, *_ in dead}


def test_upsert_keeps_latest_value_and_null_deletes(kafka_bootstrap, kafka_topic):
    with kafka_engine() as engine:
        _setup(engine, kafka_bootstrap, kafka_topic,
               "KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT")
        produce(kafka_bootstrap, kafka_topic, [(b"a", b'{"v": 1}'), (b"b", b'{"v": 2}'),
                                               (b"a", b'{"v": 3}'), (b"c", b'{"v": 4}')])
        wait_until(lambda: query(engine, "SELECT count(*) FROM src")[0][0] == 3, what="3 keys")
        produce(kafka_bootstrap, kafka_topic, [(b"b", None), (b"c", b'{"v": 5}'), (b"a", b"[oops")])
        wait_until(lambda: driver_of(engine, "src").status()["offset_committed"] == 7, what="offsets")
        rows = query(engine, "SELECT key, data->>'v' FROM src ORDER BY key")
        assert rows == [("a", "3"), ("c", "5")]
        assert query(engine, 'SELECT "offset", error FROM src_dead_letters')[0][1].startswith("invalid JSON")


def test_partitions_added_later_are_read_from_their_start(kafka_bootstrap, make_topic):
    topic = make_topic("grow", partitions=1)
    with kafka_engine() as engine:
        _setup(engine, kafka_bootstrap, topic, "FORMAT TEXT INCLUDE PARTITION",
               options=", TOPIC METADATA REFRESH INTERVAL '500ms'")
        produce(kafka_bootstrap, topic, [(None, b"p0-first")])
        wait_until(lambda: query(engine, "SELECT count(*) FROM src")[0][0] == 1, what="first row")
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(30)
        produce(kafka_bootstrap, topic, [(None, b"p1")], partition=1)
        produce(kafka_bootstrap, topic, [(None, b"p2")], partition=2)
        rows = wait_until(lambda: len(r := query(engine, "SELECT partition, text FROM src ORDER BY 1"))
                          == 3 and r, timeout=30, what="rows of new partitions")
        assert rows == [(0, "p0-first"), (1, "p1"), (2, "p2")]


def test_start_offset_and_restart_resumes_after_committed_offsets(kafka_bootstrap, make_topic, tmp_path):
    topic = make_topic("startoff", partitions=2)
    produce(kafka_bootstrap, topic, [(None, f"p0-{i}".encode()) for i in range(5)], partition=0)
    produce(kafka_bootstrap, topic, [(None, f"p1-{i}".encode()) for i in range(5)], partition=1)
    with kafka_engine(tmp_path / "eddy") as engine:
        session = engine.session()
        session.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{kafka_bootstrap}')")
        session.execute(f"CREATE SOURCE src FROM KAFKA CONNECTION kc (TOPIC '{topic}', "
                        "START OFFSET (3, 1)) FORMAT TEXT")
        session.close()
        wait_until(lambda: query(engine, "SELECT count(*) FROM src")[0][0] == 6, what="6 rows")
        assert sorted(r[0] for r in query(engine, "SELECT text FROM src")) == \
            ["p0-3", "p0-4", "p1-1", "p1-2", "p1-3", "p1-4"]
    produce(kafka_bootstrap, topic, [(None, b"p0-5")], partition=0)
    with kafka_engine(tmp_path / "eddy") as engine:  # restored from the catalog
        wait_until(lambda: query(engine, "SELECT count(*) FROM src")[0][0] == 7, what="7 rows")
        st = driver_of(engine, "src").status()
        assert {p["partition"]: p["offset_committed"] for p in st["partitions"]} == {0: 6, 1: 5}


def test_connection_secrets_are_resolved_and_unknown_ones_rejected(kafka_bootstrap, kafka_topic):
    from eddy.errors import EddyError

    with kafka_engine() as engine:
        s = engine.session()
        s.execute("CREATE SECRET kpass AS 'not-used-on-plaintext'")
        s.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{kafka_bootstrap}', "
                  "SASL USERNAME = 'eddy', SASL PASSWORD = SECRET kpass)")
        s.execute(f"CREATE SOURCE src FROM KAFKA CONNECTION kc (TOPIC '{kafka_topic}') FORMAT TEXT")
        produce(kafka_bootstrap, kafka_topic, [(None, b"hello")])
        wait_until(lambda: query(engine, "SELECT text FROM src") == [("hello",)], what="row")
        s.execute(f"CREATE CONNECTION kc2 TO KAFKA (BROKER '{kafka_bootstrap}', "
                  "SASL PASSWORD = SECRET nope)")
        with pytest.raises(EddyError) as e:
            s.execute(f"CREATE SOURCE src2 FROM KAFKA CONNECTION kc2 (TOPIC '{kafka_topic}')")
        assert "nope" in e.value.message
        s.close()


def test_start_timestamp_skips_older_messages(kafka_bootstrap, kafka_topic):
    from kafka_harness import producer

    p = producer(kafka_bootstrap)
    for i, ts in enumerate([1_000_000, 2_000_000, 3_000_000, 4_000_000]):
        p.produce(kafka_topic, value=f"m{i}".encode(), partition=i % 2, timestamp=ts)
    assert p.flush(30) == 0
    with kafka_engine() as engine:
        _setup(engine, kafka_bootstrap, kafka_topic, "FORMAT TEXT INCLUDE TIMESTAMP",
               options=", START TIMESTAMP 2500000")
        wait_until(lambda: driver_of(engine, "src").status()["status"] == "running", what="running")
        rows = wait_until(lambda: len(r := query(engine, "SELECT text FROM src ORDER BY 1")) == 2 and r,
                          what="two newer rows")
        assert rows == [("m2",), ("m3",)]
