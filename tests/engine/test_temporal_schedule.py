"""Temporal filters schedule their next event without a statement in the common tick (new rows
end or start no earlier than the event already scheduled) and still wake up on time when a
late row ends or starts earlier: every view equals its batch query at every tick, over random
streams of late, out-of-order and duplicate rows with deletions."""

from __future__ import annotations

import random

import pytest

from eddy.engine import Engine

VIEWS = {
    "window": "SELECT id, t FROM ev WHERE mz_now() <= t + 1000",
    "expired": "SELECT count(*) AS n FROM ev WHERE mz_now() > t + 1000",
    "both": "SELECT id FROM ev WHERE mz_now() >= t AND mz_now() < t + 500",
}


def _check(s, views) -> None:
    for name, query in views.items():
        got = sorted(s.execute(f"SELECT * FROM {name}")[0].rows)
        want = sorted(s.execute(query)[0].rows)
        assert got == want, name


def _engine():
    engine = Engine(None, tick_interval=None)
    engine.tick(1_000)
    s = engine.session()
    s.execute("CREATE TABLE ev (id int, t bigint)")
    for name, query in VIEWS.items():
        s.execute(f"CREATE MATERIALIZED VIEW {name} AS {query}")
    return engine, s


def test_a_later_row_that_ends_earlier_wakes_the_filter():
    engine, s = _engine()
    try:
        s.execute("INSERT INTO ev VALUES (1, 10000)")        # next events at 10000, 11000
        engine.tick(1_100)
        s.execute("INSERT INTO ev VALUES (2, 1500)")         # ends at 2500, expires after
        engine.tick(1_200)
        _check(s, VIEWS)
        for now in (2_000, 2_500, 2_501, 3_000, 10_000, 11_001):  # no input: wake-ups only
            engine.tick(now)
            _check(s, VIEWS)
        assert s.execute("SELECT n FROM expired")[0].rows == [(2,)]
    finally:
        engine.close()


@pytest.mark.parametrize("seed", range(6))
def test_random_late_rows_follow_time(seed):
    rng = random.Random(seed)
    engine, s = _engine()
    try:
        now, ids = 1_000, []
        for _ in range(25):
            rows = []
            for _ in range(rng.randint(0, 6)):
                i = rng.randint(1, 40)          # repeated ids: duplicates
                rows.append((i, now + rng.randint(-1500, 1500)))   # late and early rows
            if rows:
                s.execute("INSERT INTO ev VALUES " + ", ".join(f"({i}, {t})" for i, t in rows))
                ids += [i for i, _ in rows]
            if ids and rng.random() < 0.2:
                s.execute(f"DELETE FROM ev WHERE id = {rng.choice(ids)}")
            now += rng.choice([0, 1, 100, 400, 700])
            engine.tick(now)
            _check(s, VIEWS)
    finally:
        engine.close()
