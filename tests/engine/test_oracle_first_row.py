"""DISTINCT ON planned as first row per key (eddy.dataflow.operators_first) equals DuckDB's
batch evaluation after every step: duplicates in one tick and across ticks, late and
out-of-order rows, deletes and updates retracting a key's winner or its other rows, rows
expiring from a temporal filter below it (the staging views' deduplication), NULL keys and
NULL ordering values. Ties in the ORDER BY are between rows equal in every output column, so
that the batch answer is unique."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Shape, base_ms, check_drawn_stream, run_stream

from eddy.dataflow import key_presence
from eddy.engine import Engine

S = Shape
SHAPES = [
    S("staging_dedup", (("v1", "with r as (select * from t1 where mz_now() <= ts + "
                               "interval '2 minutes') select distinct on (id) id, g, v, ts "
                               "from r order by id, ts, g, v"),), temporal=True),
    S("desc_nulls", (("v1", "select distinct on (g) g, id, v, f from t1 "
                            "order by g, v desc, id, f"),
                     ("v2", "select distinct on (g) g, id, v, f from t1 "
                            "order by g, v nulls first, id desc nulls last, f desc"))),
    S("expression_key", (("v1", "select distinct on (coalesce(g, 'none'), b) g, b, id, v "
                                "from t1 order by coalesce(g, 'none'), b, id desc, v, g"),)),
    S("renamed_output", (("v1", "select distinct on (g) g as grp, v * 2 as v2, id "
                                "from t1 order by g, id, v"),
                         ("v2", "select distinct on (id) id, j, g from t1 "
                                "where j is not null order by id, g, j::text"))),
    S("dedup_then_aggregate", (("pv_dedup", "select distinct on (id) id, g, v from t1 "
                                            "order by id, v desc, g"),
                               ("v1", "select g, count(*) as n, sum(v) as s from pv_dedup "
                                      "group by g"),
                               ("v2", "select d.id, d.v, t2.w from pv_dedup d join t2 "
                                      "on d.id = t2.id"))),
    S("dedup_over_union", (("v1", "with u as (select id, g, ts from t1 union all "
                                  "select id, g, null::timestamptz from t2) "
                                  "select distinct on (id) id, g, ts from u "
                                  "order by id, ts nulls first, g"),)),
]


def _engine():
    return Engine(None, tick_interval=None)



@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_first_row_matches_oracle(shape, data):
    check_drawn_stream(shape, data)


@contextlib.contextmanager
def probing_by_key_hashes():
    """Every probe of new keys served by the in-memory key hashes (eddy.dataflow.key_presence)
    whatever the table's size, merged every few keys; yields the list of probes made."""
    probes = []
    real = key_presence.KeyHashes.maybe_stored

    def counted(self, hashes):
        probes.append(len(hashes))
        return real(self, hashes)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(key_presence, "MIN_ROWS", 0)
        mp.setattr(key_presence, "RECENT_MAX", 3)
        mp.setattr(key_presence.KeyHashes, "maybe_stored", counted)
        yield probes


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_first_row_probing_by_key_hashes_matches_oracle(shape, data):
    with probing_by_key_hashes():
        check_drawn_stream(shape, data)


ROW = (1, "a", 2, 0.5, True, 0, None)


def _with(**changes) -> tuple:
    names = ["id", "g", "v", "f", "b", "ts", "j"]
    row = list(ROW)
    for k, v in changes.items():
        row[names.index(k)] = v
    return tuple(row)


def _ins(*rows) -> tuple:
    return ("insert", "t1", list(rows), "cast", False)


ADVERSARIAL = {
    # the same row twice in one tick, then again in later ticks; then the key's rows deleted
    "duplicates": [_ins(ROW, ROW), _ins(ROW), ("txn", [_ins(ROW), _ins(ROW)]),
                   ("delete", "t1", 1)],
    # a better row arrives later (out of order), then the winner is retracted (update)
    "better_later_then_retracted": [_ins(_with(v=2, ts=3)), _ins(_with(v=2, ts=1)),
                                    ("update", "t1", 1, "ts", 5), _ins(_with(v=9, ts=-2))],
    # a worse row first and last, a NULL ordering value, a NULL key
    "nulls": [_ins(_with(g=None, v=None), _with(g=None, v=3)), _ins(_with(v=None, ts=None)),
              _ins(_with(id=None, ts=2), _with(id=None, ts=1)), ("update", "t1", 1, "v", None)],
    # rows expiring from the temporal filter while duplicates of the key remain
    "expiry": [_ins(_with(ts=-3)), ("advance",), _ins(_with(ts=4), _with(ts=-3)),
               ("advance",), ("advance",), ("advance",), _ins(_with(ts=-30)),
               ("advance",), ("advance",)],
}


@pytest.mark.parametrize("key_hashes", [False, True], ids=["scan", "key_hashes"])
@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1]], ids=["staging_dedup", "desc_nulls"])
@pytest.mark.parametrize("case", list(ADVERSARIAL))
def test_first_row_adversarial(shape, case, key_hashes):
    stream = [s for s in ADVERSARIAL[case] if shape.temporal or s[0] != "advance"]
    engine = _engine()
    with probing_by_key_hashes() if key_hashes else contextlib.nullcontext([0]) as probes:
        try:
            run_stream(engine, shape, stream, base_ms())
        finally:
            engine.close()
    assert probes, "no probe went through the key hashes"


def test_plan_and_touched_rows():
    """The staging shape plans as first row per key; a tick of new events reads only the
    stored winners of its keys, however much history there is."""
    engine = _engine()
    try:
        s = engine.session()
        s.execute("create table ev (event_id text, event_time timestamptz, user_id text)")
        s.execute("create materialized view stg as with r as (select * from ev where mz_now() "
                  "<= event_time + interval '1 day') select distinct on (event_id) * from r "
                  "order by event_id, event_time")
        plan = "\n".join(r[0] for r in s.execute("explain materialized view stg")[0].rows)
        assert "First row per key" in plan and "Keyed recompute" not in plan, plan
        s.execute("insert into ev select 'e' || i::text, now(), 'u' || (i % 50)::text "
                  "from generate_series(1, 20000) as x(i)")
        oid = next(o.id for o in engine.catalog if o.name == "stg")
        # 100 events: 50 new ids, 50 redeliveries of stored ids
        s.execute("insert into ev select 'e' || (i * 400)::text, now(), 'u' from "
                  "generate_series(1, 50) as x(i) union all select 'n' || i::text, now(), 'u' "
                  "from generate_series(1, 50) as x(i)")
        read, written = engine.tick_stats[oid]
        # scan, temporal filter and this operator each read the 100 rows; 50 winners looked up
        assert read <= 400, (read, written)
        n = s.execute("select count(*) from stg")[0].rows[0][0]
        assert n == 20050
    finally:
        engine.close()


def test_state_survives_restart(tmp_path):
    """Winners and the other rows are stored: after a restart a retraction of a winner
    brings back the next row, as the batch query says."""
    query = "select distinct on (k) k, v, id from t order by k, v desc, id"
    engine = Engine(tmp_path, tick_interval=None)
    s = engine.session()
    s.execute("create table t (id int, k text, v int)")
    s.execute(f"create materialized view m as {query}")
    s.execute("insert into t values (1, 'a', 5), (2, 'a', 7), (3, 'a', 7), (4, 'b', 1)")
    engine.close()
    engine = Engine(tmp_path, tick_interval=None)
    try:
        s = engine.session()
        s.execute("insert into t values (5, 'b', 1), (6, 'c', null)")
        s.execute("delete from t where id in (2, 4)")
        got = sorted(s.execute("select * from m")[0].rows, key=repr)
        assert got == sorted(s.execute(query)[0].rows, key=repr)
        assert got == [("a", 7, 3), ("b", 1, 5), ("c", None, 6)]
    finally:
        engine.close()


def test_keys_stored_by_any_path_are_in_the_key_hashes():
    """A key stored by a tick whose probe went by index (few keys against many stored ones)
    is found again by a later tick probing through the key hashes: its duplicate is ranked
    against the stored winner, not stored as a second winner."""
    query = "select distinct on (k) k, v, id from t order by k, v, id"
    engine = Engine(None, tick_interval=None)
    with probing_by_key_hashes() as probes:
        try:
            s = engine.session()
            s.execute("create table t (id int, k int, v int)")
            s.execute(f"create materialized view m as {query}")
            s.execute("insert into t select i, i, 5 from generate_series(1, 200) as g(i)")
            s.execute("insert into t values (201, 1000, 5)")    # 1 key against 200: by index
            s.execute("insert into t select i, i, 5 from generate_series(202, 219) as g(i) "
                      "union all select 220, 1000, 1")          # 19 keys: through the hashes
            got = sorted(s.execute("select * from m")[0].rows)
            assert got == sorted(s.execute(query)[0].rows)
            assert [r for r in got if r[0] == 1000] == [(1000, 1, 220)]
        finally:
            engine.close()
    assert probes
