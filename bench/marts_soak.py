"""Soak mode of the marts benchmark (`make bench SOAK=30m`): every mart maintained at
`--soak-rate` events/s (default 10,000) for the given time, the engine's memory every 10 s,
reported per minute by the sample closest to a fold (`per_minute`).

So that the temporal filters reach their steady state within minutes rather than a day, the
project runs with `retention_hours=1` and the load generator's event time starts 59 minutes in
the past: every event stays inside the retention horizon for about one minute, then the engine
retracts it. From then on the state holds about one minute of events, and memory should be flat.

"Flat" (the printed target): the engine's resident memory in the last minute is at most 10%
above its level at the first minute after the warm-up (right after folds, see `verdict`), and
the engine kept up (its consumer lag,
the median of the last three samples, grew by at most 5 s of load after the warm-up). The
warm-up lasts 2 minutes (or a third of the run), until the first checkpoint (the WAL folded
into the file) and until DuckDB's own memory first reached 90% of its limit (EDDY_MEMORY_LIMIT):
before the fold the engine holds all the data it wrote in memory, from it DuckDB's buffer pool
caches more of the growing file after each fold until the limit bounds it (the 30-minute soak
of session 15: RSS right after folds +18% from minute 3 to 9 while DuckDB's memory rose to its
limit, then flat to minute 29). When DuckDB never gets there, the report says so. Each minute
also shows DuckDB's own memory, what it spilled to temporary files, and the database file's and
WAL's sizes.
With the state in memory (`--state-storage memory`) there is no WAL and no fold to wait for:
the warm-up is the 2 minutes (or a third) alone.
"""

from __future__ import annotations

import math
import signal
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

WARMUP_S = 120
SAMPLE_S = 10      # memory sampled this often; each minute keeps one sample (per_minute)
CACHE_FULL = 0.9


def parse_duration(text: str) -> float:
    """'30m', '180s', '1h' or plain seconds."""
    text = text.strip().lower()
    unit = {"s": 1, "m": 60, "h": 3600}.get(text[-1:])
    return float(text[:-1]) * unit if unit else float(text)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _minute_of(minute: float) -> int:
    """The minute of the run a sample belongs to (1 for its first minute), from its time
    rounded to the SAMPLE_S slot it was due at (it may be taken up to a second late)."""
    return math.ceil(round(minute * 60 / SAMPLE_S) * SAMPLE_S / 60)


def per_minute(raw: list[dict]) -> list[dict]:
    """One sample per minute of the run from samples taken every SAMPLE_S: the one with the
    least WAL (the closest to a fold: RSS holds ~1.3x the WAL until each fold, so only samples
    at the same point of that cycle compare), with the minute's median consumer lag (a sample
    just after a fold shows the backlog that the fold's stop left)."""
    minutes: dict[int, list[dict]] = {}
    for x in raw:
        minutes.setdefault(_minute_of(x["minute"]), []).append(x)
    out = []
    for group in minutes.values():
        pick = dict(min(group, key=lambda x: x["wal_mb"]))
        pick["lag_messages"] = int(statistics.median(x["lag_messages"] for x in group))
        out.append(pick)
    return out


def filled(samples: list[dict]) -> int | None:
    """The first sample at which DuckDB's memory reached CACHE_FULL of its limit (its cache of
    the file full: from then on it stays about there), None if none did."""
    for i, s in enumerate(samples):
        if s.get("duckdb_limit_mb") and s["duckdb_mb"] >= CACHE_FULL * s["duckdb_limit_mb"]:
            return i
    return None


def verdict(samples: list[dict], seconds: float, rate: float) -> dict:
    """The memory verdict over a soak's minute samples (see the module): the warm-up's end,
    the two samples compared, the RSS growth between them, whether the engine kept up."""
    detail: dict = {}
    # a fold: a sample whose WAL is smaller than the one before. The state in memory
    # (--state-storage memory) has no WAL and no folds: no cycle to wait for
    folds = [i for i in range(1, len(samples)) if samples[i]["wal_mb"] < samples[i - 1]["wal_mb"]]
    no_wal = bool(samples) and not any(s["wal_mb"] for s in samples)
    folded = folds[0] if folds else (0 if no_wal else len(samples))
    cached = filled(samples)
    detail["duckdb_filled_minute"] = samples[cached]["minute"] if cached is not None else None
    after = [s for i, s in enumerate(samples)
             if s["minute"] * 60 >= min(WARMUP_S, seconds / 3) and i >= folded
             and i >= (cached or 0)]
    if len(after) >= 2:
        # RSS follows the WAL (~1.3x of it in memory) up to each fold, so two samples compare
        # only at the same point of that cycle: right after a fold each, else the first and
        # the last
        post = [samples[i] for i in folds if samples[i]["minute"] >= after[0]["minute"]]
        one, two = (post[0], post[-1]) if len(post) >= 2 else (after[0], after[-1])
        first, last = one["rss_mb"], two["rss_mb"]
        detail["warm_until_minute"] = after[0]["minute"]
        detail["rss_compared"] = {"how": "right after folds" if len(post) >= 2 else
                                  "first and last after the warm-up",
                                  "minutes": [one["minute"], two["minute"]]}
        detail["rss_growth"] = (last - first) / first
        # kept up: the consumer lag did not grow after the warm-up (beyond 5 s of load). The
        # end is the median of the last three samples: a fold stops ticks for seconds, and a
        # sample taken just after one shows its passing backlog (soak6 of session 11: 124k
        # messages 4 s after a fold, 27-60k at the samples before)
        end = statistics.median(x["lag_messages"] for x in after[-3:])
        detail["lag_end_messages"] = end
        detail["kept_up"] = end <= after[0]["lag_messages"] + rate * 5
        detail["flat"] = detail["rss_growth"] <= 0.10 and detail["kept_up"]
    return detail


def soak(bench, say) -> None:
    """Fill bench.detail['soak'] (minute-by-minute samples) and the verdict."""
    from marts_env import committed

    a = bench.args
    seconds = parse_duration(a.soak)
    bench.dbt.extra_vars = {"retention_hours": 1}
    bench.prepare()          # dbt run (or its template), engine stopped
    bench.start()
    start = (datetime.now(UTC) - timedelta(minutes=59)).isoformat()
    say(f"soak: {a.soak_rate:,.0f} events/s for {seconds:.0f} s; retention 1 h, event time "
        f"from {start} (each event retained about a minute)")
    gen = bench.loadgen(a.soak_rate, seconds, "--start-time", start)
    raw = []
    t0 = time.perf_counter()
    nxt = t0 + SAMPLE_S
    try:
        while True:
            now = time.perf_counter()
            if now - t0 >= seconds and gen.poll() is None:
                gen.send_signal(signal.SIGINT)   # it sends rate x duration events: stop on time
                gen.wait(60)
            done = gen.poll() is not None
            if now >= nxt or done:
                with bench.eddy.connect() as conn:
                    lag = bench.end() - committed(conn)
                    per_view = dict(conn.execute(
                        "select name, state_rows from mz_internal.eddy_dataflow_statistics "
                        "where state_rows is not null").fetchall())
                    rows = sum(per_view.values())
                    duck, limit, wal, db = conn.execute(
                        "select duckdb_memory_bytes, duckdb_memory_limit_bytes, wal_bytes, "
                        "database_bytes from mz_internal.eddy_engine_statistics").fetchone()
                    tags = conn.execute("select tag, memory_bytes, temporary_bytes from "
                                        "mz_internal.eddy_memory_usage").fetchall()
                sample = {"minute": round((now - t0) / 60, 2), "rss_mb": rss_mb(bench.eddy.proc.pid),
                          "lag_messages": lag, "state_rows": int(rows),
                          "cpu_s": bench.eddy.cpu_seconds(),
                          "state_rows_by_view": per_view, "duckdb_mb": duck / 2**20,
                          "duckdb_limit_mb": limit / 2**20 if limit else None,
                          "wal_mb": wal / 2**20, "database_mb": (db or 0) / 2**20,
                          "duckdb_mb_by_tag": {t: m / 2**20 for t, m, _ in tags if m},
                          "spilled_mb": sum(x for *_, x in tags) / 2**20}
                raw.append(sample)
                if done or _minute_of(sample["minute"]) < _minute_of(
                        sample["minute"] + SAMPLE_S / 60):
                    m = per_minute(raw)[-1]      # the minute is complete: its sample
                    say(f"  soak minute {m['minute']:.1f}: RSS {m['rss_mb']:,.0f} MB (DuckDB "
                        f"{m['duckdb_mb']:,.0f} MB; file {m['database_mb']:,.0f} MB, WAL "
                        f"{m['wal_mb']:,.0f} MB), rows in state {m['state_rows']:,}, consumer "
                        f"lag {m['lag_messages']:,} messages")
                nxt += SAMPLE_S
            if done:
                break
            time.sleep(1)
    finally:
        if gen.poll() is None:
            gen.kill()
        log = gen.communicate()[0]
    samples = per_minute(raw)
    detail = {"seconds": seconds, "rate": a.soak_rate, "samples": samples, "raw_samples": raw,
              "loadgen_tail": log[-600:]}
    detail.update(verdict(samples, seconds, a.soak_rate))
    bench.detail["soak"] = detail
    bench.out["peak_rss_mb"] = bench.eddy.peak_rss_mb()
    bench.stop()


def report_soak(r: dict, console) -> None:
    from rich.table import Table
    s = r.get("details", {}).get("soak")
    if not s:
        return
    t = Table(title=f"soak: {s['rate']:,.0f} events/s for {s['seconds']:.0f} s (memory every "
                    f"minute)", title_justify="left")
    for col in ("minute", "RSS MB", "DuckDB MB", "spilled MB", "file MB", "WAL MB",
                "rows in state", "consumer lag", "engine CPU s"):
        t.add_column(col, justify="right")
    for x in s["samples"]:
        t.add_row(f"{x['minute']:.1f}", f"{x['rss_mb']:,.0f}", f"{x.get('duckdb_mb', 0):,.0f}",
                  f"{x.get('spilled_mb', 0):,.0f}", f"{x.get('database_mb', 0):,.0f}", f"{x.get('wal_mb', 0):,.0f}", f"{x['state_rows']:,}",
                  f"{x['lag_messages']:,}", f"{x['cpu_s']:,.0f}")
    console.print(t)
    if len(s["samples"]) >= 2:   # where state grows: the views whose rows grew the most
        first, last = s["samples"][0]["state_rows_by_view"], s["samples"][-1]["state_rows_by_view"]
        growth = sorted(((last[v] - first.get(v, 0), v) for v in last), reverse=True)[:5]
        console.print("state rows grown most from the first sample to the last: " + ", ".join(
            f"{v} {g:+,}" for g, v in growth))
    if "flat" in s:
        cmp = s.get("rss_compared") or {"how": "first and last after the warm-up", "minutes": [
            s.get("warm_until_minute", 0), s["samples"][-1]["minute"]]}
        verdict = "[green]met[/]" if s["flat"] else "[red]not met[/]"
        console.print(f"memory flat once the temporal filters are in steady state: {verdict} "
                      f"(RSS {s['rss_growth'] * 100:+.1f}% from minute {cmp['minutes'][0]:.1f} to "
                      f"{cmp['minutes'][1]:.1f}, {cmp['how']}, target <= +10%; engine kept "
                      f"up: {s['kept_up']})")
    else:
        console.print("soak too short for a verdict (fewer than two samples after the warm-up)")
    if s.get("samples") and "duckdb_filled_minute" in s:
        top = max(s["samples"], key=lambda x: x["duckdb_mb"])
        limit = top.get("duckdb_limit_mb") or 0
        console.print(f"DuckDB's memory first at {CACHE_FULL:.0%} of its {limit:,.0f} MB limit "
                      f"at minute {s['duckdb_filled_minute']:.1f} (the warm-up lasts until then)"
                      if s["duckdb_filled_minute"] is not None else
                      f"DuckDB's memory never reached {CACHE_FULL:.0%} of its {limit:,.0f} MB "
                      f"limit (peak {top['duckdb_mb']:,.0f} MB at minute {top['minute']:.1f}): "
                      f"its cache may still have been filling")
