"""Turning Z-set changes into Kafka messages (JSON, ENVELOPE UPSERT or DEBEZIUM), and back.

`SinkState` is what a read_committed consumer of the sink topic holds after replaying it: for
UPSERT the latest value per key, for DEBEZIUM the multiset of rows. The sink keeps a copy of it
(the topic's state as of its last committed transaction) and emits, for each tick, exactly the
messages that move that state to the view's state; `diff` does the same from any view snapshot,
which is how a restarted sink catches up.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections import Counter
from decimal import Decimal

import pyarrow as pa

DIFF = "mz_diff"
Message = tuple[bytes | None, bytes | None]  # (key, value); value None is a tombstone


def _jsonable(value, type_name: str):
    if value is None:
        return None
    if type_name in ("jsonb", "json") and isinstance(value, str | bytes):
        return json.loads(value)
    if isinstance(value, bool | int | str | dict | list):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        f = float(value)
        return f if Decimal(repr(f)) == value else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class Encoder:
    """Row -> canonical JSON text for the sunk relation's columns."""

    def __init__(self, columns: list[tuple[str, str]], key: list[str]):
        self.columns = columns
        self.key = key

    def key_of(self, row_json: str) -> str | None:
        if not self.key:
            return None
        row = json.loads(row_json)
        return dumps({k: row[k] for k in self.key})

    def cell(self, value, type_name: str):
        """One column value as the sink state holds it (JSON-able)."""
        return _jsonable(value, type_name)

    def rows(self, table: pa.Table) -> list[tuple[str, str | None, int]]:
        """(row JSON, key JSON or None, diff) per row of a changes table."""
        names = [c for c, _ in self.columns]
        types = dict(self.columns)
        cols = {n: table.column(n).to_pylist() for n in names}
        diffs = table.column(DIFF).to_pylist() if DIFF in table.column_names else [1] * table.num_rows
        out = []
        for i, d in enumerate(diffs):
            row = {n: self.cell(cols[n][i], types[n]) for n in names}
            key = dumps({k: row[k] for k in self.key}) if self.key else None
            out.append((dumps(row), key, d))
        return out


class SinkState:
    """The state a consumer of the sink topic reconstructs, for one envelope."""

    def __init__(self, envelope: str):
        self.envelope = envelope
        self.upsert: dict[str, str] = {}
        self.multiset: Counter = Counter()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Replay one message of the topic."""
        if self.envelope == "UPSERT":
            if key is None:
                return
            k = key.decode()
            if value is None:
                self.upsert.pop(k, None)
            else:
                self.upsert[k] = value.decode()
            return
        if value is None:
            return
        change = json.loads(value)
        if change.get("before") is not None:
            r = dumps(change["before"])
            self.multiset[r] -= 1
            if self.multiset[r] == 0:
                del self.multiset[r]
        if change.get("after") is not None:
            self.multiset[dumps(change["after"])] += 1

    def rows(self) -> list[dict]:
        """The rows the topic holds (for tests and checks)."""
        if self.envelope == "UPSERT":
            return [json.loads(v) for v in self.upsert.values()]
        return [json.loads(r) for r, n in self.multiset.items() for _ in range(n)]

    def __len__(self) -> int:
        return len(self.upsert) if self.envelope == "UPSERT" else sum(self.multiset.values())


def _debezium(before: str | None, after: str | None) -> bytes:
    return ('{"before":' + (before or "null") + ',"after":' + (after or "null") + "}").encode()


def changes_to_messages(state: SinkState, encoded: list[tuple[str, str | None, int]]
                       ) -> tuple[list[Message], list[str]]:
    """Messages for one tick's changes, applied to `state` as they are made, plus warnings
    (a KEY that is not unique in the relation)."""
    net: Counter = Counter()
    keys: dict[str, str | None] = {}
    for row, key, d in encoded:
        net[row] += d
        keys[row] = key
    msgs: list[Message] = []
    warnings: list[str] = []
    if state.envelope == "UPSERT":
        by_key: dict[str, Counter] = {}
        for row, d in net.items():
            if d:
                by_key.setdefault(keys[row], Counter())[row] += d
        for k in sorted(by_key):
            rows = Counter({state.upsert[k]: 1}) if k in state.upsert else Counter()
            rows.update(by_key[k])
            present = sorted(r for r, n in rows.items() if n > 0)
            if len(present) > 1 or any(n > 1 for n in rows.values()):
                warnings.append(f"sink KEY is not unique: {k}")
            value = present[-1] if present else None
            if state.upsert.get(k) != value:
                msg = (k.encode(), None if value is None else value.encode())
                msgs.append(msg)
                state.apply(*msg)
        return msgs, warnings
    by_key2: dict[str | None, tuple[list[str], list[str]]] = {}
    for row, d in sorted(net.items()):
        if d:
            befores, afters = by_key2.setdefault(keys[row], ([], []))
            (afters if d > 0 else befores).extend([row] * abs(d))
    for k, (befores, afters) in by_key2.items():
        msgs += _debezium_messages(k, befores, afters)
    for msg in msgs:
        state.apply(*msg)
    return msgs, warnings


def _debezium_messages(k: str | None, befores: list[str], afters: list[str]) -> list[Message]:
    """One {"before", "after"} update per key when the key identifies one row, else one
    message per retraction and per insertion."""
    kb = k.encode() if k is not None else None
    if k is not None and len(befores) <= 1 and len(afters) <= 1:
        return [(kb, _debezium(befores[0] if befores else None, afters[0] if afters else None))]
    return [(kb, _debezium(b, None)) for b in befores] + [(kb, _debezium(None, a)) for a in afters]


def diff(state: SinkState, snapshot: list[tuple[str, str | None, int]], key_of) -> list[Message]:
    """Messages that move `state` to exactly `snapshot` (encoded rows of the view), applied.
    `key_of(row_json)` gives the message key of a row the topic holds."""
    msgs: list[Message] = []
    if state.envelope == "UPSERT":
        target: dict[str, str] = {}
        for row, k, d in snapshot:
            if d > 0:
                target[k] = max(row, target.get(k, row))
        for k in sorted(set(state.upsert) - set(target)):
            msgs.append((k.encode(), None))
        for k in sorted(target):
            if state.upsert.get(k) != target[k]:
                msgs.append((k.encode(), target[k].encode()))
    else:
        want: Counter = Counter()
        for row, _, d in snapshot:
            want[row] += d
        changes: dict[str | None, tuple[list[str], list[str]]] = {}
        for row in sorted(set(want) | set(state.multiset)):
            d = want.get(row, 0) - state.multiset.get(row, 0)
            if d:
                befores, afters = changes.setdefault(key_of(row), ([], []))
                (afters if d > 0 else befores).extend([row] * abs(d))
        for k, (befores, afters) in changes.items():
            msgs += _debezium_messages(k, befores, afters)
    for msg in msgs:
        state.apply(*msg)
    return msgs
