"""Source offsets: all sources a tick ingested are written in one statement, committed with
their rows; a batch that cannot be stored commits no offsets (nor does it leave them in the
offsets kept in memory), and the offsets survive a restart."""

from __future__ import annotations

import pyarrow as pa
from test_core_connectors import MemoryConnector

from eddy.engine import Engine
from eddy.storage.state import StateDB


def test_write_offsets_inserts_then_updates():
    state = StateDB(None)
    state.write_offsets({"a": {"0": 1}, "b": {"0": 2, "1": 7}})
    state.write_offsets({"a": {"0": 5}, "c": {"0": 1}})
    assert [state.get_offsets(i) for i in "abcd"] == [{"0": 5}, {"0": 2, "1": 7}, {"0": 1}, {}]
    state.close()


def _engine(path):
    engine = Engine(path, tick_interval=None)
    connector = MemoryConnector()
    engine.register_connector(connector)
    return engine, connector, engine.session()


def test_offsets_of_two_sources_commit_with_rows_and_survive_restart(tmp_path):
    engine, connector, s = _engine(tmp_path)
    s.execute("CREATE SOURCE a FROM MEMORY (TOPIC 'a')")
    s.execute("CREATE SOURCE b FROM MEMORY (TOPIC 'b')")
    s.execute("CREATE MATERIALIZED VIEW n AS SELECT (SELECT count(*) FROM a) AS na, "
              "(SELECT count(*) FROM b) AS nb")
    a, b = connector.sources["a"], connector.sources["b"]
    a.feed([("k1", {"x": 1})], {"0": 1})
    b.feed([("k1", {"x": 1}), ("k2", {"x": 2})], {"0": 2, "1": 4})
    engine.tick()
    # a batch that cannot be stored (not JSON) is rejected: neither rows nor offsets
    engine.ingest(a.ctx.source_id, pa.table({"key": ["k"], "data": ["{nope"]}), {"1": 9})
    engine.tick()
    assert engine.committed_offsets(a.ctx.source_id) == {"0": 1}
    a.feed([("k3", {"x": 3})], {"2": 1})       # another partition: merged with the stored
    engine.tick()
    assert engine.committed_offsets(a.ctx.source_id) == {"0": 1, "2": 1}
    assert engine.committed_offsets(b.ctx.source_id) == {"0": 2, "1": 4}
    assert s.execute("SELECT count(*) FROM a")[0].rows == [(2,)]
    ids = a.ctx.source_id, b.ctx.source_id
    engine.close()
    engine, connector, s = _engine(tmp_path)
    try:
        assert [engine.committed_offsets(i) for i in ids] == [{"0": 1, "2": 1},
                                                               {"0": 2, "1": 4}]
        connector.sources["b"].feed([("k4", {"x": 4})], {"1": 5})
        engine.tick()
        assert engine.committed_offsets(ids[1]) == {"0": 2, "1": 5}
    finally:
        engine.close()
