"""All of the dashboard's database access: connection settings, a small connection pool, and
one function per query (lowercase SQL, bound parameters; identifiers only from the catalog,
quoted by psycopg). Works against eddy and a real Materialize alike.

Connection settings, first found wins: Streamlit secrets `[connections.eddy]` (host, port,
user, password, dbname, sslmode, cluster), then the environment variables of app/settings.py.

psycopg 3 with its default settings: every query runs in its own read transaction that is
ended right after the fetch (Materialize confines a transaction to one time domain, so
queries are never batched into one). A page runs its queries concurrently on the pool
(app/cache.py `gather`); results are shared between sessions for LIVE_TTL / SLOW_TTL seconds.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from collections.abc import Sequence
from decimal import Decimal

import pandas as pd
import psycopg
import streamlit as st
from psycopg import sql

from app.cache import WORKERS, cached
from app.settings import Settings, settings_from

LIVE_EVERY = 1.0     # seconds between the live tiles' reruns (app/ui.py)
LIVE_TTL = 0.8       # live results are served while their query began at most this long ago:
#                      a change shows within LIVE_TTL + LIVE_EVERY < 2 s; the next result is
#                      fetched ahead of the tile's next rerun (app/cache.py)
SLOW_TTL = 5.0       # heavier queries
POOL_SIZE = WORKERS

MARTS = ("page_views_per_minute", "user_sessions", "funnel_conversion",
         "account_takeover_alerts", "error_alerts")
#: (relation, newest-time expression) per view whose freshness the Operations page shows.
FRESHNESS = (
    ("page_views_per_minute", "window_start + interval '1 minute'"),
    ("user_sessions", "session_end"),
    ("account_takeover_alerts", "transaction_time"),
    ("error_alerts", "window_start + interval '1 minute'"),
    ("stg_clicks", "event_time"),
    ("stg_transactions", "event_time"),
    ("stg_app_logs", "event_time"),
)
DELIVERIES = "alert_deliveries"  # written by `python -m app.alerts` (see app/alerts/publish.py)


class EngineUnreachable(Exception):
    """The engine did not answer (stopped, restarting, network)."""


def _secrets() -> dict | None:
    try:
        return dict(st.secrets["connections"]["eddy"])
    except (KeyError, FileNotFoundError, AttributeError):
        return None
    except Exception:  # noqa: BLE001 - no secrets.toml at all is the common case
        return None


@functools.cache
def settings() -> Settings:
    """Read once per process (the router reads it first, in Streamlit's script thread)."""
    return settings_from(dict(os.environ), _secrets())


class Pool:
    """At most `size` psycopg connections (default settings), made on demand; a connection
    that failed is dropped and the next query reconnects."""

    def __init__(self, s: Settings, size: int = POOL_SIZE):
        self.settings = s
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def fetch(self, query: sql.Composable | str, params: Sequence | None = None) -> pd.DataFrame:
        with self._slots:
            conn = self._take()
            try:
                cur = conn.execute(query, params)
                cols = [c.name for c in cur.description or []]
                rows = cur.fetchall()
                conn.rollback()  # end the read transaction
            except psycopg.OperationalError as e:
                conn.close()
                raise EngineUnreachable(f"{self.settings.address}: {e}") from e
            except BaseException:
                if conn.closed or conn.broken:
                    conn.close()
                else:
                    conn.rollback()
                    self._idle.put(conn)
                raise
            self._idle.put(conn)
        return _frame(rows, cols)

    def _take(self) -> psycopg.Connection:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            if not conn.closed and not conn.broken:
                return conn
        try:
            return psycopg.connect(**self.settings.conninfo())
        except psycopg.OperationalError as e:
            raise EngineUnreachable(f"{self.settings.address}: {_first_line(e)}") from e

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[-1]


def _frame(rows: list[tuple], cols: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=cols)
    for col in df.columns:
        first = df[col].dropna()
        if len(first) and isinstance(first.iloc[0], Decimal):
            df[col] = df[col].astype(float)
    return df


_pool: Pool | None = None
_pool_lock = threading.Lock()


def pool() -> Pool:
    """The process's pool (made on first use; the settings are read once)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Pool(settings())
        return _pool


def fetch(query: sql.Composable | str, params: Sequence | None = None) -> pd.DataFrame:
    return pool().fetch(query, params)


# --- Overview -------------------------------------------------------------------------------

@cached(LIVE_TTL, ahead=LIVE_EVERY)
def overview() -> dict:
    """Headline figures: clicks in the newest minute, active sessions (last event within 30
    minutes of the newest event), conversion, alerts in the last hour of data, freshness."""
    df = fetch("""
        with clock as (
            select max(session_end) as newest from user_sessions
        ),
        minute as (
            select sum(views) as views from page_views_per_minute
            where window_start = (select max(window_start) from page_views_per_minute)
        ),
        active as (
            select count(*) as sessions from user_sessions
            where session_end >= (select newest from clock) - interval '30 minutes'
        ),
        purchase as (
            select conversion_from_start from funnel_conversion where step = 'purchase'
        ),
        fraud as (
            select count(*) as alerts from account_takeover_alerts
            where transaction_time >= (select newest from clock) - interval '1 hour'
        ),
        errors as (
            select count(*) as alerts from error_alerts
            where window_start >= (select newest from clock) - interval '1 hour'
        )
        select
            (select views from minute) as clicks_last_minute,
            (select sessions from active) as active_sessions,
            (select conversion_from_start from purchase) as conversion_rate,
            (select alerts from fraud) as fraud_alerts,
            (select alerts from errors) as error_alerts,
            (select newest from clock) as newest_event,
            extract(epoch from (now() - (select newest from clock))) as freshness_seconds
    """)
    return df.iloc[0].to_dict()


@cached(LIVE_TTL, ahead=LIVE_EVERY)
def events_per_minute(minutes: int = 60) -> pd.DataFrame:
    """Click events per minute over the newest `minutes` minutes of data."""
    return fetch("""
        select window_start, sum(views) as events
        from page_views_per_minute
        where window_start > (select max(window_start) from page_views_per_minute)
            - %s::int * interval '1 minute'
        group by window_start
        order by window_start
    """, [minutes])


# --- Traffic --------------------------------------------------------------------------------

@cached(LIVE_TTL, ahead=LIVE_EVERY)
def page_views(minutes: int = 60, top: int = 8) -> pd.DataFrame:
    """Views and unique users per minute of the `top` pages of the newest `minutes` minutes;
    the other pages summed as '(other)'."""
    return fetch("""
        with recent as (
            select * from page_views_per_minute
            where window_start > (select max(window_start) from page_views_per_minute)
                - %s::int * interval '1 minute'
        ),
        ranked as (
            select page_url, row_number() over (order by sum(views) desc, page_url) as rank
            from recent
            group by page_url
        ),
        labelled as (
            select
                recent.window_start,
                case when ranked.rank <= %s then recent.page_url else '(other)' end as page_url,
                recent.views,
                recent.unique_users
            from recent
            join ranked on ranked.page_url = recent.page_url
        )
        select window_start, page_url, sum(views) as views, sum(unique_users) as unique_users
        from labelled
        group by window_start, page_url
        order by window_start, page_url
    """, [minutes, top])


@cached(LIVE_TTL, ahead=LIVE_EVERY)
def traffic_totals(minutes: int = 60) -> dict:
    df = fetch("""
        select sum(views) as views, count(distinct page_url) as pages, max(unique_users) as
            peak_unique_users
        from page_views_per_minute
        where window_start > (select max(window_start) from page_views_per_minute)
            - %s::int * interval '1 minute'
    """, [minutes])
    return df.iloc[0].to_dict()


# --- Funnel ---------------------------------------------------------------------------------

@cached(LIVE_TTL, ahead=LIVE_EVERY)
def funnel() -> pd.DataFrame:
    return fetch("""
        select step_order, step, sessions, conversion_from_previous, conversion_from_start,
            drop_off
        from funnel_conversion
        order by step_order
    """)


@cached(SLOW_TTL)
def session_durations(bucket_seconds: int = 30, cap_seconds: int = 3600) -> pd.DataFrame:
    """Sessions per duration bucket (durations past `cap_seconds` fall in the last bucket)."""
    return fetch("""
        select
            least(floor(duration_seconds / %s) * %s, %s) as bucket_start,
            count(*) as sessions,
            sum(case when converted then 1 else 0 end) as converted
        from user_sessions
        group by 1
        order by 1
    """, [bucket_seconds, bucket_seconds, cap_seconds])


@cached(LIVE_TTL, ahead=LIVE_EVERY)
def sessions(user_id: str | None, limit: int = 200) -> pd.DataFrame:
    """The newest sessions, of one user when `user_id` is given."""
    return fetch("""
        select user_id, session_start, session_end, duration_seconds, event_count, page_views,
            product_views, cart_adds, purchases, revenue, converted
        from user_sessions
        where %s::text is null or user_id = %s::text
        order by session_start desc, user_id
        limit %s
    """, [user_id or None, user_id or None, limit])


# --- Fraud ----------------------------------------------------------------------------------

@cached(LIVE_TTL, ahead=LIVE_EVERY)
def takeover_alerts(limit: int = 500) -> pd.DataFrame:
    return fetch("""
        select transaction_id, user_id, amount, transaction_time, trigger_event_id,
            trigger_reason, trigger_time, seconds_after_trigger
        from account_takeover_alerts
        order by transaction_time desc, transaction_id, trigger_event_id
        limit %s
    """, [limit])


@cached(LIVE_TTL, ahead=LIVE_EVERY)
def takeover_counts() -> dict:
    df = fetch("""
        select count(*) as alerts, count(distinct transaction_id) as transactions,
            count(distinct user_id) as users, coalesce(sum(amount), 0) as amount
        from (select distinct transaction_id, user_id, amount from account_takeover_alerts) t
    """)
    return df.iloc[0].to_dict()


# --- Operations -----------------------------------------------------------------------------

@cached(LIVE_TTL, ahead=LIVE_EVERY)
def error_alerts(minutes: int = 120) -> pd.DataFrame:
    return fetch("""
        select window_start, service, error_count, total_count, error_rate
        from error_alerts
        where window_start > (select max(window_start) from error_alerts)
            - %s::int * interval '1 minute'
        order by window_start, service
    """, [minutes])


@cached(LIVE_TTL, ahead=LIVE_EVERY)
def source_health() -> pd.DataFrame:
    """One row per source: status, error, messages received, committed offsets, dead letters."""
    return fetch("""
        select
            s.name as source, st.status, st.error, stats.messages_received,
            stats.updates_committed, stats.offset_known, stats.offset_committed,
            stats.dead_letters_committed as dead_letters,
            extract(epoch from now()) as sampled_at
        from mz_catalog.mz_sources s
        join mz_internal.mz_source_statuses st on st.id = s.id
        left join mz_internal.mz_source_statistics stats on stats.id = s.id
        where s.type = 'kafka'
        order by s.name
    """)


@cached(LIVE_TTL, ahead=LIVE_EVERY)
def partition_lag() -> pd.DataFrame:
    return fetch("""
        select s.name as source, p.partition, p.offset_known, p.offset_committed, p.lag
        from mz_internal.mz_source_partition_statistics p
        join mz_catalog.mz_sources s on s.id = p.source_id
        order by s.name, p.partition
    """)


@cached(SLOW_TTL)
def dead_letter_sample(source: str, limit: int = 5) -> pd.DataFrame:
    """The newest dead letters of `source` (a name from the catalog, quoted as identifier)."""
    df = fetch(sql.SQL("""
        select topic, partition, "offset", error, raw, received_at
        from {}
        order by received_at desc, "offset" desc
        limit %s
    """).format(sql.Identifier(f"{source}_dead_letters")), [limit])
    # the raw bytes as text here (not with SQL: they are undecodable by definition, and
    # engines differ in their bytea functions)
    df["raw"] = [None if b is None else bytes(b)[:300].decode("utf-8", "replace")
                 for b in df["raw"]]
    return df


@cached(SLOW_TTL)
def malformed_sample(limit: int = 10) -> pd.DataFrame:
    return fetch("""
        select topic, reason, data::text as data
        from stg_malformed_events
        limit %s
    """, [limit])


@cached(SLOW_TTL)
def malformed_counts() -> pd.DataFrame:
    return fetch("""
        select topic, count(*) as malformed from stg_malformed_events
        group by topic order by topic
    """)


@cached(LIVE_TTL, ahead=LIVE_EVERY)
def freshness() -> pd.DataFrame:
    """Per view: the engine's wall-clock lag (`mz_internal.mz_wallclock_global_lag`: how far
    behind the wall clock its contents are; None where the engine does not have that
    relation), its newest event time and how many seconds ago that was."""
    parts = [sql.SQL("select {} as view, max({}) as newest from {}").format(
        sql.Literal(name), sql.SQL(expr), sql.Identifier(name)) for name, expr in FRESHNESS]
    query = sql.SQL("select view, newest, greatest(extract(epoch from (now() - newest)), 0) "
                    "as data_age_seconds from ({}) f order by view").format(
        sql.SQL(" union all ").join(parts))
    out, lag = fetch(query), _wallclock_lag()   # not gather(): this runs on its pool
    out["lag_seconds"] = (None if lag is None else
                          out["view"].map(dict(zip(lag["view"], lag["lag_seconds"], strict=True))))
    return out


def _wallclock_lag() -> pd.DataFrame | None:
    try:
        return fetch("""
            select o.name as view, extract(epoch from l.lag) as lag_seconds
            from mz_internal.mz_wallclock_global_lag l
            join mz_catalog.mz_objects o on o.id = l.object_id
        """)
    except psycopg.errors.UndefinedTable:
        return None


@cached(LIVE_TTL, ahead=LIVE_EVERY)
def deliveries(limit: int = 50) -> pd.DataFrame:
    """The alerting process's delivery log (empty when it never ran against this engine)."""
    try:
        return fetch(sql.SQL("""
            select at, rule, alert_key, status, attempts, detail from {}
            order by at desc, alert_key limit %s
        """).format(sql.Identifier(DELIVERIES)), [limit])
    except psycopg.errors.UndefinedTable:
        return pd.DataFrame(columns=["at", "rule", "alert_key", "status", "attempts", "detail"])


def ping() -> float:
    """Seconds one trivial query takes (raises EngineUnreachable)."""
    t0 = time.perf_counter()
    fetch("select 1")
    return time.perf_counter() - t0
