"""Shared, short-lived query results and concurrent fetching for the dashboard.

`cached(ttl)`: one result per (function, arguments) shared by every browser session for `ttl`
seconds, computed once even when many sessions ask at the same moment (single flight): with
live tiles rerunning every second in every open tab, the engine sees one query per tile and
interval, not one per tab. Results are returned as is (callers do not modify them).

`gather(a=lambda: ..., b=...)`: a page's queries at once on a small thread pool, so a page
costs the slowest query, not the sum of them; `prefetch(...)` starts them at the top of a page
with several tiles, which then join the queries in flight.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

WORKERS = 4
_executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="dashboard-query")


class _Entry:
    __slots__ = ("at", "done", "error", "value")

    def __init__(self):
        self.done = threading.Event()
        self.at, self.value, self.error = 0.0, None, None


def cached(ttl: float):
    """Decorator: cache the function's result per arguments for `ttl` seconds (single flight;
    errors are not cached). `fn.clear()` forgets every result."""
    def wrap(fn):
        lock = threading.Lock()
        entries: dict[tuple, _Entry] = {}

        @functools.wraps(fn)
        def call(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            with lock:
                entry = entries.get(key)
                fresh = entry is not None and (not entry.done.is_set()
                                               or time.monotonic() - entry.at < ttl)
                if not fresh:
                    entry = entries[key] = _Entry()
                    owner = True
                else:
                    owner = False
            if owner:
                try:
                    entry.value = fn(*args, **kwargs)
                except BaseException as e:
                    entry.error = e
                    with lock:
                        if entries.get(key) is entry:
                            del entries[key]
                    raise
                finally:
                    entry.at = time.monotonic()
                    entry.done.set()
                return entry.value
            entry.done.wait()
            if entry.error is not None:
                raise entry.error
            return entry.value

        def clear():
            with lock:
                entries.clear()

        call.clear = clear
        return call
    return wrap


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
