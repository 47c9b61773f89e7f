"""Flink SQL peer: page views per minute (TUMBLE window TVF) and user sessions (SESSION window
TVF partitioned by user over clicks, cart events and purchases) over the benchmark's topics,
in PyFlink's Table API with the Kafka SQL connector. Runs in `.bench/flink-venv`.

    python flink_job.py --bootstrap B --prefix P --jar JAR --mode static|streaming

static: the sources are bounded at the offsets the topics hold when the job starts; prints one
JSON line with the seconds from submission to the end of the job. streaming: runs until killed.
Both write their results as JSON to the topics `<prefix>flink_page_views` and
`<prefix>flink_sessions`, which the harness reads (totals, and when each marker page appears).

Semantics (Flink's, not eddy's): event time with a watermark 1 s behind the largest event time
seen; an event behind the watermark when it arrives is dropped by the windows (eddy and Pathway
update the window instead); no deduplication by event_id (a deduplicated stream loses its
event-time attribute in Flink SQL, so the windows could not follow it); a window's row is
written once, when the watermark passes its end (so freshness includes the window length).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from pyflink.table import EnvironmentSettings, TableEnvironment

TS = ("TO_TIMESTAMP(REPLACE(REPLACE(event_time, 'T', ' '), 'Z', ''), "
      "'yyyy-MM-dd HH:mm:ss.SSS')")


def source(args, name: str, columns: str) -> str:
    # static: every message the topics hold; streaming: only what arrives after the start
    # (the freshness phase measures new events, not a catch-up over the history)
    start = "earliest-offset" if args.mode == "static" else "latest-offset"
    bounded = ",\n  'scan.bounded.mode' = 'latest-offset'" if args.mode == "static" else ""
    return f"""
CREATE TABLE {name} (
  event_id STRING, event_time STRING, {columns},
  ts AS {TS},
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'kafka', 'topic' = '{args.prefix}{name}',
  'properties.bootstrap.servers' = '{args.bootstrap}',
  'properties.group.id' = 'flink-{uuid.uuid4().hex}',
  'scan.startup.mode' = '{start}'{bounded},
  'format' = 'json', 'json.ignore-parse-errors' = 'true'
)"""


def sink(args, name: str, columns: str) -> str:
    return f"""
CREATE TABLE {name} ({columns}) WITH (
  'connector' = 'kafka', 'topic' = '{args.prefix}{name}',
  'properties.bootstrap.servers' = '{args.bootstrap}',
  'format' = 'json', 'sink.delivery-guarantee' = 'at-least-once'
)"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--jar", required=True)
    ap.add_argument("--mode", choices=["static", "streaming"], default="static")
    ap.add_argument("--parallelism", type=int, default=2)
    args = ap.parse_args()
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("pipeline.jars", f"file://{args.jar}")
    conf.set("parallelism.default", str(args.parallelism))
    conf.set("table.exec.source.idle-timeout", "2 s")   # partitions without new events
    for statement in (
        source(args, "clicks", "user_id STRING, event_type STRING, page_url STRING"),
        source(args, "cart_events", "user_id STRING"),
        source(args, "purchases", "user_id STRING"),
        sink(args, "flink_page_views", "window_start TIMESTAMP(3), page_url STRING, "
                                       "`views` BIGINT, unique_users BIGINT"),
        sink(args, "flink_sessions", "user_id STRING, session_start TIMESTAMP(3), "
                                     "session_end TIMESTAMP(3), event_count BIGINT"),
    ):
        env.execute_sql(statement)
    env.execute_sql("""
CREATE TEMPORARY VIEW activity AS
  SELECT user_id, ts FROM clicks
  UNION ALL SELECT user_id, ts FROM cart_events
  UNION ALL SELECT user_id, ts FROM purchases""")
    statements = env.create_statement_set()
    statements.add_insert_sql("""
INSERT INTO flink_page_views
SELECT window_start, page_url, COUNT(*), COUNT(DISTINCT user_id)
  FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
 GROUP BY window_start, window_end, page_url""")
    statements.add_insert_sql("""
INSERT INTO flink_sessions
SELECT user_id, MIN(ts), MAX(ts), COUNT(*)
  FROM TABLE(SESSION(TABLE activity PARTITION BY user_id, DESCRIPTOR(ts), INTERVAL '30' MINUTE))
 GROUP BY user_id, window_start, window_end""")
    t0 = time.perf_counter()
    result = statements.execute()
    print("READY", flush=True)
    result.wait()
    print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
