"""Shared, short-lived query results and concurrent fetching for the dashboard.

`cached(ttl, ahead)`: one result per (function, arguments) shared by every browser session
while it is younger than `ttl` seconds (counted from the start of its query), computed once
even when many sessions ask at the same moment (single flight): with live tiles rerunning
every second in every open tab, the engine sees one query per tile and interval, not one per
tab. With `ahead` (the live tiles' rerun interval) the next result is fetched in the
background shortly before the next call is due, so a tile's rerun finds it ready instead of
waiting for the engine (while it waits, the browser shows the tile as stale); nothing is
fetched for a key nobody asked for within the last interval. Results are returned as is
(callers do not modify them).

`gather(a=lambda: ..., b=...)`: a page's queries at once on a small thread pool, so a page
costs the slowest query, not the sum of them; `prefetch(...)` starts them at the top of a page
with several tiles, which then join the queries in flight.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

WORKERS = 4
_executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="dashboard-query")
#: a fetch ahead starts this long before the next call is due, at least, and its last
#: duration plus MARGIN before it when that is longer (at most ttl - MARGIN: never older)
LEAD, MARGIN = 0.3, 0.15


class _Entry:
    __slots__ = ("done", "error", "started", "value")

    def __init__(self, started: float):
        self.done = threading.Event()
        self.started, self.value, self.error = started, None, None


def cached(ttl: float, ahead: float = 0.0):
    """Decorator: cache the function's result per arguments while younger than `ttl` seconds
    (single flight; errors are not cached); with `ahead`, fetch the next result in the
    background before a caller coming back every `ahead` seconds needs it. `fn.clear()`
    forgets every result."""
    def wrap(fn):
        lock = threading.Lock()
        entries: dict[tuple, _Entry] = {}   # newest finished result per key
        pending: dict[tuple, _Entry] = {}   # the query in flight per key
        used: dict[tuple, float] = {}       # last call per key
        took: dict[tuple, float] = {}       # duration of the last query per key

        def run(key: tuple, entry: _Entry, args, kwargs) -> None:
            try:
                entry.value = fn(*args, **kwargs)
            except BaseException as e:
                entry.error = e
                raise
            finally:
                with lock:
                    if pending.get(key) is entry:
                        del pending[key]
                    current = entries.get(key)
                    if entry.error is None and (current is None
                                                or current.started <= entry.started):
                        entries[key] = entry
                    took[key] = time.monotonic() - entry.started
                entry.done.set()

        def refresh(key: tuple, args, kwargs) -> None:
            """Due shortly before the next call: fetch unless nobody came back, a query is in
            flight or a fresh result came meanwhile."""
            now = time.monotonic()
            with lock:
                current = entries.get(key)
                if (now - used.get(key, 0.0) > ahead * 1.5 or key in pending
                        or (current is not None and now - current.started < LEAD)):
                    return
                entry = pending[key] = _Entry(now)
            _executor.submit(_quiet, lambda: run(key, entry, args, kwargs))

        @functools.wraps(fn)
        def call(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            now = time.monotonic()
            with lock:
                used[key] = now
                current = entries.get(key)
                owner = False
                if current is not None and now - current.started < ttl:
                    entry = current
                elif key in pending:
                    entry = pending[key]
                else:
                    entry = pending[key] = _Entry(now)
                    owner = True
                lead = min(max(LEAD, took.get(key, 0.0) + MARGIN), ttl - MARGIN)
            if ahead:
                _later(now + ahead - lead, lambda: refresh(key, args, kwargs))
            if owner:
                run(key, entry, args, kwargs)
                return entry.value
            entry.done.wait()
            if entry.error is not None:
                raise entry.error
            return entry.value

        def clear():
            with lock:
                entries.clear()
                pending.clear()
                used.clear()
                took.clear()

        call.clear = clear
        return call
    return wrap


_timers: list[tuple[float, int, Callable[[], None]]] = []
_timers_cv = threading.Condition()
_timer_seq = itertools.count()
_timer_thread: threading.Thread | None = None


def _later(due: float, fn: Callable[[], None]) -> None:
    """Run `fn` at monotonic time `due` on the one timer thread (started on first use)."""
    global _timer_thread
    with _timers_cv:
        heapq.heappush(_timers, (due, next(_timer_seq), fn))
        if _timer_thread is None:
            _timer_thread = threading.Thread(target=_timer_loop, name="dashboard-ahead",
                                             daemon=True)
            _timer_thread.start()
        _timers_cv.notify()


def _timer_loop() -> None:
    while True:
        with _timers_cv:
            while not _timers or _timers[0][0] > time.monotonic():
                _timers_cv.wait(None if not _timers else _timers[0][0] - time.monotonic())
            fn = heapq.heappop(_timers)[2]
        _quiet(fn)


def prefetch(*calls: Callable[[], Any]) -> None:
    """Start the calls (cached functions) in the background and return at once: the tiles
    that call them later join the queries already in flight instead of running their own."""
    for fn in calls:
        _executor.submit(_quiet, fn)


def _quiet(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):  # the tile's own call raises it and shows it
        fn()


def gather(**calls: Callable[[], Any]) -> dict[str, Any]:
    """Run the calls concurrently; their results by name. The first error (in argument order)
    is raised after all have finished."""
    futures = {name: _executor.submit(fn) for name, fn in calls.items()}
    out, error = {}, None
    for name, fut in futures.items():
        try:
            out[name] = fut.result()
        except Exception as e:  # noqa: BLE001 - re-raised below
            error = error or e
    if error is not None:
        raise error
    return out
