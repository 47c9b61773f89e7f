"""Page building blocks: live fragments that survive an unreachable engine, charts, metric
helpers.

DASHBOARD_TIMINGS=<file>: every fragment run appends {"tile", "seconds", "at"} as a JSON line
(bench/dashboard_bench.py reports the server's share of a page load from it).
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from pathlib import Path

import psycopg
import streamlit as st

from app import db

LIVE_EVERY = db.LIVE_EVERY   # seconds between live tile refreshes (changes show within 2 s)
SLOW_EVERY = 5.0
TIMINGS = os.environ.get("DASHBOARD_TIMINGS")


def live(run_every: float = LIVE_EVERY):
    """Decorator: the function becomes a fragment rerun every `run_every` seconds that shows a
    clear "engine unreachable" state (and recovers by itself) instead of an exception."""
    def wrap(fn):
        @st.fragment(run_every=run_every)
        @functools.wraps(fn)
        def body(*args, **kwargs):
            guarded(fn, *args, **kwargs)
        return body
    return wrap


def guarded(fn, *args, **kwargs) -> None:
    """Run `fn`; an unreachable engine, a missing mart or a rejected query becomes a notice in
    its place instead of an exception."""
    t0 = time.perf_counter()
    try:
        fn(*args, **kwargs)
    except db.EngineUnreachable as e:
        unreachable(str(e))
    except psycopg.errors.UndefinedTable as e:
        st.warning(f"Not available yet: {_first_line(e)}. Run `dbt run` to create the "
                   "marts; this tile retries by itself.", icon=":material/hourglass_empty:")
    except psycopg.Error as e:
        st.warning(f"The engine rejected a query: {_first_line(e)}", icon=":material/warning:")
    finally:
        if TIMINGS:
            _timing(f"{Path(fn.__code__.co_filename).stem}.{fn.__name__}",
                    time.perf_counter() - t0)


def timing(what: str, started: float) -> None:
    """Record a run that began at perf_counter() `started` (with DASHBOARD_TIMINGS set)."""
    if TIMINGS:
        _timing(what, time.perf_counter() - started)


def _timing(tile: str, seconds: float) -> None:
    with open(TIMINGS, "a") as f:
        f.write(json.dumps({"tile": tile, "seconds": round(seconds, 4), "at": time.time()}) + "\n")


def chart(container, spec_and_data) -> None:
    """Draw a chart of app/charts.py in `container` (st or a column), full width."""
    data, spec = spec_and_data
    container.vega_lite_chart(data, spec, width="stretch")


def unreachable(reason: str) -> None:
    st.error(f"**Engine unreachable** at `{db.settings().address}`. Retrying every "
             f"{LIVE_EVERY:.0f} s; this page recovers by itself when the engine is back.\n\n"
             f"Reason: {reason}", icon=":material/power_off:")


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def number(value, fmt: str = "{:,.0f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def seconds(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = max(float(value), 0.0)
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def rates(df, key: str = "source_rates"):
    """Add `messages_per_second` to source health rows (cumulative `messages_received` at the
    engine's `sampled_at`) from the previous sample this browser session saw."""
    prev = st.session_state.get(key, {})
    seen, out = {}, []
    for src, at, received in zip(df["source"], df["sampled_at"], df["messages_received"],
                                 strict=True):
        t0, r0, rate = prev.get(src, (None, None, 0.0))
        if t0 is not None and at > t0 and received is not None and r0 is not None:
            rate = max((received - r0) / (at - t0), 0.0)
            seen[src] = (at, received, rate)
        else:
            seen[src] = (t0, r0, rate) if t0 is not None else (at, received, 0.0)
        out.append(rate)
    st.session_state[key] = seen
    return df.assign(messages_per_second=out)
