"""timestamptz - timestamptz: PostgreSQL's interval (24-hour days, the rest as time, both with
the difference's sign), in one-off reads and maintained views, in any session time zone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from eddy.engine import Engine

DAY_US = 86_400_000_000


def pg_difference(a: datetime, b: datetime) -> tuple[int, int]:
    """(days, microseconds) of PostgreSQL's a - b: the days truncated toward zero."""
    us = (a - b) // timedelta(microseconds=1)
    days = abs(us) // DAY_US * (1 if us >= 0 else -1)
    return days, us - days * DAY_US


@pytest.fixture()
def session():
    e = Engine(None, tick_interval=None)
    try:
        yield e.session()
    finally:
        e.close()


def _pairs(n: int) -> list[tuple[datetime, datetime]]:
    rnd = random.Random(11)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for _ in range(n):
        a = base + timedelta(microseconds=rnd.randrange(-10**16, 10**16))
        near = a - timedelta(microseconds=rnd.choice([0, 1, -1, 30 * 60 * 10**6,
                                                      rnd.randrange(-DAY_US * 3, DAY_US * 3)]))
        out.append((a, near if rnd.random() < 0.5 else
                    base + timedelta(microseconds=rnd.randrange(-10**16, 10**16))))
    return out


def test_difference_equals_postgresql_in_reads_and_views(session):
    pairs = _pairs(400)
    session.execute("CREATE TABLE t (i int, a timestamptz, b timestamptz)")
    session.execute("CREATE MATERIALIZED VIEW mv AS SELECT i, a - b AS d, "
                    "extract(epoch FROM a - b) AS s, a - b > interval '30 minutes' AS gap FROM t")
    for i, (a, b) in enumerate(pairs):
        session.execute("INSERT INTO t VALUES ($1, $2, $3)", [i, a, b])
    session.execute("INSERT INTO t VALUES (-1, NULL, now())")
    read = {r[0]: r[1:] for r in session.execute(
        "SELECT i, a - b, extract(epoch FROM a - b), a - b > interval '30 minutes' FROM t")[0].rows}
    view = {r[0]: r[1:] for r in session.execute("SELECT i, d, s, gap FROM mv")[0].rows}
    assert read == view
    assert read[-1] == (None, None, None)
    for i, (a, b) in enumerate(pairs):
        d, s, gap = read[i]
        days, us = pg_difference(a, b)
        assert (d.months, d.days, d.micros) == (0, days, us), (a, b)
        assert float(s) == pytest.approx((a - b).total_seconds(), rel=1e-15, abs=1e-6)
        assert gap == (a - b > timedelta(minutes=30))


def test_difference_across_daylight_saving_in_a_session_time_zone(session):
    session.execute("SET timezone = 'America/New_York'")
    rows = session.execute(
        "SELECT '2024-03-11 12:00:00-04'::timestamptz - '2024-03-09 12:00:00-05'::timestamptz, "
        "('2024-03-11 12:00:00-04'::timestamptz - '2024-03-09 12:00:00-05'::timestamptz)::text"
    )[0].rows
    d, text = rows[0]
    assert (d.days, d.micros) == (1, 23 * 3600 * 10**6)   # 47 hours: PostgreSQL's 24-hour days
    assert text == "1 day 23:00:00"
