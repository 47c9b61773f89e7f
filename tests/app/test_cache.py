"""The dashboard's shared query cache (app/cache.py): one query per tile and interval however
many sessions ask, fresh again after the TTL, errors never cached, a page's queries at once."""

from __future__ import annotations

import threading
import time

import pytest

from app.cache import cached, gather


def test_concurrent_callers_share_one_call_and_the_result_expires():
    calls = []

    @cached(0.3)
    def query(x):
        calls.append(x)
        time.sleep(0.2)
        return [x, len(calls)]

    results = []
    threads = [threading.Thread(target=lambda: results.append(query(1))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and results == [[1, 1]] * 8       # eight sessions, one query
    assert query(2) == [2, 2]                             # other arguments: their own entry
    time.sleep(0.35)
    assert query(1) == [1, 3]                             # past the TTL: asked again


def test_errors_are_not_cached():
    outcomes = [RuntimeError("engine gone"), "back"]

    @cached(60)
    def query():
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    with pytest.raises(RuntimeError, match="engine gone"):
        query()
    assert query() == "back"


def test_gather_runs_the_calls_at_once_and_raises_the_first_error():
    t0 = time.perf_counter()
    out = gather(a=lambda: time.sleep(0.5) or "a", b=lambda: time.sleep(0.5) or "b",
                 c=lambda: time.sleep(0.5) or "c")
    assert out == {"a": "a", "b": "b", "c": "c"}
    assert time.perf_counter() - t0 < 1.2                 # not 1.5 s one after the other

    def fail():
        raise ValueError("rejected")

    with pytest.raises(ValueError, match="rejected"):
        gather(ok=lambda: 1, bad=fail)


def test_a_caller_coming_back_on_time_finds_the_next_result_fetched_ahead():
    starts: list[float] = []

    @cached(0.8, ahead=0.5)
    def query():
        starts.append(time.monotonic())
        time.sleep(0.2)                                   # the engine takes 0.2 s
        return len(starts)

    assert query() == 1                                   # the first call waits for it
    waits, values = [], []
    for _ in range(6):                                    # a live tile rerunning every 0.5 s
        time.sleep(0.5)
        t0 = time.monotonic()
        values.append(query())
        waits.append(time.monotonic() - t0)
        assert t0 - starts[values[-1] - 1] < 0.8          # never older than the ttl
    assert max(waits) < 0.1, waits                        # fetched ahead: no call waited
    assert values == sorted(values) and values[-1] >= 6   # a new result at every rerun
    time.sleep(1.2)
    fetched = len(starts)
    time.sleep(1.0)
    assert len(starts) == fetched                         # nobody came back: nothing fetched
