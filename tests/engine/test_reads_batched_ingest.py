"""A tick applies all the batches a source queued since the last one as one batch.

The result must be what applying them one tick at a time gives: the same rows (UPSERT: the
last value per key, tombstones deleting), the same dead letters, the offsets of the last batch,
and subscribers see the net change.
"""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest

from eddy.engine import Engine


class _Source:
    def __init__(self, ctx, body: str):
        self.ctx = ctx
        self.columns = [("key", "text"), ("data", "jsonb")]
        self.upsert_key = ["key"] if "UPSERT" in body.upper() else None
        self.subsources = {"dead_letters": [("raw", "text"), ("error", "text")]}

    def start(self):
        pass

    def stop(self):
        pass

    def status(self):
        return {}


class _Connector:
    kind = "memory"

    def __init__(self):
        self.sources = {}

    def create_connection(self, name, body):
        return {}

    def create_source(self, ctx, body):
        self.sources[ctx.name] = _Source(ctx, body)
        return self.sources[ctx.name]

    def create_sink(self, ctx, body):
        raise NotImplementedError


def _batches(seed: int, upsert: bool) -> list[tuple[pa.Table, dict, dict | None]]:
    rng = random.Random(seed)
    out, offset = [], 0
    for _ in range(12):
        n = rng.randrange(0, 40)
        keys = [f"k{rng.randrange(15)}" for _ in range(n)]
        data = [json.dumps({"v": rng.randrange(100)}) for _ in range(n)]
        table = pa.table({"key": keys, "data": data})
        if upsert and rng.random() < 0.6:    # some batches carry tombstones, some do not
            table = table.append_column("__tombstone", pa.array(
                [rng.random() < 0.2 for _ in range(n)]))
        dead = None
        if rng.random() < 0.4:
            dead = {"dead_letters": pa.table({"raw": [f"bad{offset}"], "error": ["bad json"]})}
        offset += n + (1 if dead else 0)
        out.append((table, {"0": offset}, dead))
    return out


def _run(tmp_path, name: str, upsert: bool, batches, one_tick: bool):
    engine = Engine(tmp_path / name, tick_interval=None)
    connector = _Connector()
    engine.register_connector(connector)
    s = engine.session()
    envelope = " ENVELOPE UPSERT" if upsert else ""
    s.execute(f"CREATE SOURCE ev FROM MEMORY (TOPIC 'e'){envelope}")
    s.execute("CREATE MATERIALIZED VIEW per_key AS SELECT key, count(*) AS n, "
              "sum((data->>'v')::int) AS s FROM ev GROUP BY key")
    changes: list[dict] = []
    engine.on_commit(lambda ts, ch: changes.append(ch))
    src = connector.sources["ev"]
    for table, offsets, dead in batches:
        engine.ingest(src.ctx.source_id, table, offsets, dead)
        if not one_tick:
            engine.tick()
    engine.tick()
    out = {
        "rows": sorted(s.execute("SELECT key, data::text FROM ev")[0].rows),
        "view": sorted(s.execute("SELECT key, n, s FROM per_key")[0].rows),
        "dead": sorted(s.execute("SELECT raw FROM ev_dead_letters")[0].rows),
        "offsets": engine.committed_offsets(src.ctx.source_id),
        "view_id": s.binder().lookup(["per_key"]).id,
        "changes": changes,
    }
    engine.close()
    return out


def _net(changes: list[dict], object_id: str) -> dict:
    net: dict = {}
    for ch in changes:
        table = ch.get(object_id)
        if table is None:
            continue
        for row in table.to_pylist():
            diff = row.pop("mz_diff")
            key = tuple(row.values())
            net[key] = net.get(key, 0) + diff
    return {k: v for k, v in net.items() if v}


@pytest.mark.parametrize("upsert", [False, True], ids=["append", "upsert"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_queued_for_one_tick_equal_one_tick_each(tmp_path, upsert, seed):
    batches = _batches(seed, upsert)
    apart = _run(tmp_path, "apart", upsert, batches, one_tick=False)
    together = _run(tmp_path, "together", upsert, batches, one_tick=True)
    for key in ("rows", "view", "dead", "offsets"):
        assert together[key] == apart[key], key
    assert together["offsets"] == batches[-1][1]
    assert len([c for c in together["changes"] if c]) == 1
    view = together["view_id"]
    assert _net(together["changes"], view) == _net(apart["changes"], view)
    assert {(k, n, s): 1 for k, n, s in together["view"]} == _net(together["changes"], view)
