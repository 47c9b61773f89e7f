"""The connector protocol: a source's batches and offsets commit together in one tick,
UPSERT keeps the latest row per key, subsources receive their rows, on_commit reports."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from eddy.engine import Engine


class MemorySource:
    """An in-memory source driver: the test feeds it through engine.ingest."""

    def __init__(self, ctx, body: str):
        self.ctx = ctx
        self.columns = [("key", "text"), ("data", "jsonb")]
        self.upsert_key = ["key"] if "UPSERT" in body.upper() else None
        self.subsources = {"dead_letters": [("raw", "text"), ("error", "text")]}
        self.started = False

    def start(self):
        self.started = True

    def stop(self):
        self.started = False

    def status(self):
        return {"started": self.started}

    def feed(self, rows, offsets, dead=None, tombstones=None):
        table = pa.table({"key": [k for k, _ in rows],
                          "data": [json.dumps(v) if v is not None else None for _, v in rows]})
        if tombstones is not None:
            table = table.append_column("__tombstone", pa.array(tombstones))
        extra = {"dead_letters": pa.table({"raw": [d for d in dead],
                                           "error": ["bad json"] * len(dead)})} if dead else None
        self.ctx.engine.ingest(self.ctx.source_id, table, offsets, extra)


class MemoryConnector:
    kind = "memory"

    def __init__(self):
        self.sources = {}

    def create_connection(self, name, body):
        return {"body": body}

    def create_source(self, ctx, body):
        self.sources[ctx.name] = MemorySource(ctx, body)
        return self.sources[ctx.name]

    def create_sink(self, ctx, body):
        raise NotImplementedError


@pytest.fixture
def env(tmp_path):
    engine = Engine(tmp_path, tick_interval=None)
    connector = MemoryConnector()
    engine.register_connector(connector)
    yield engine, connector, engine.session()
    engine.close()


def test_batches_and_offsets_commit_in_one_tick(env):
    engine, connector, s = env
    s.execute("CREATE SOURCE events FROM MEMORY (TOPIC 'e')")
    s.execute("CREATE MATERIALIZED VIEW per_kind AS SELECT data->>'kind' AS kind, count(*) AS n "
              "FROM events GROUP BY 1")
    src = connector.sources["events"]
    assert src.started
    changes = []
    engine.on_commit(lambda ts, ch: changes.append(ch))
    src.feed([("u1", {"kind": "a"}), ("u2", {"kind": "b"}), ("u1", {"kind": "a"})], {"0": 3},
             dead=["{nope"])
    assert engine.committed_offsets(src.ctx.source_id) == {}
    assert s.execute("SELECT count(*) FROM events")[0].rows == [(0,)]
    engine.tick()
    assert engine.committed_offsets(src.ctx.source_id) == {"0": 3}
    assert sorted(s.execute("SELECT * FROM per_kind")[0].rows) == [("a", 2), ("b", 1)]
    assert s.execute("SELECT raw FROM events_dead_letters")[0].rows == [("{nope",)]
    mv_id = next(o.id for o in engine.catalog if o.name == "per_kind")
    assert "mz_diff" in changes[-1][mv_id].column_names
    assert s.execute("SELECT data FROM events WHERE key = 'u2'")[0].rows == [({"kind": "b"},)]


def test_upsert_keeps_latest_row_per_key_and_deletes_on_tombstone(env):
    engine, connector, s = env
    s.execute("CREATE SOURCE users FROM MEMORY (TOPIC 'u') ENVELOPE UPSERT")
    src = connector.sources["users"]
    src.feed([("u1", {"v": 1}), ("u2", {"v": 1}), ("u1", {"v": 2})], {"0": 3})
    engine.tick()
    assert sorted(s.execute("SELECT key, data->>'v' FROM users")[0].rows) == [("u1", "2"),
                                                                            ("u2", "1")]
    src.feed([("u2", None), ("u3", {"v": 7})], {"0": 5}, tombstones=[True, False])
    engine.tick()
    assert sorted(s.execute("SELECT key FROM users")[0].rows) == [("u1",), ("u3",)]
    assert engine.committed_offsets(src.ctx.source_id) == {"0": 5}


def test_sources_are_recreated_after_restart(tmp_path):
    engine = Engine(tmp_path, tick_interval=None)
    connector = MemoryConnector()
    engine.register_connector(connector)
    s = engine.session()
    s.execute("CREATE SOURCE events FROM MEMORY (TOPIC 'e')")
    connector.sources["events"].feed([("k", {"x": 1})], {"0": 1})
    engine.tick()
    engine.close()

    engine = Engine(tmp_path, tick_interval=None)
    again = MemoryConnector()
    engine.register_connector(again)
    src = again.sources["events"]
    assert src.started
    assert engine.committed_offsets(src.ctx.source_id) == {"0": 1}
    assert engine.session().execute("SELECT count(*) FROM events")[0].rows == [(1,)]
    engine.close()


def test_a_bad_batch_does_not_stall_other_sources(env):
    engine, connector, s = env
    s.execute("CREATE SOURCE a FROM MEMORY (TOPIC 'a')")
    s.execute("CREATE SOURCE b FROM MEMORY (TOPIC 'b')")
    bad = pa.table({"key": ["k"], "data": ["{not json"]})
    engine.ingest(connector.sources["a"].ctx.source_id, bad, {"0": 1})
    connector.sources["b"].feed([("k", {"x": 1})], {"0": 1})
    engine.tick()
    assert s.execute("SELECT count(*) FROM b")[0].rows == [(1,)]
    assert engine.committed_offsets(connector.sources["a"].ctx.source_id) == {}
    assert connector.sources["a"].ctx.source_id in engine.source_errors
