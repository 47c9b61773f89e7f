"""Sink change encoding: replaying the emitted messages gives exactly the relation (no Kafka)."""

import datetime as dt
import json
import random
from collections import Counter
from decimal import Decimal

import pyarrow as pa
import pytest

from eddy.sinks.encode import Encoder, SinkState, changes_to_messages, diff

COLUMNS = [("user_id", "text"), ("n", "bigint"), ("info", "jsonb")]


def table(rows, diffs):
    return pa.table({"user_id": [r[0] for r in rows], "n": [r[1] for r in rows],
                     "info": [r[2] for r in rows], "mz_diff": diffs})


def view_rows(multiset):
    return sorted((json.dumps(json.loads(json.dumps({"user_id": u, "n": n, "info": json.loads(i)})),
                              sort_keys=True)) for (u, n, i), c in multiset.items() for _ in range(c))


def replay_rows(state):
    return sorted(json.dumps(r, sort_keys=True) for r in state.rows())


@pytest.mark.parametrize("envelope, key", [("UPSERT", ["user_id"]), ("DEBEZIUM", ["user_id"]),
                                           ("DEBEZIUM", [])])
def test_random_ticks_replay_to_the_view(envelope, key):
    """A count-per-user view changing over 200 ticks; a consumer replaying the topic (fresh
    SinkState) must hold the view after every tick, and messages must be minimal for UPSERT."""
    rng = random.Random(7)
    enc = Encoder(COLUMNS, key)
    sink, consumer = SinkState(envelope), SinkState(envelope)
    counts: dict[str, int] = {}
    view: Counter = Counter()
    for _ in range(200):
        rows, diffs = [], []
        for user in rng.sample([f"u{i}" for i in range(12)], 4):
            old = counts.get(user)
            new = None if old is not None and rng.random() < 0.2 else (old or 0) + rng.randint(1, 3)
            if old is not None:
                rows.append((user, old, json.dumps({"c": old})))
                diffs.append(-1)
                view[(user, old, json.dumps({"c": old}))] -= 1
            if new is not None:
                rows.append((user, new, json.dumps({"c": new})))
                diffs.append(1)
                view[(user, new, json.dumps({"c": new}))] += 1
                counts[user] = new
            else:
                counts.pop(user, None)
        view = +view
        msgs, warnings = changes_to_messages(sink, enc.rows(table(rows, diffs)))
        assert not warnings
        for m in msgs:
            consumer.apply(*m)
        assert replay_rows(consumer) == view_rows(view)


def test_diff_brings_any_topic_state_to_the_snapshot_once():
    enc = Encoder(COLUMNS, ["user_id"])
    snapshot = table([("a", 1, "{}"), ("b", 2, '{"x":[1]}')], [1, 1])
    for envelope in ("UPSERT", "DEBEZIUM"):
        state = SinkState(envelope)
        stale = enc.rows(table([("a", 5, "{}"), ("z", 1, "{}")], [1, 1]))
        changes_to_messages(state, stale)  # what the topic held before a crash
        first = diff(state, enc.rows(snapshot), enc.key_of)
        assert first
        assert sorted(json.dumps(r, sort_keys=True) for r in state.rows()) == sorted(
            json.dumps(r, sort_keys=True) for r in [{"user_id": "a", "n": 1, "info": {}},
                                                     {"user_id": "b", "n": 2, "info": {"x": [1]}}])
        assert diff(state, enc.rows(snapshot), enc.key_of) == []  # idempotent: nothing twice


def test_upsert_delete_is_a_tombstone_and_values_are_typed_json():
    cols = [("k", "integer"), ("t", "timestamptz"), ("d", "numeric"), ("b", "bytea")]
    enc = Encoder(cols, ["k"])
    ts = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    t = pa.table({"k": [1], "t": [ts], "d": pa.array([Decimal("12.50")], pa.decimal128(10, 2)),
                  "b": [b"\x01\xff"], "mz_diff": [1]})
    state = SinkState("UPSERT")
    (msg,), _ = changes_to_messages(state, enc.rows(t))
    assert msg[0] == b'{"k":1}'
    assert json.loads(msg[1]) == {"k": 1, "t": "2026-01-02T03:04:05.678000+00:00", "d": 12.5, "b": "\\x01ff"}
    (gone,), _ = changes_to_messages(state, enc.rows(t.set_column(4, "mz_diff", pa.array([-1]))))
    assert gone == (b'{"k":1}', None) and len(state) == 0


def test_duplicate_key_is_reported():
    enc = Encoder(COLUMNS, ["user_id"])
    _, warnings = changes_to_messages(SinkState("UPSERT"),
                                      enc.rows(table([("a", 1, "{}"), ("a", 2, "{}")], [1, 1])))
    assert warnings and "not unique" in warnings[0]
