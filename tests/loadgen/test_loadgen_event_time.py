"""Event time advances at about one simulated second per `rate` events, at low and high rates:
the default population is sized for the users in a session at once, and a population too small
for the rate overlaps sessions rather than slowing event time down. (In-process, no Kafka.)"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from loadgen_helpers import START_MS

from loadgen.runner import RunOptions, messages


def span_ratio(n: int, rate: float, **kw) -> tuple[float, set[str]]:
    """(simulated span of the first n events) / (n / rate), and the users seen.

    The span is that of the middle 99% of the event times: the payment 400 ms after a checkout
    or a log line a few ms after its event stick out past the last step of the simulation.
    """
    opts = RunOptions(seed=7, events=n, rate=rate, start_ms=START_MS, via=None, **kw)
    times, users = [], set()
    for topic, key, value, _ in itertools.islice(messages(opts), n):
        i = value.index('"event_time":"') + 14
        times.append(value[i:i + 23])  # ISO 8601 in UTC, to the millisecond: sorts as time
        if topic != "app_logs":
            users.add(key)
    times.sort()
    lo, hi = (datetime.fromisoformat(times[int(q * (n - 1))]) for q in (0.005, 0.995))
    return (hi - lo).total_seconds() / (0.99 * n / rate), users


@pytest.mark.parametrize("rate", [1000, 20_000])
def test_event_time_advances_one_second_per_rate_events(rate):
    ratio, _ = span_ratio(100_000, rate)
    assert 0.9 < ratio < 1.1, ratio


def test_too_few_users_overlap_sessions_and_keep_the_rate():
    ratio, users = span_ratio(100_000, 5000, users=1000)
    assert 0.9 < ratio < 1.1, ratio
    assert 900 < len(users) <= 1000
