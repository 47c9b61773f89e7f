"""A linear aggregate finds its touched groups' accumulators and (group, x) pairs, a keyed
recompute its touched keys' input rows and old output, either by the key index or by a hash
join over the whole state table, chosen per statement from the table's size and the keys
looked up (eddy.dataflow.keyed_state.ROWS_PER_PROBE). Both ways
give the batch evaluation's rows: each shape is run with every lookup by index and with
every lookup by scan."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, check_drawn_stream
from served import tick_statements

from eddy.dataflow import key_presence, keyed_state
from eddy.engine import Engine

S = Shape
SHAPES = [
    S("page_views", (("v1", "select date_trunc('minute', ts) as w, g, count(*) as views, "
                            "count(distinct v) as users from t1 "
                            "group by date_trunc('minute', ts), g"),)),
    S("linear", (("v1", "select g, count(*) as n, sum(v) as s, avg(f) as af, count(b) as nb "
                        "from t1 group by g"),)),
    S("several_distinct", (("v1", "select g, count(distinct v) as dv, count(distinct b) as db "
                                  "from t1 group by g having count(*) > 1"),)),
    S("global", (("v1", "select count(distinct g) as dg, sum(v) as s from t1"),)),
    # keyed recomputes: their inputs' rows and their old output read by key or by scan
    S("left_join", (("v1", "select a.id, a.g, b.w from t1 a left join t2 b on b.id = a.id"),)),
    S("grouped_join", (("v1", "select a.g, a.n, b.s from (select g, count(*) as n from t1 "
                              "group by g) a left join (select g, sum(w) as s from t2 "
                              "group by g) b on a.g = b.g"),)),
]
# way: (keyed_state.ROWS_PER_PROBE, whether the (group, x) pairs' probes of insert-only
# changes go through the key hashes in memory whatever the table's size: key_presence)
WAYS = {"index": (0, False), "scan": (10**9, False),
        "hashes_index": (0, True), "hashes_scan": (10**9, True)}


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lookups_by_index_or_scan_match_oracle(shape, way, data):
    rows_per_probe, hashes = WAYS[way]
    with mock.patch.object(keyed_state, "ROWS_PER_PROBE", rows_per_probe), \
            mock.patch.object(key_presence, "MIN_ROWS", 0 if hashes else 10**12), \
            mock.patch.object(key_presence, "RECENT_MAX", 3):
        check_drawn_stream(shape, data)


@pytest.mark.parametrize("history, probe_by_index", [(200, False), (20_000, True)])
def test_small_state_is_scanned_large_is_probed(history, probe_by_index):
    """Ten new rows: a state of 200 pairs is joined whole, one of 20,000 read by index."""
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t (g int, v int)")
        s.execute(f"insert into t select i % 5, i from generate_series(1, {history}) x(i)")
        s.execute("create materialized view mv as select g, count(distinct v) as dv, "
                  "count(*) as n from t group by g")
        sql = tick_statements(engine.session(), "insert into t select i % 5, -i from generate_series(1, 10) x(i)")
        pairs = [t for t in sql if re.search(r'_d\d+" s SEMI JOIN', t)]
        assert pairs, sql
        assert ("s.__h = t.__h" in pairs[0]) is probe_by_index, pairs[0]
        got = s.execute("select * from mv order by g")[0].rows
        assert got == s.execute("select g, count(distinct v), count(*) from t group by g "
                                "order by g")[0].rows
    finally:
        engine.close()


def test_distinct_pairs_stored_earlier_are_found_through_the_key_hashes():
    """count(DISTINCT) over insert-only ticks whose pairs repeat earlier ticks' (and one
    retraction between them): the probes of new pairs go through the key hashes in memory,
    and a pair stored before is not counted again."""
    query = "select g, count(distinct v) as dv, count(*) as n from t group by g"
    probes = []
    real = key_presence.KeyHashes.maybe_stored

    def counted(self, hashes):
        probes.append(len(hashes))
        return real(self, hashes)

    engine = Engine(None, tick_interval=None)
    with mock.patch.object(key_presence, "MIN_ROWS", 0), \
            mock.patch.object(key_presence, "RECENT_MAX", 3), \
            mock.patch.object(key_presence.KeyHashes, "maybe_stored", counted):
        try:
            s = engine.session()
            s.execute("create table t (g int, v int)")
            s.execute(f"create materialized view mv as {query}")
            for start in (0, 5, 10):
                s.execute(f"insert into t select i % 4, i % 9 from generate_series({start}, "
                          f"{start + 20}) as x(i)")
                if start == 5:
                    s.execute("delete from t where g = 1 and v = 4")
                got = sorted(s.execute("select * from mv")[0].rows)
                assert got == sorted(s.execute(query)[0].rows)
        finally:
            engine.close()
    assert probes
