"""Freshness markers and new-connection probes, run during steady load by the marts benchmark.

A marker is a small set of well-formed events with names no simulated event has; each mart it
reaches gets one row naming the marker, so the time from producing the marker to that row
appearing is the mart's freshness:

- `page_views_per_minute`: a click on page `/bench-marker/<n>`;
- `user_sessions`: the same click, by user `bench-marker-<n>` (a new session);
- `error_alerts`: ERROR_BURST `ERROR` logs of service `bench-marker-<n>` in one minute;
- `account_takeover_alerts`: a `device_changes` event of user `bench-marker-<n>` followed one
  second later (event time) by a transaction `bench-marker-<n>` of 500.00.

`funnel_conversion` has no row per event (four global counts): it is not probed.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

import psycopg
from confluent_kafka import Producer

ERROR_BURST = 6  # one more than the default `error_alert_threshold`

# mart -> (key column, key of marker n)
PROBED = {
    "page_views_per_minute": ("page_url", "/bench-marker/{}"),
    "user_sessions": ("user_id", "bench-marker-{}"),
    "error_alerts": ("service", "bench-marker-{}"),
    "account_takeover_alerts": ("transaction_id", "bench-marker-{}"),
}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def marker_events(run: str, n: int, now_ms: int) -> list[tuple[str, str, dict]]:
    """(topic, key, event) of marker `n` (names made unique per run by `run`)."""
    name = f"bench-marker-{run}{n}"
    t = _iso(now_ms)
    def ev(**fields) -> dict:
        return {"event_id": str(uuid.uuid4()), "event_time": t, **fields}
    out = [("clicks", name, ev(user_id=name, event_type="page_view",
                               page_url=f"/bench-marker/{run}{n}", product_id=None, referrer=None,
                               user_agent="bench", country="DE"))]
    out += [("app_logs", name, ev(service=name, level="ERROR", message="bench marker",
                                  trace_id=None)) for _ in range(ERROR_BURST)]
    out.append(("device_changes", name, ev(user_id=name, change_type="mfa_disabled",
                                           device_id=None)))
    out.append(("transactions", name, {**ev(transaction_id=name, user_id=name, amount=500.00,
                                             currency="EUR", merchant_id="m0000", country="DE",
                                             device_id="bench"),
                                       "event_time": _iso(now_ms + 1000)}))
    return out


class Markers:
    """Produces a marker every `interval` s and polls the marts until each shows up."""

    def __init__(self, bootstrap: str, prefix: str, dsn: str, marts: list[str],
                 interval: float = 0.5, poll: float = 0.02):
        self.prefix, self.dsn, self.interval, self.poll = prefix, dsn, interval, poll
        self.marts = [m for m in PROBED if m in marts]
        self.run = uuid.uuid4().hex[:6] + "-"
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 0})
        self.sent: dict[int, float] = {}          # marker -> perf_counter when produced
        self.seen: dict[tuple[str, int], float] = {}  # (mart, marker) -> perf_counter when read
        self.errors: list[str] = []
        self.ended = 0.0
        self._stop = threading.Event()

    def _query(self) -> tuple[str, list[str]]:
        """One statement reading every probed mart (names are ours; patterns bound)."""
        parts, params = [], []
        for mart in self.marts:
            col, pattern = PROBED[mart]
            parts.append(f"select '{mart}' as mart, {col}::text as k from {mart} where {col} like %s")
            params.append(pattern.format(self.run) + "%")
        return " union all ".join(parts), params

    def _produce_loop(self, until: float) -> None:
        n = 0
        nxt = time.perf_counter()
        while not self._stop.is_set() and time.perf_counter() < until:
            for topic, key, event in marker_events(self.run, n, int(time.time() * 1000)):
                self.producer.produce(self.prefix + topic, json.dumps(event).encode(), key.encode())
            self.sent[n] = time.perf_counter()
            self.producer.poll(0)
            n += 1
            nxt += self.interval
            self._stop.wait(max(0.0, nxt - time.perf_counter()))
        self.producer.flush(30)

    def _poll_loop(self) -> None:
        query, params = self._query()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                try:
                    rows = conn.execute(query, params).fetchall()
                except psycopg.Error as exc:
                    self.errors.append(str(exc).strip())
                    time.sleep(0.5)
                    continue
                now = time.perf_counter()
                for mart, key in rows:
                    n = int(key.rsplit(self.run, 1)[1])
                    self.seen.setdefault((mart, n), now)
                complete = self.sent and len(self.seen) == len(self.sent) * len(self.marts)
                if complete and (self._producing is None or not self._producing.is_alive()):
                    return
                time.sleep(self.poll)

    _producing: threading.Thread | None = None

    def run_for(self, seconds: float, settle: float = 30.0) -> None:
        """Send markers for `seconds`, then wait up to `settle` s for the last to show up."""
        poller = threading.Thread(target=self._poll_loop, daemon=True)
        self._producing = threading.Thread(target=self._produce_loop,
                                           args=(time.perf_counter() + seconds,), daemon=True)
        self._producing.start()
        poller.start()
        self._producing.join()
        poller.join(settle)
        self._stop.set()
        poller.join()
        self.ended = time.perf_counter()

    def latencies_ms(self, mart: str | None = None) -> list[float]:
        """Per (marker, mart): ms until seen; for one never seen, until polling stopped (a
        lower bound, so that missing markers raise the percentiles instead of vanishing)."""
        return [(self.seen.get((m, n), self.ended) - t) * 1000 for n, t in self.sent.items()
                for m in self.marts if mart is None or m == mart]

    def by_marker(self) -> list[tuple[float, float]]:
        """Per marker in the order sent: (s after the first was sent, ms until the last mart
        showed it), so that a run's slow samples can be placed in time."""
        if not self.sent:
            return []
        first = min(self.sent.values())
        return [(t - first, max((self.seen.get((m, n), self.ended) - t) * 1000
                                for m in self.marts)) for n, t in sorted(self.sent.items())]

    def missing(self) -> int:
        return len(self.sent) * len(self.marts) - len(self.seen)


class _Background:
    """A `_loop` run in a thread for the span of a `with` block (it ends when `_stop` is set)."""

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class ConnectionProbe(_Background):
    """Opens a NEW connection, runs `select 1`, closes it; every `interval` s, in a thread."""

    def __init__(self, dsn: str, interval: float = 0.25, timeout: float = 30.0):
        super().__init__()
        self.dsn, self.interval, self.timeout = dsn, interval, timeout
        self.samples_ms: list[float] = []
        self.failures: list[str] = []

    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=self.timeout) as c:
                    c.execute("select 1").fetchone()
                self.samples_ms.append((time.perf_counter() - t0) * 1000)
            except psycopg.Error as exc:
                self.failures.append(str(exc).strip())
            self._stop.wait(self.interval)


class StepSampler(_Background):
    """Reads each view's step seconds and state rows, and the engine's tick count, every
    `interval` s over one connection in a thread: where the ticks' time went early in the
    load and late in it (`window`)."""

    def __init__(self, dsn: str, interval: float = 10.0):
        super().__init__()
        self.dsn, self.interval = dsn, interval
        self.samples: list[tuple[float, int, dict[str, tuple[float, int]]]] = []

    def _sample(self, conn) -> None:
        ticks = conn.execute("SELECT ticks FROM mz_internal.eddy_engine_statistics").fetchone()[0]
        views = {name: (float(step or 0), int(rows or 0)) for name, step, rows in conn.execute(
            "SELECT name, step_seconds_total, state_rows FROM mz_internal.eddy_dataflow_statistics")}
        self.samples.append((time.perf_counter(), ticks, views))

    def _loop(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while True:
                self._sample(conn)
                if self._stop.wait(self.interval):
                    self._sample(conn)
                    return

    def window(self, first: bool, seconds: float = 60.0, until: float = float("inf")) -> dict:
        """Per view ms a tick over the first (or last) `seconds` sampled up to `until`
        (perf_counter), and its state rows at the window's end; {} with fewer than two samples."""
        s = [x for x in self.samples if x[0] <= until + self.interval / 2]
        if len(s) < 2:
            return {}
        if first:
            a = s[0]
            b = next((x for x in s if x[0] - a[0] >= seconds), s[-1])
        else:
            b = s[-1]
            a = next((x for x in reversed(s) if b[0] - x[0] >= seconds), s[0])
        ticks = max(b[1] - a[1], 1)
        views = {name: {"ms_per_tick": round((step - a[2].get(name, (0.0, 0))[0]) * 1000 / ticks, 1),
                        "state_rows": rows} for name, (step, rows) in b[2].items()}
        return {"seconds": round(b[0] - a[0], 1), "ticks": b[1] - a[1],
                "views": dict(sorted(views.items(), key=lambda kv: -kv[1]["ms_per_tick"]))}


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation; None without values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[min(998, int(q * 1000) - 1)]
