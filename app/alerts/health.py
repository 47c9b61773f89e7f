"""Pipeline-health metrics per source, sampled from the engine's status relations.

The status relations are a handful of rows (one per source / partition) computed when read;
they are sampled every `health_interval_seconds` (SUBSCRIBE is for the marts). Metrics:
consumer_lag (sum of per-partition lag), staleness_seconds (since the committed offsets last
advanced, counted from this process's first sample), dead_letters_per_minute (committed dead
letters since the sample just before the last minute, scaled to 60 s), source_not_running (1
while status != running).
"""

from __future__ import annotations

import time
from collections import deque

import psycopg

from app.settings import Settings

SOURCES = """
    select s.name, st.status, stats.offset_committed, stats.dead_letters_committed
    from mz_catalog.mz_sources s
    join mz_internal.mz_source_statuses st on st.id = s.id
    left join mz_internal.mz_source_statistics stats on stats.id = s.id
    where s.type = 'kafka'
"""
LAG = """
    select s.name, sum(p.lag) as lag
    from mz_internal.mz_source_partition_statistics p
    join mz_catalog.mz_sources s on s.id = p.source_id
    group by s.name
"""


class Sampler:
    """Keeps the samples a rate or an age needs, per source."""

    def __init__(self):
        self.advanced: dict[str, tuple[float, int | None]] = {}  # source -> (since, offset)
        self.dead: dict[str, deque[tuple[float, int]]] = {}

    def metrics(self, rows: list[tuple], lag: dict[str, int], now: float | None = None
                ) -> dict[str, dict[str, float]]:
        """{metric: {source: value}} from one sample of SOURCES rows and LAG."""
        now = time.time() if now is None else now
        out: dict[str, dict[str, float]] = {
            "consumer_lag": {}, "staleness_seconds": {}, "dead_letters_per_minute": {},
            "source_not_running": {}}
        for name, status, committed, dead in rows:
            out["source_not_running"][name] = 0.0 if status == "running" else 1.0
            out["consumer_lag"][name] = float(lag.get(name) or 0)
            since, last = self.advanced.get(name, (now, committed))
            if committed != last:
                since = now
            self.advanced[name] = (since, committed)
            out["staleness_seconds"][name] = now - since
            window = self.dead.setdefault(name, deque())
            window.append((now, int(dead or 0)))
            while len(window) > 1 and window[1][0] <= now - 60:
                window.popleft()
            (t0, d0), (t1, d1) = window[0], window[-1]
            elapsed = t1 - t0
            out["dead_letters_per_minute"][name] = float(
                (d1 - d0) * 60 / elapsed if elapsed > 60 else d1 - d0)
        return out


def sample(conn: psycopg.Connection, sampler: Sampler) -> dict[str, dict[str, float]]:
    rows = conn.execute(SOURCES).fetchall()
    lag = dict(conn.execute(LAG).fetchall())
    return sampler.metrics(rows, {k: int(v or 0) for k, v in lag.items()})


def connect(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(**settings.conninfo("eddy-alerts"), autocommit=True)
