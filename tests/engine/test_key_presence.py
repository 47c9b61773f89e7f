"""The in-memory key hashes (eddy.dataflow.key_presence) never miss a stored key: every hash
of the table when built, and every hash added after, is found again through merges and a
rebuild; a hash neither stored nor added is found only by a collision."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from eddy.dataflow import key_presence
from eddy.dataflow.key_presence import KeyHashes


@pytest.fixture
def conn():
    c = duckdb.connect()
    c.execute("CREATE TABLE t AS SELECT hash(i) AS __h FROM range(5000) r(i)")
    yield c
    c.close()


def test_stored_and_added_hashes_are_found_through_merges_and_rebuilds(conn, monkeypatch):
    monkeypatch.setattr(key_presence, "MIN_ROWS", 1000)
    monkeypatch.setattr(key_presence, "RECENT_MAX", 700)    # merged every few adds
    rng = np.random.default_rng(3)
    stored = conn.execute("SELECT __h FROM t").fetchnumpy()["__h"]
    keys = KeyHashes()
    assert keys.ready(conn, "t", len(stored))
    added = []
    for _ in range(12):
        batch = rng.integers(0, 2**64 - 1, 300, dtype=np.uint64, endpoint=True)
        # some of the batch stored already, some repeated from an earlier batch
        batch = np.concatenate([batch, rng.choice(stored, 20)] +
                               ([rng.choice(added[-1], 20)] if added else []))
        new = batch[~np.isin(batch, np.concatenate([stored, *added]))]
        assert set(keys.maybe_stored(batch)) == set(batch) - set(new)
        keys.add(batch)
        added.append(batch)
        every = np.concatenate([stored, *added])
        assert len(keys.maybe_stored(every)) == len(every)
    unseen = rng.integers(0, 2**64 - 1, 1000, dtype=np.uint64, endpoint=True)
    assert not len(keys.maybe_stored(unseen[~np.isin(unseen, every)]))
    # the table's keys deleted: the set keeps them until it outgrows twice the table, then
    # is built again from the table
    conn.execute("DELETE FROM t WHERE __h % 2 = 0")
    left = conn.execute("SELECT __h FROM t").fetchnumpy()["__h"]
    assert keys.ready(conn, "t", len(left))
    assert len(keys.maybe_stored(left)) == len(left)
    assert keys.size() == len(left)


def test_a_small_table_is_not_served_and_a_reset_set_adds_nothing(conn):
    keys = KeyHashes()
    assert not keys.ready(conn, "t", 5000)     # below MIN_ROWS: the scan is cheap
    assert not keys.built
    keys.add(np.arange(10, dtype=np.uint64))
    assert keys.size() == 0
