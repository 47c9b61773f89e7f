"""The soak's memory verdict (bench/marts_soak.py): RSS compared right after folds, once the
warm-up is over, which lasts until DuckDB's cache of the file is full."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import marts_soak  # noqa: E402

LIMIT = 1843.2  # MB: EDDY_MEMORY_LIMIT's 2GB as DuckDB prints it back (1.8 GiB)


def samples(rss: list[float], duck: list[float], limit: float | None = LIMIT) -> list[dict]:
    """Minute samples whose WAL folds every other minute (small at odd minutes from 3)."""
    return [{"minute": m + 1.0, "rss_mb": r, "duckdb_mb": d, "duckdb_limit_mb": limit,
             "wal_mb": 400 if m % 2 == 0 and m >= 2 else 880, "lag_messages": 20_000}
            for m, (r, d) in enumerate(zip(rss, duck, strict=True))]


# the 30-minute soak of session 15, minutes 1-12: RSS right after the folds at minutes 3, 5, 7,
# 9 and 11 rises while DuckDB's memory climbs to its limit (first at 90% of it at minute 5)
RSS = [1180, 1897, 2004, 2530, 2356, 2601, 2421, 2601, 2538, 2503, 2396, 2535]
DUCK = [704, 1312, 1405, 1657, 1661, 1678, 1523, 1864, 1728, 1644, 1673, 1774]


def test_the_warm_up_lasts_until_duckdbs_cache_is_full():
    got = marts_soak.verdict(samples(RSS, DUCK), seconds=720, rate=10_000)
    assert got["duckdb_filled_minute"] == 5.0
    assert got["rss_compared"] == {"how": "right after folds", "minutes": [5.0, 11.0]}
    assert got["flat"] and abs(got["rss_growth"] - (2396 - 2356) / 2356) < 1e-9


def test_rss_growing_once_the_cache_is_full_is_not_flat():
    rss = RSS[:6] + [2700, 2800, 2900, 3000, 3100, 3200]
    got = marts_soak.verdict(samples(rss, DUCK), seconds=720, rate=10_000)
    assert got["rss_compared"]["minutes"] == [5.0, 11.0] and not got["flat"]


def test_a_cache_that_never_fills_leaves_the_warm_up_as_it_was():
    duck = [d / 2 for d in DUCK]
    got = marts_soak.verdict(samples(RSS, duck), seconds=720, rate=10_000)
    assert got["duckdb_filled_minute"] is None
    assert got["rss_compared"]["minutes"] == [3.0, 11.0] and not got["flat"]   # +19.6%


def test_a_state_in_memory_is_judged_without_folds():
    """No WAL, no folds (--state-storage memory): the first and last samples after the warm-up
    compare. The memory soak of session 25 (10,000 events/s): RSS by minute, growing with the
    raw messages the sources keep."""
    rss = [574, 1378, 1457, 1678, 1905, 3803, 2710, 2867, 3055, 3194]
    rows = [{"minute": m + 0.2, "rss_mb": r, "duckdb_mb": r * 0.7, "duckdb_limit_mb": 19_251,
             "wal_mb": 0, "lag_messages": 15_000} for m, r in enumerate(rss)]
    got = marts_soak.verdict(rows, seconds=600, rate=10_000)
    assert got["rss_compared"] == {"how": "first and last after the warm-up",
                                   "minutes": [2.2, 9.2]}
    assert got["kept_up"] and not got["flat"]
    assert abs(got["rss_growth"] - (3194 - 1457) / 1457) < 1e-9
    flat = [dict(r, rss_mb=1500) for r in rows]
    assert marts_soak.verdict(flat, seconds=600, rate=10_000)["flat"]


def test_an_engine_falling_behind_is_not_flat():
    rows = samples(RSS, DUCK)
    for i, row in enumerate(rows):
        row["lag_messages"] = 20_000 + i * 100_000
    got = marts_soak.verdict(rows, seconds=720, rate=10_000)
    assert not got["kept_up"] and not got["flat"]


def test_each_minute_keeps_its_sample_closest_to_a_fold():
    """Samples every 10 s (taken up to a second late), folds more often than once a minute: a
    minute's sample is its one with the least WAL, with the minute's median lag."""
    raw = []
    for k in range(1, 19):                       # 3 minutes of 10-s slots
        wal = [200, 30, 120, 250, 60, 150][k % 6]
        raw.append({"minute": k / 6 + 0.01, "wal_mb": wal, "rss_mb": 2000 + wal * 1.3,
                    "lag_messages": 1000 * k})
    got = marts_soak.per_minute(raw)
    assert [round(x["minute"], 2) for x in got] == [0.18, 1.18, 2.18]
    assert all(x["wal_mb"] == 30 for x in got)
    assert [x["lag_messages"] for x in got] == [3500, 9500, 15500]
