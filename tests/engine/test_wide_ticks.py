"""Ticks that touch more keys than a state table's index serves (keyed_state.Sizes.match: the
lookups and deletes then join on the key hash without DuckDB's pushed-down IN filter), and
first-row outputs handed to their consumer as SQL (operators_first._Lazy): session-merge,
first-row, min/max and left-join-chain views over such ticks (late, duplicate, deleted and
updated rows) equal DuckDB's batch evaluation after every step."""

from __future__ import annotations

import random

import duckdb
from oracle import Shape, base_ms, run_stream
from test_oracle_plan_keyjoin import LOGINS
from test_oracle_sessions import MODEL

from eddy.dataflow import keyed_state
from eddy.dataflow.operators_first import FirstRow, _Lazy
from eddy.dataflow.runtime import TickContext
from eddy.engine import Engine

USERS = 600    # keys per tick: above keyed_state.INDEX_SCAN_MAX

SHAPE = Shape("wide", (
    ("v1", MODEL),
    ("v2", "select distinct on (g) g, id, v, ts from t1 order by g, ts desc, id"),
    ("v3", "select g, max(v) as mx, min(ts) as first from t1 group by g"),
    ("v4", LOGINS),
))


def _stream(seed: int) -> list:
    """Waves of rows over USERS keys: in order, late, repeated, then deletes and updates."""
    rnd = random.Random(seed)
    rows, steps, next_id = [], [], 1
    for wave in range(2):
        batch = []
        for _ in range(2 * USERS):
            g = f"u{rnd.randrange(USERS)}"
            ts = wave * 40 + rnd.randrange(40) - (30 if rnd.random() < 0.1 else 0)
            row = (next_id, g, rnd.randrange(100), 0.5, rnd.random() < 0.3, ts, None)
            next_id += 1
            batch.append(row)
            if rnd.random() < 0.05:
                batch.append(row)       # the same row twice in one tick
        rows += batch
        steps.append(("insert", "t1", batch, "cast", False))
        steps.append(("insert", "t2", [(i, f"u{i % USERS}", wave) for i in
                                       range(wave * USERS, (wave + 1) * USERS)], "cast", False))
    for row in rnd.sample(rows, 3):
        steps.append(("delete", "t1", row[0]))
    steps.append(("update", "t1", rows[3][0], "ts", 200))
    steps.append(("insert", "t1", [(next_id + i, f"u{i}", 1, 0.5, True, 500, None)
                                   for i in range(USERS)], "cast", False))
    return steps


def test_wide_ticks_match_oracle(monkeypatch):
    choices = []
    match = keyed_state.Sizes.match

    def recorded(sizes, rt, table, alias, probes):
        got = match(sizes, rt, table, alias, probes)
        choices.append(got.startswith("xor("))
        return got

    monkeypatch.setattr(keyed_state.Sizes, "match", recorded)
    engine = Engine(None, tick_interval=None)
    try:
        assert run_stream(engine, SHAPE, _stream(7), base_ms()) > 0
    finally:
        engine.close()
    assert any(choices) and not all(choices), choices


def test_index_or_scan_choice():
    """By index (the plain join: the IN filter reaches the index) for few keys in a table
    with many rows per key, or a small share of a large table; else the join through xor()
    over a scan: also for 1,000 keys in 60,000 rows, where the index would have paid but
    DuckDB does not use it for that many (before one rule, a lookup chose the plain join
    there and DuckDB scanned the table testing every row against the 1,000 hashes)."""
    conn = duckdb.connect()
    rt = TickContext(conn, 0, 0)
    for name, rows in (("small", 2000), ("middle", 60_000), ("big", 300_000)):
        conn.execute(f"CREATE TABLE {name} AS SELECT range AS k, hash(range) AS __h "
                     f"FROM range({rows})")
    sizes = keyed_state.Sizes()
    assert sizes.match(rt, "small", "s", 10) == "s.__h = t.__h"
    assert sizes.match(rt, "big", "s", 1000) == "s.__h = t.__h"
    assert sizes.match(rt, "small", "s", 100).startswith("xor(")   # 20 rows a key: scanned
    assert sizes.match(rt, "middle", "s", 1000).startswith("xor(")
    many = rt.table("SELECT hash(range) AS __h FROM range(1000)")
    wide = sizes.match(rt, "small", "s", many.num_rows)
    got = conn.execute(f"SELECT count(*) FROM small s SEMI JOIN {many.name} t ON {wide}")
    assert got.fetchone()[0] == 1000
    conn.close()


def test_first_row_output_not_written_for_a_served_view():
    """A deduplicating view served from its first-row state: a tick of new keys writes the
    new rows into the state and once as the view's change, the operator's own output stays
    SQL (before, a third copy of every row)."""
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table ev (event_id text, event_time timestamptz, user_id text)")
        s.execute("create materialized view stg as select distinct on (event_id) * from ev "
                  "order by event_id, event_time")
        s.execute("insert into ev select 'e' || i::text, now(), 'u' from "
                  "generate_series(1, 3000) as x(i)")
        oid = next(o.id for o in engine.catalog if o.name == "stg")
        root = engine.dataflows[oid].root
        assert isinstance(root, FirstRow)
        assert isinstance(root._delta, _Lazy) and root._delta.pending
        assert s.execute("select count(*) from stg")[0].rows[0][0] == 3000
    finally:
        engine.close()
