"""`eddy status`: a terminal table of a running engine that refreshes itself.

It connects like any client (PostgreSQL protocol) and reads the `mz_internal` relations:
sources (status, rates, consumer lag, dead letters, batches waiting), maintained views (lag
behind the wall clock, rows in state, time per tick), the engine's ticks and memory, and its
state's storage (the file and its WAL, or the last snapshot of a state held in memory).
"""

from __future__ import annotations

import time

import psycopg
from rich.console import Console, Group
from rich.table import Table

SOURCES_SQL = """
select s.id, s.name, st.status, ss.messages_received, ss.bytes_received,
       ss.dead_letters_committed,
       (select coalesce(sum(p.lag), 0) from mz_internal.mz_source_partition_statistics p
         where p.source_id = s.id) as lag_messages,
       extract(epoch from l.lag) as lag_s
  from mz_catalog.mz_sources s
  left join mz_internal.mz_source_statuses st on st.id = s.id
  left join mz_internal.mz_source_statistics ss on ss.id = s.id
  left join mz_internal.mz_wallclock_global_lag l on l.object_id = s.id
 where s.id like 'u%' and st.status is not null
 order by s.id
"""
VIEWS_SQL = """
select object_id, name, extract(epoch from freshness) as freshness_s, state_rows,
       last_step_seconds, step_seconds_total, last_rows_written, error
  from mz_internal.eddy_dataflow_statistics
 order by object_id
"""
ENGINE_SQL = """
select ticks, last_tick_seconds, tick_seconds_p50, tick_seconds_p99, tick_seconds_max,
       ingest_batches_waiting, ingest_rows_waiting, resident_memory_bytes,
       database_bytes, wal_bytes, extract(epoch from now() - snapshot_at) as snapshot_age_s,
       snapshot_seconds, snapshot_bytes
  from mz_internal.eddy_engine_statistics
"""


class Snapshot:
    """One reading of the relations; rates come from the previous reading."""

    def __init__(self, conn: psycopg.Connection, previous: Snapshot | None = None):
        self.at = time.monotonic()
        with conn.cursor() as cur:
            self.sources = cur.execute(SOURCES_SQL).fetchall()
            self.views = cur.execute(VIEWS_SQL).fetchall()
            self.engine = cur.execute(ENGINE_SQL).fetchone()
        self.previous = previous

    def rate(self, source_id: str, column: int) -> float | None:
        prev = self.previous
        if prev is None or self.at <= prev.at:
            return None
        before = {r[0]: r for r in prev.sources}.get(source_id)
        now = {r[0]: r for r in self.sources}.get(source_id)
        if before is None or now is None or before[column] is None or now[column] is None:
            return None
        return (now[column] - before[column]) / (self.at - prev.at)

    def render(self, title: str) -> Group:
        src = Table(title="sources", title_justify="left", expand=False)
        for name in ("id", "name", "status", "msg/s", "KB/s", "messages", "consumer lag",
                     "dead letters", "lag"):
            src.add_column(name, justify="left" if name in ("id", "name", "status") else "right")
        for sid, name, status, msgs, _bytes, dead, lag_msgs, lag_s in self.sources:
            mps, bps = self.rate(sid, 3), self.rate(sid, 4)
            src.add_row(sid, name, _status(status), _num(mps, "{:,.0f}"),
                        _num(None if bps is None else bps / 1024, "{:,.1f}"), _num(msgs, "{:,}"),
                        _num(lag_msgs, "{:,}"), _num(dead, "{:,}"), _secs(lag_s))
        views = Table(title="maintained views", title_justify="left")
        for name in ("id", "name", "freshness", "rows in state", "last step", "step total",
                     "rows written", "error"):
            views.add_column(name, justify="left" if name in ("id", "name", "error") else "right")
        for oid, name, fresh, rows, last, total, written, error in self.views:
            views.add_row(oid, name, _secs(fresh), _num(rows, "{:,}"), _secs(last), _secs(total),
                          _num(written, "{:,}"), f"[red]{error}[/red]" if error else "")
        ticks = Table(title="ticks", title_justify="left")
        for name in ("ticks", "last", "p50 (1 min)", "p99 (1 min)", "max (1 min)",
                     "batches waiting", "rows waiting", "memory"):
            ticks.add_column(name, justify="right")
        state = Table(title="state", title_justify="left")
        for name in ("database", "WAL", "last snapshot", "snapshot took", "snapshot size"):
            state.add_column(name, justify="right")
        if self.engine is not None:
            n, last, p50, p99, mx, batches, rows, rss = self.engine[:8]
            ticks.add_row(_num(n, "{:,}"), _secs(last), _secs(p50), _secs(p99), _secs(mx),
                          _num(batches, "{:,}"), _num(rows, "{:,}"), _mb(rss))
            db, wal, age, took, size = self.engine[8:]
            state.add_row(_mb(db), _mb(wal), "-" if age is None else f"{_secs(age)} ago",
                          _secs(took), _mb(size))
        return Group(f"[bold]{title}[/bold]", src, views, ticks, state)


def _num(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _mb(value) -> str:
    return _num(None if value is None else value / 2**20, "{:,.0f} MB")


def _secs(value) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{value * 1000:,.0f} ms" if value < 10 else f"{value:,.1f} s"


def _status(status: str | None) -> str:
    color = {"running": "green", "stalled": "red", "starting": "yellow"}.get(status or "", "white")
    return f"[{color}]{status or '-'}[/{color}]"


def run(dsn: str, interval: float, once: bool, console: Console | None = None) -> None:
    """Print the table once, or refresh it every `interval` seconds until Ctrl-C."""
    from rich.live import Live

    console = console or Console()
    with psycopg.connect(dsn, autocommit=True) as conn:
        snap = Snapshot(conn)
        if once:
            time.sleep(min(interval, 1.0))      # a second reading gives the rates
            console.print(Snapshot(conn, snap).render(dsn))
            return
        with Live(snap.render(dsn), console=console, refresh_per_second=4) as live:
            try:
                while True:
                    time.sleep(interval)
                    snap = Snapshot(conn, snap)
                    snap.previous.previous = None
                    live.update(snap.render(f"{dsn}  ({time.strftime('%H:%M:%S')})"))
            except KeyboardInterrupt:
                pass
