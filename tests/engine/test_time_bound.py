"""Time-bounded lookups of aggregate state (keyed_state.TimeBound): an aggregate grouped by a
time bucket reads its stored groups within the range of the change's buckets (so DuckDB can
skip the row groups of older ones). The views stay equal to their batch query whatever the
change holds: late rows for old buckets, NULL times, retractions, duplicates."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from eddy.dataflow import keyed_state
from eddy.engine import Engine

VIEWS = {
    # a distinct count and counts per (minute, page): pairs and accumulators both bounded
    "per_minute": "SELECT date_trunc('minute', t) AS m, page, count(*) AS n, "
                  "count(DISTINCT uid) AS users FROM ev GROUP BY 1, 2",
    # no distinct aggregate: the bound comes from the change itself
    "per_day": "SELECT d, count(*) AS n, sum(amount) AS total FROM ev GROUP BY d",
    # two time groups and one that is not
    "per_hour_day": "SELECT date_trunc('hour', t) AS h, d, page, count(uid) AS n FROM ev "
                    "GROUP BY 1, 2, 3",
}
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _rows(rng: random.Random, n: int, now: int) -> list[tuple]:
    """Rows around minute `now`: mostly recent, some late (hours before), some NULL times."""
    out = []
    for _ in range(n):
        r = rng.random()
        minute = now - rng.randrange(3) if r < 0.8 else rng.randrange(max(now, 1))
        t = None if r > 0.97 else T0 + timedelta(minutes=minute, seconds=rng.randrange(60))
        d = None if r > 0.98 else date(2026, 12, 1) + timedelta(days=minute // 1440)
        out.append((t, d, f"/p{rng.randrange(4)}", f"u{rng.randrange(30)}",
                    rng.randrange(1, 100)))
    return out


def _same(s, view: str) -> None:
    got = sorted(s.execute(f"SELECT * FROM {view}")[0].rows, key=repr)
    want = sorted(s.execute(VIEWS[view])[0].rows, key=repr)
    assert got == want, view


@pytest.mark.parametrize("seed", [1, 2])
def test_bounded_lookups_match_the_batch_query(monkeypatch, seed):
    monkeypatch.setattr(keyed_state, "BOUND_MIN_ROWS", 0)     # bound every lookup
    rng = random.Random(seed)
    e = Engine(None, tick_interval=None)
    s = e.session()
    s.execute("CREATE TABLE ev (t timestamptz, d date, page text, uid text, amount int)")
    for name, sql in VIEWS.items():
        s.execute(f"CREATE MATERIALIZED VIEW {name} AS {sql}")
    inserted: list[tuple] = []
    for step in range(12):
        now = 120 + step * 90
        batch = _rows(rng, 150, now)
        batch += rng.sample(inserted, min(10, len(inserted)))      # duplicates of old rows
        marks = ", ".join(f"(${5 * i + 1}, ${5 * i + 2}, ${5 * i + 3}, ${5 * i + 4}, "
                          f"${5 * i + 5})" for i in range(len(batch)))
        s.execute(f"INSERT INTO ev VALUES {marks}", [v for row in batch for v in row])
        inserted += batch
        if step % 3 == 2:   # retractions: old and recent buckets, NULL times among them
            s.execute("DELETE FROM ev WHERE uid = $1 OR (t IS NULL AND page = $2)",
                      (f"u{rng.randrange(30)}", f"/p{rng.randrange(4)}"))
        for name in VIEWS:
            _same(s, name)
    e.close()
