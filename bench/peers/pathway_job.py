"""Pathway peer: page views per minute and user sessions over the benchmark's topics, in
Pathway's own idiom (a tumbling `windowby` per page, a `session` window per user over the
union of clicks, cart events and purchases). Runs in `.bench/pathway-venv` (never in the
project's venv).

    python pathway_job.py --bootstrap B --prefix P --mode static
        reads what the topics hold, computes, prints one JSON line of totals and the seconds
        `pw.run` took;
    python pathway_job.py --bootstrap B --prefix P --mode streaming
        runs until killed; prints `MARK <page_url> <epoch seconds>` when a page whose url starts
        with /bench-marker/ first shows in the page-views output.

Semantics: Pathway updates a window when a late event arrives (no watermark cutoff is set), so
late events are reflected as in eddy; duplicates (same event_id) are dropped by a groupby on
event_id before the windows, as the dbt staging models do.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import timedelta
from time import perf_counter
from time import time as wall_clock

import pathway as pw


class Click(pw.Schema):
    event_id: str
    event_time: str
    user_id: str
    event_type: str
    page_url: str


class Activity(pw.Schema):
    event_id: str
    event_time: str
    user_id: str


def read(args, topic: str, schema):
    static = args.mode == "static"
    # static: every message the topics hold, pushed as one batch (a commit every 100 ms made
    # the session windows redo their pointer-jumping per commit: 20 min for 1.2 M messages);
    # streaming: only what arrives after the start, a commit every 100 ms
    settings = {"bootstrap.servers": args.bootstrap, "group.id": f"pathway-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest" if static else "latest",
                "enable.auto.commit": "false"}
    table = pw.io.kafka.read(settings, topic=args.prefix + topic, schema=schema, format="json",
                             mode=args.mode,
                             autocommit_duration_ms=3_600_000 if static else 100)
    # at-least-once delivery: one row per event_id (the first seen), as staging does
    table = table.groupby(table.event_id).reduce(
        event_id=pw.this.event_id, event_time=pw.reducers.any(pw.this.event_time),
        **{c: pw.reducers.any(pw.this[c]) for c in schema.column_names()
           if c not in ("event_id", "event_time")})
    return table.with_columns(
        t=pw.this.event_time.dt.strptime("%Y-%m-%dT%H:%M:%S.%fZ"))


def build(args):
    clicks = read(args, "clicks", Click)
    page_views = clicks.windowby(
        clicks.t, window=pw.temporal.tumbling(duration=timedelta(minutes=1)),
        instance=clicks.page_url,
    ).reduce(window_start=pw.this._pw_window_start, page_url=pw.this._pw_instance,
             views=pw.reducers.count(), unique_users=pw.reducers.count_distinct(pw.this.user_id))
    activity = pw.Table.concat_reindex(
        clicks.select(pw.this.user_id, pw.this.t),
        read(args, "cart_events", Activity).select(pw.this.user_id, pw.this.t),
        read(args, "purchases", Activity).select(pw.this.user_id, pw.this.t))
    sessions = activity.windowby(
        activity.t, window=pw.temporal.session(max_gap=timedelta(minutes=30)),
        instance=activity.user_id,
    ).reduce(user_id=pw.this._pw_instance, session_start=pw.reducers.min(pw.this.t),
             session_end=pw.reducers.max(pw.this.t), event_count=pw.reducers.count())
    return page_views, sessions


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--mode", choices=["static", "streaming"], default="static")
    args = ap.parse_args()
    page_views, sessions = build(args)
    if args.mode == "static":
        totals = {"views": 0, "page_rows": 0, "session_rows": 0, "session_events": 0}

        def on_pv(key, row, time, is_addition):
            sign = 1 if is_addition else -1
            totals["views"] += sign * row["views"]
            totals["page_rows"] += sign

        def on_s(key, row, time, is_addition):
            sign = 1 if is_addition else -1
            totals["session_rows"] += sign
            totals["session_events"] += sign * row["event_count"]

        pw.io.subscribe(page_views, on_change=on_pv)
        pw.io.subscribe(sessions, on_change=on_s)
        t0 = perf_counter()
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
        print(json.dumps({**totals, "seconds": perf_counter() - t0}), flush=True)
        return 0

    seen: set[str] = set()

    def on_mark(key, row, time, is_addition):  # pathway passes these by keyword
        url = row["page_url"]
        if is_addition and url.startswith("/bench-marker/") and url not in seen:
            seen.add(url)
            print(f"MARK {url} {wall_clock():.6f}", flush=True)

    pw.io.subscribe(page_views, on_change=on_mark)
    pw.io.null.write(sessions)
    print("READY", flush=True)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
