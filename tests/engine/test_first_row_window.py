"""DISTINCT ON over a retention window (the staging views' shape): the first-row operator keeps
the window itself, so no temporal filter stores a second copy of every row; rows leave when
their time is up and the next row of their key takes over, as the batch query says."""

from __future__ import annotations

import random

from eddy.engine import Engine

T0 = 1_800_000_000_000        # ms
MIN = 60_000
VIEW = ("create materialized view stg as with r as (select * from ev where mz_now() <= "
        "ts + interval '2 minutes') select distinct on (id) id, ts, v from r order by id, ts, v")
QUERY = ("with r as (select * from ev where mz_now() <= ts + interval '2 minutes') "
         "select distinct on (id) id, ts, v from r order by id, ts, v")


def _ts(ms: int) -> str:
    return f"to_timestamp({ms / 1000})"


def _check(s) -> list:
    got = sorted(s.execute("select * from stg")[0].rows, key=repr)
    want = sorted(s.execute(QUERY)[0].rows, key=repr)
    assert got == want
    return got


def test_plan_keeps_the_window_in_the_first_row_state():
    e = Engine(None, tick_interval=None)
    try:
        s = e.session()
        s.execute("create table ev (id text, ts timestamptz, v int)")
        s.execute(VIEW)
        plan = "\n".join(r[0] for r in s.execute("explain materialized view stg")[0].rows)
        assert "First row per key" in plan and "rows kept until" in plan, plan
        assert "Temporal filter" not in plan, plan
    finally:
        e.close()


def test_earliest_duplicate_expires_and_the_next_takes_over(tmp_path):
    e = Engine(tmp_path, tick_interval=None)
    try:
        s = e.session()
        s.execute("create table ev (id text, ts timestamptz, v int)")
        e.tick(T0)
        s.execute(VIEW)
        s.execute(f"insert into ev values ('a', {_ts(T0)}, 1), ('a', {_ts(T0 + MIN)}, 2), "
                  f"('b', {_ts(T0 + 30_000)}, 3)")
        e.tick(T0 + 1000)
        assert [r[2] for r in _check(s)] == [1, 3]
        e.tick(T0 + 2 * MIN + 1)             # a's first row is past its window
        assert [r[2] for r in _check(s)] == [2, 3]
    finally:
        e.close()
    e = Engine(tmp_path, tick_interval=None)   # the bounds are stored: expiry goes on
    try:
        s = e.session()
        e.tick(T0 + 2 * MIN + 30_001)    # b leaves
        assert [r[2] for r in _check(s)] == [2]
        s.execute(f"insert into ev values ('c', {_ts(T0)}, 9)")   # already past: dropped
        e.tick(T0 + 3 * MIN + 1)         # a's second row leaves too
        assert _check(s) == []
    finally:
        e.close()


def test_random_late_duplicate_and_deleted_rows_match_the_batch_query():
    rng = random.Random(7)
    e = Engine(None, tick_interval=None)
    try:
        s = e.session()
        s.execute("create table ev (n int, id text, ts timestamptz, v int)")
        now = e.tick(T0)
        s.execute(VIEW)
        serial = 0
        for _ in range(40):
            rows = []
            for _ in range(rng.randint(0, 12)):
                serial += 1
                late = rng.choice([0, 0, 30_000, 90_000, 150_000])   # some already expired
                rows.append(f"({serial}, 'k{rng.randint(0, 6)}', "
                            f"{_ts(now - late + rng.randint(-5000, 5000))}, {rng.randint(0, 3)})")
            if rows:
                s.execute(f"insert into ev values {', '.join(rows)}")
            if serial and rng.random() < 0.3:
                s.execute(f"delete from ev where n = {rng.randint(1, serial)}")
            now = e.tick(now + rng.choice([1, 5000, 20_000, 45_000]))
            _check(s)
    finally:
        e.close()
