"""Marts benchmark: the dbt project's marts maintained by a real `eddy serve`, fed through real
Kafka by the load generator; the figures of issues 10 and 14 in a table and a JSON file.

    .venv/bin/python bench/marts_bench.py [--quick] [--json .bench/latest.json]

Phases (one engine, own port and temp data dir; own topics `<prefix>clicks` ...; the broker of
`stack/` with a lease, as the tests use it):
 1. `dbt run` of the whole project against the empty topics (every mart maintained); stop.
 2. 1x history (HISTORY/10 events) produced; engine started; caught up.
 3. per-event cost at 1x: ROUNDS bursts of BATCH events, each timed until the engine's committed
    offsets reach the topics' end; cost = engine CPU seconds (and wall seconds) per message.
    Each burst waits for the engine to be at rest first (2.5 s under 10% of a core): after a
    load it rebuilds its keyed indexes and folds the WAL, which would otherwise land inside
    the first burst (2,208 against 158-192 us a message at 5 M events of history).
 4. engine stopped; 9x more history produced (10x in all); `limit_events_per_s` = raw consume +
    JSON decode of all the topics with the source's decoder, no engine (median of ROUNDS);
    engine started: `eddy_events_per_s` = messages committed / seconds, from the first reading
    after the engine listens until its committed offsets reach the end (all marts maintained;
    the ticks commit offsets and view state together, so the marts then reflect every message).
 5. the marts read over pgwire (kept for the oracle); per-event cost at 10x as in 3;
    `history_cost_ratio_10x` = median CPU cost at 10x / median at 1x.
 6. steady load: `loadgen run --rate RATE` for DURATION s in its own process, a marker every
    0.5 s (see bench/marts_probe.py) polled until it shows in each mart: `freshness_p50_ms`,
    `freshness_p99_ms`; meanwhile a new connection + `select 1` + close every 0.25 s:
    `new_connection_select1_p99_ms`. `peak_rss_mb`: the engine's VmHWM at the end.
 7. `recompute_events_per_s`: the same messages as in 4 loaded into DuckDB tables; the project's
    compiled SQL (to DuckDB by eddy.sql.dialect) rebuilt in full, median of ROUNDS; messages /
    seconds of one rebuild. Its marts must equal the engine's marts read in 5 (the oracle).

"Events" are Kafka messages (the load generator sends 1% duplicates and 5% late events).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest_bench import raw_rate  # noqa: E402
from marts_env import (  # noqa: E402
    BIN,
    BenchError,
    CatchUp,
    Dbt,
    EddyServer,
    committed,
    end_offsets,
    machine_busy,
    maintained,
    mart_names,
    produce_chunk,
    template_inputs,
    topic_names,
    wait_caught_up,
)
from marts_peers import eddy_reflected, peers_freshness, peers_throughput  # noqa: E402
from marts_probe import ConnectionProbe, Markers, StepSampler, percentile  # noqa: E402
from marts_recompute import Project, compare, load_events  # noqa: E402
from marts_report import report  # noqa: E402
from marts_soak import report_soak, soak  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

import stack  # noqa: E402
from loadgen.faults import FaultConfig  # noqa: E402
from stack import shared  # noqa: E402

FIGURES = ("limit_events_per_s", "eddy_events_per_s", "freshness_p50_ms", "freshness_p99_ms",
           "new_connection_select1_p99_ms", "history_cost_ratio_10x", "recompute_events_per_s",
           "peak_rss_mb", "flink_events_per_s", "flink_freshness_p99_ms", "pathway_events_per_s",
           "pathway_freshness_p99_ms")
FAULTS = FaultConfig(late_fraction=0.05, duplicate_fraction=0.01)
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def say(text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")


class Bench:
    def __init__(self, args, bootstrap: str, work: Path):
        self.args, self.bootstrap, self.work = args, bootstrap, work
        self.prefix = f"bm{uuid.uuid4().hex[:6]}_"
        self.topics = topic_names(self.prefix)  # what the engine reads (and waits for)
        # the Flink peer's results: created and deleted with the run, never waited for
        self.output_topics = [self.prefix + "flink_page_views", self.prefix + "flink_sessions"]
        self.dbt = Dbt(self.prefix, bootstrap, work)
        self.eddy: EddyServer | None = None
        self.out: dict = dict.fromkeys(FIGURES)  # None: not measured (see notes and error)
        self.detail: dict = {}
        self.notes: list[str] = []
        # simulated time: the history ends before now (the marts keep 24 h of event time)
        self.clock_ms = int(time.time() * 1000) - 2 * 3600 * 1000
        self.seed = 0

    # -- pieces ---------------------------------------------------------------------------------

    def start(self) -> EddyServer:
        self.eddy = EddyServer(self.work / "eddy", self.work / "eddy.log")
        return self.eddy

    def stop(self) -> None:
        if self.eddy is not None:
            self.eddy.stop()
            self.eddy = None

    def end(self) -> int:
        return sum(end_offsets(self.bootstrap, self.topics).values())

    def produce(self, events: int, workers: int = 1) -> float:
        self.seed += 1
        secs = produce_chunk(self.bootstrap, self.prefix, self.seed, events, self.clock_ms,
                             workers=workers, faults=FAULTS)
        self.clock_ms += events  # about 1000 simulated events per simulated second
        return secs

    def deadline(self) -> float:
        return time.monotonic() + self.args.timeout

    def catch_up(self, label: str, marts: list[str] = ()) -> CatchUp:
        """Wait (with a progress bar) until the engine committed every message in the topics."""
        target = self.end()
        with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(label, total=target)
            got = wait_caught_up(self.eddy, target, self.deadline(),
                                 lambda n: bar.update(task, completed=n), marts)
        if not got.finished:
            self.notes.append(f"{label}: the engine committed {got.done:,} of {target:,} "
                              f"messages within --timeout {self.args.timeout:.0f} s (its "
                              f"consumers had handed it {got.consumed:,})")
        return got

    def settle(self, quiet_s: float = 2.5, limit_s: float = 60.0) -> float:
        """Wait until the engine has been idle for `quiet_s` (under 10% of a core): what it
        does once a load ends (after 1 s without data it rebuilds the keyed indexes the load
        dropped and folds the WAL, seconds at millions of events) then happens before a cost
        round, not inside it. Seconds waited (at most `limit_s`)."""
        step, started = 0.5, time.monotonic()
        window = round(quiet_s / step)      # samples spanning quiet_s
        samples = [self.eddy.cpu_seconds()]
        while time.monotonic() - started < limit_s:
            time.sleep(step)
            samples.append(self.eddy.cpu_seconds())
            if len(samples) > window and samples[-1] - samples[-1 - window] < 0.1 * quiet_s:
                break
        return time.monotonic() - started

    def cost_rounds(self, label: str) -> tuple[float, float] | None:
        """Median (CPU s, wall s) per message of ROUNDS bursts of BATCH events, each sent to an
        engine at rest (`settle`)."""
        cpu, wall, settled = [], [], []
        for r in range(self.args.rounds):
            settled.append(self.settle())
            before = self.end()
            c0, t0 = self.eddy.cpu_seconds(), time.perf_counter()
            self.produce(self.args.batch)
            after = self.end()
            got = wait_caught_up(self.eddy, after, self.deadline())
            if not got.finished:
                self.notes.append(f"cost at {label}: a burst of {after - before:,} messages was "
                                  f"not absorbed within --timeout {self.args.timeout:.0f} s")
                return None
            n = after - before
            cpu.append((self.eddy.cpu_seconds() - c0) / n)
            wall.append((got.t_done - t0) / n)
            say(f"  {label} round {r + 1}: {n:,} messages, {cpu[-1] * 1e6:,.1f} µs CPU and "
                f"{wall[-1] * 1e6:,.1f} µs wall per message (after {settled[-1]:.1f} s to rest)")
        self.detail[f"cost_{label}"] = {"cpu_us": [x * 1e6 for x in cpu],
                                        "wall_us": [x * 1e6 for x in wall],
                                        "settled_s": settled,
                                        "history_messages": self.end()}
        return statistics.median(cpu), statistics.median(wall)

    def explain(self) -> dict[str, list[str]]:
        """Per maintained model: the EXPLAIN lines naming a part that is not incremental."""
        found = {}
        with self.eddy.connect() as conn:
            for name in maintained(self.dbt.manifest()):
                text = "\n".join(r[0] for r in conn.execute(f'explain materialized view "{name}"'))
                flagged = [x.strip() for x in text.splitlines()
                           if re.search(r"not incremental|whole input", x, re.I)]
                if flagged:
                    found[name] = flagged
        return found

    def read_marts(self) -> dict[str, list[tuple]]:
        with self.eddy.connect() as conn:
            return {m: conn.execute(f'select * from "{m}"').fetchall() for m in self.marts}

    # -- phases ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Topics, and an engine with every model of the dbt project: from `dbt run`, or from
        the template a previous run left (same dbt project and state format; the template's
        topics are recreated empty, and the engine rebuilds any view whose plan changed)."""
        tpl = template_dir(self.dbt.extra_vars) if self.args.template else None
        if tpl is not None and not self._lock(tpl):
            say(f"another benchmark run holds {tpl.name} (its topics have fixed names): "
                f"running dbt on own topics instead")
            tpl = None
        if tpl is not None:
            self.prefix = f"bmt{tpl.name[:6]}_"
            self.topics, self.output_topics = (
                [self.prefix + t.split("_", 1)[1] for t in names]
                for names in (self.topics, self.output_topics))
            self.dbt.prefix = self.prefix
            existing = stack.list_topics(self.bootstrap)
            stack.delete_topics(self.bootstrap, [t for t in self.topics + self.output_topics
                                                 if t in existing])
        stack.create_topics(self.bootstrap, self.topics, partitions=3)
        say(f"topics {self.prefix}*; engine data in {self.work}")
        if tpl is not None and (tpl / "ready").exists():
            shutil.copytree(tpl / "eddy", self.work / "eddy")
            shutil.copytree(tpl / "target", self.work / "target")
            self.marts = mart_names(self.dbt.manifest())
            say(f"engine state of `dbt run` reused from {tpl} (--no-template to run dbt)")
            self.detail["dbt_run"] = {"reused_template": str(tpl)}
            return
        self.start()
        t0 = time.perf_counter()
        self.dbt("run", self.eddy.port, "--threads", "1")
        self.marts = mart_names(self.dbt.manifest())
        self.detail["dbt_run"] = {"seconds": time.perf_counter() - t0}
        say(f"dbt run: {time.perf_counter() - t0:.0f} s; marts maintained: {', '.join(self.marts)}")
        self.detail["plans_not_incremental"] = self.explain()
        self.stop()
        if tpl is not None:
            shutil.rmtree(tpl, ignore_errors=True)
            shutil.copytree(self.work / "eddy", tpl / "eddy")
            shutil.copytree(self.work / "target", tpl / "target")
            (tpl / "ready").touch()

    def _lock(self, tpl: Path) -> bool:
        """Hold the template's lock for the whole run (released when this process exits)."""
        tpl.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(tpl.parent / f"{tpl.name}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            return False
        return True

    def run(self) -> None:
        a = self.args
        self.prepare()

        one_x = a.history // 10
        self.produce(one_x)
        self.start()
        got = self.catch_up("1x history")
        say(f"1x history: {one_x:,} events; engine caught up {got.t_done - self.eddy.started:.1f} s "
            f"after its start" if got.finished else f"1x history: {one_x:,} events; NOT caught up")
        cost1 = self.cost_rounds("1x") if got.finished else None
        self.stop()

        base = self.end()
        secs = self.produce(a.history - one_x, workers=2)
        total = self.end()
        say(f"9x history produced: {a.history - one_x:,} events in {secs:.1f} s; "
            f"{total:,} messages in the topics")
        limits = []
        t0 = time.perf_counter()
        for r in range(a.rounds):
            if r and time.perf_counter() - t0 > a.round_budget:
                break
            limits.append(raw_rate(self.bootstrap, self.topics, total, True))
            say(f"  raw consume + decode round {r + 1}: {limits[-1]:,.0f} messages/s")
        self.out["limit_events_per_s"] = statistics.median(limits)
        self.detail["limit_rounds"] = limits
        peers = peers_throughput(self, a.peers, say) if a.peers else {}

        self.start()
        got = self.catch_up("10x history", self.marts)
        self.out["eddy_events_per_s"] = got.rate
        self.detail["eddy"] = {
            "messages_total": total, "caught_up": got.finished,
            "committed_at_first_reading": got.first, "committed_at_end": got.done,
            "seconds_from_first_reading": got.t_done - got.t_first,
            "seconds_from_spawn": got.t_done - self.eddy.started,
            "rate_from_spawn": (got.done - base) / (got.t_done - self.eddy.started)}
        say(f"engine: {got.done - got.first:,} messages committed in {got.t_done - got.t_first:.1f} s "
            f"({got.rate:,.0f}/s; {got.t_done - self.eddy.started:.1f} s after its spawn)"
            + ("" if got.finished else "; NOT caught up"))
        upto = end_offsets(self.bootstrap, self.topics)
        snapshot = None
        if got.finished:
            snapshot = self.read_marts()
            final = {m: len(rows) for m, rows in snapshot.items()}
            self.detail["eddy"]["marts_final_when_caught_up"] = final == got.counts
            if final != got.counts:
                self.notes.append(f"mart counts changed after the offsets reached the end: "
                                  f"{got.counts} then {final}")

        cost10 = self.cost_rounds("10x") if got.finished else None
        if cost1 and cost10:
            self.out["history_cost_ratio_10x"] = cost10[0] / cost1[0]
            self.detail["history_cost_wall_ratio_10x"] = cost10[1] / cost1[1]

        self.steady()
        self.out["peak_rss_mb"] = self.eddy.peak_rss_mb()
        self.stop()

        self.recompute(upto, snapshot)
        eddy_reflected(self, snapshot, upto)
        if peers and a.peer_freshness:
            peers_freshness(self, peers, say)
        elif peers:
            self.notes.append("peers' freshness not measured in this run (--quick skips it: "
                              "Flink shows a page-view row only once its one-minute window "
                              "closes, which alone takes longer than the quick budget; "
                              "`make bench` measures it, or pass --peer-freshness)")

    def loadgen(self, rate: float, duration: float, *extra: str) -> subprocess.Popen:
        """`loadgen run` at `rate` events/s for `duration` s in its own process."""
        self.seed += 1
        return subprocess.Popen(
            [str(BIN / "loadgen"), "run", "--rate", str(rate), "--duration", str(duration),
             "--seed", str(self.seed + 100), "--no-progress", "--bootstrap", self.bootstrap,
             "--topic-prefix", self.prefix, "--late-fraction", str(FAULTS.late_fraction),
             "--duplicate-fraction", str(FAULTS.duplicate_fraction), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def steady(self) -> None:
        a = self.args
        base = self.end()
        say(f"steady load: {a.rate:,.0f} events/s for {a.duration:.0f} s, markers every 0.5 s")
        ticks0, cpu0, t0 = self.engine_ticks(), self.eddy.cpu_seconds(), time.perf_counter()
        threads0, busy0 = self.eddy.thread_seconds(), machine_busy()
        gen = self.loadgen(a.rate, a.duration)
        try:
            markers = Markers(self.bootstrap, self.prefix, self.eddy.dsn(), self.marts,
                              poll=a.poll_ms / 1000)
            with ConnectionProbe(self.eddy.dsn()) as probe, StepSampler(self.eddy.dsn()) as steps:
                markers.run_for(a.duration, settle=a.settle)
            try:
                log = gen.communicate(timeout=30)[0]
                failed = gen.returncode != 0
            except subprocess.TimeoutExpired:  # it could not keep the rate: stop it, keep figures
                gen.send_signal(signal.SIGINT)
                log, failed = gen.communicate(timeout=120)[0], False
                self.notes.append(f"loadgen could not send {a.rate:,.0f} events/s for "
                                  f"{a.duration:.0f} s; interrupted after the markers")
        finally:
            if gen.poll() is None:
                gen.kill()
                gen.wait()
        if failed:
            raise BenchError(f"loadgen failed:\n{log[-3000:]}")
        m = re.search(r"([\d,]+) events in ([\d.]+) s of sending \(([\d,]+) events/s\)", log)
        achieved = float(m.group(3).replace(",", "")) if m else float("nan")
        span = time.perf_counter() - t0
        cores = (self.eddy.cpu_seconds() - cpu0) / span
        threads = {g: {"on_cpu_cores": round((run - threads0.get(g, [0, 0])[0]) / span, 3),
                       "waiting_for_cpu_cores": round((wait - threads0.get(g, [0, 0])[1]) / span,
                                                      3)}
                   for g, (run, wait) in sorted(self.eddy.thread_seconds().items())}
        busy1 = machine_busy()
        machine = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1e-9) * (os.cpu_count() or 1)
        with self.eddy.connect() as conn:
            lag = self.end() - committed(conn)
            ticks = conn.execute("SELECT ticks, tick_seconds_p50, tick_seconds_p99 "
                                 "FROM mz_internal.eddy_engine_statistics").fetchone()
        lat = markers.latencies_ms()
        self.out["freshness_p50_ms"] = percentile(lat, 0.5)
        self.out["freshness_p99_ms"] = percentile(lat, 0.99)
        self.out["new_connection_select1_p99_ms"] = percentile(probe.samples_ms, 0.99)
        self.detail["steady"] = {
            "loadgen_events_per_s": achieved, "markers": len(markers.sent),
            "marker_samples": len(lat), "markers_missing": markers.missing(),
            "lag_after_load_messages": lag, "messages": self.end() - base,
            "per_mart_p50_ms": {mt: percentile(markers.latencies_ms(mt), 0.5) for mt in markers.marts},
            "per_mart_p99_ms": {mt: percentile(markers.latencies_ms(mt), 0.99) for mt in markers.marts},
            "poll_errors": markers.errors[:3],
            # where the time went: the engine's ticks during the load and settle (their
            # durations over the last 60 s), and its CPU (cores) over the same span
            "engine_ticks": ticks[0] - ticks0, "engine_tick_seconds_p50_last_60s": ticks[1],
            "engine_tick_seconds_p99_last_60s": ticks[2], "engine_cores": cores,
            # per group of engine threads, cores on a CPU and cores' worth of time runnable but
            # waiting for one (the machine's other work: Kafka, loadgen); the machine's busy
            # cores over the same span; the markers' poll interval (a poll reads the 4 marts)
            "engine_threads": threads, "machine_busy_cores": round(machine, 2),
            "marker_poll_ms": a.poll_ms,
            # per marker in send order: [s after the first, ms until its last mart had it]
            "freshness_by_marker": [[round(t, 1), round(ms)] for t, ms in markers.by_marker()],
            # per view, ms of tick time a tick and its state rows, over the load's first and
            # last 60 s: what grows as the state does
            "view_steps_first_60s": steps.window(first=True, until=t0 + a.duration),
            "view_steps_last_60s": steps.window(first=False, until=t0 + a.duration),
            "new_connection_samples": len(probe.samples_ms),
            "new_connection_p50_ms": percentile(probe.samples_ms, 0.5),
            "new_connection_max_ms": max(probe.samples_ms, default=None),
            "new_connection_failures": probe.failures[:3] + ([f"... {len(probe.failures)} in all"]
                                                             if len(probe.failures) > 3 else [])}
        say(f"steady load done: loadgen {achieved:,.0f} events/s; {len(lat)} marker samples, "
            f"{markers.missing()} missing; lag after load {lag:,} messages; engine "
            f"{cores:.2f} cores, {ticks[0] - ticks0} ticks, p50 {ticks[1] or 0:.2f} s")
        early = [ms for t, ms in markers.by_marker() if t < 10]
        later = [ms for t, ms in markers.by_marker() if t >= 10]
        if early and later:
            say(f"  freshness p99 of markers sent in the first 10 s {percentile(early, 0.99):,.0f} "
                f"ms, after them {percentile(later, 0.99):,.0f} ms (the last mart to show each)")
        tick = threads.get("ticks", {})
        say(f"  tick thread {tick.get('on_cpu_cores', 0):.2f} cores on a CPU, "
            f"{tick.get('waiting_for_cpu_cores', 0):.2f} waiting for one; machine busy "
            f"{machine:.2f} of {os.cpu_count()} cores; markers polled every {a.poll_ms:g} ms")

    def engine_ticks(self) -> int:
        with self.eddy.connect() as conn:
            return conn.execute("SELECT ticks FROM mz_internal.eddy_engine_statistics").fetchone()[0]

    def recompute(self, upto: dict, snapshot: dict) -> None:
        a = self.args
        messages = sum(upto.values())
        t0 = time.perf_counter()
        conn = load_events(self.bootstrap, upto, self.prefix)
        say(f"recompute baseline: {messages:,} messages loaded into DuckDB in "
            f"{time.perf_counter() - t0:.1f} s")
        project = Project(self.dbt.manifest(), self.marts)
        seconds = []
        t0 = time.perf_counter()
        for r in range(a.rounds):
            if r and time.perf_counter() - t0 > a.round_budget:
                break
            seconds.append(project.recompute(conn))
            say(f"  full recompute round {r + 1}: {seconds[-1]:.2f} s")
        self.out["recompute_events_per_s"] = messages / statistics.median(seconds)
        self.detail["recompute"] = {"messages": messages, "seconds": seconds,
                                    "models": [n for n, _, _ in project.models]}
        if snapshot is not None:
            self.detail["oracle"] = compare(snapshot, conn)
        conn.close()


def template_dir(extra_vars: dict | None = None) -> Path:
    """.bench/templates/<hash of the dbt project, its extra vars, the engine's state format and
    storage>."""
    h = hashlib.sha256(json.dumps(extra_vars or {}, sort_keys=True).encode())
    h.update((os.environ.get("EDDY_STATE_STORAGE") or "file").encode())
    for p in template_inputs():
        h.update(str(p.relative_to(ROOT)).encode() + p.read_bytes())
    return ROOT / ".bench" / "templates" / h.hexdigest()[:16]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes: about 2-3 minutes")
    ap.add_argument("--history", type=int, help="events of 10x history (default 200,000; "
                                                "quick 40,000); 1x is a tenth")
    ap.add_argument("--batch", type=int, help="events per cost round (default 5,000; quick 2,000)")
    ap.add_argument("--rounds", type=int, help="rounds of each repeated figure (default 3; quick 2)")
    ap.add_argument("--rate", type=float, default=20_000, help="steady load, events/s")
    # A poll reads 4 marts in one statement, ~6 ms of the server's CPU even with the marts
    # empty: at 20 ms the probe alone took 0.22 of the machine's 2 cores from the engine, at
    # 100 ms 0.10 (engine_threads in the JSON). A figure is late by at most one interval.
    ap.add_argument("--poll-ms", type=float, default=100.0,
                    help="how often the freshness probe reads the marts for its markers (ms)")
    ap.add_argument("--duration", type=float,
                    help="seconds of steady load (default 180: the state grows under the "
                         "load, and the ticks and folds with it, which 60 s hid; quick 15)")
    ap.add_argument("--settle", type=float, default=30.0,
                    help="seconds to wait for the last markers after the load")
    ap.add_argument("--timeout", type=float,
                    help="seconds the engine may take to absorb any one phase's messages "
                         "(default 600; quick 180); past it the figure is what it reached")
    ap.add_argument("--round-budget", type=float, default=60.0,
                    help="no further round of the limit or the recompute once their rounds "
                         "took this many seconds (a slow machine gets fewer rounds)")
    ap.add_argument("--peers", default="flink,pathway",
                    help="peers to run on the same topics while the engine is stopped (comma list; "
                         "'none' for none); each installs into its own venv under .bench/")
    ap.add_argument("--peer-freshness", action=argparse.BooleanOptionalAction, default=None,
                    help="peers' freshness too (default: yes, except with --quick)")
    ap.add_argument("--peer-timeout", type=float, default=600.0,
                    help="seconds a peer's bounded job may take, start-up included")
    ap.add_argument("--soak", help="soak mode instead of the suite: e.g. 30m or 180s at "
                                   "--soak-rate events/s, memory reported every minute")
    ap.add_argument("--soak-rate", type=float, default=10_000)
    ap.add_argument("--no-template", dest="template", action="store_false",
                    help="always run `dbt run` (default: reuse the engine state a previous run "
                         "kept in .bench/templates/ for the same dbt project)")
    ap.add_argument("--state-storage", choices=["file", "memory"],
                    default=os.environ.get("EDDY_STATE_STORAGE") or "file",
                    help="the engine's state in a DuckDB file with its write-ahead log, or in "
                         "memory with snapshots (EDDY_STATE_STORAGE; eddy.storage.snapshots)")
    ap.add_argument("--json", type=Path, default=ROOT / ".bench" / "latest.json")
    args = ap.parse_args(argv)
    os.environ["EDDY_STATE_STORAGE"] = args.state_storage   # the engine's process inherits it
    quick = args.quick
    # Sized for this 2-core machine, where the engine absorbs about 13,000-18,000 events/s with
    # every mart maintained (session 5): the 10x catch-up must finish within --timeout (the 1,000,000
    # events of history: --history 1000000 --timeout 1500).
    args.history = args.history or (40_000 if quick else 200_000)
    args.batch = args.batch or (2_000 if quick else 5_000)
    args.rounds = args.rounds or (2 if quick else 3)
    args.duration = args.duration or (15.0 if quick else 180.0)
    args.timeout = args.timeout or (180.0 if quick else 600.0)
    if args.peer_freshness is None:
        args.peer_freshness = not quick
    args.peers = [] if args.peers in ("", "none") else args.peers.split(",")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = stack.Settings.from_env()
    started = shared.acquire(settings)
    load = [os.getloadavg()[0]]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eddy-marts-bench-") as tmp:
        bench = Bench(args, settings.bootstrap, Path(tmp))
        error = None
        try:
            if args.soak:
                soak(bench, say)
            else:
                bench.run()
        except BenchError as exc:
            error = str(exc)
            console.print(f"[bold red]benchmark phase failed:[/] {exc}")
        except Exception as exc:  # noqa: BLE001 - report what was measured before the failure
            error = f"{type(exc).__name__}: {exc}"
            console.print_exception()
        finally:
            bench.stop()
            load.append(os.getloadavg()[0])
            if (tmp_log := Path(tmp) / "eddy.log").exists():   # the engine's log outlives the run
                args.json.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmp_log, args.json.with_suffix(".eddy.log"))
            try:
                stack.delete_topics(settings.bootstrap, bench.topics + bench.output_topics)
            except stack.StackError as exc:
                console.print(f"(could not delete the benchmark topics: {exc})")
            shared.release(settings, started)
    result = {**bench.out, "details": bench.detail, "error": error, "notes": bench.notes,
              "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "load_average": {"start": load[0], "end": load[-1], "cores": os.cpu_count()},
              "seconds": time.perf_counter() - t0, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                   time.gmtime())}
    out = Console(width=None if sys.stdout.isatty() else 160)
    if args.soak:
        report_soak(result, out)
    else:
        report(result, out)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written {args.json}")
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
