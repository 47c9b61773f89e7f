"""Where a tick's time goes on the dbt project's marts: per view, per operator, per statement,
and the top Python functions. In-process, no Kafka: loadgen's messages are decoded by the Kafka
source's own decoder and handed to `engine.ingest`, as the consumer thread would.

    .venv/bin/python bench/profile_ticks.py [--events 20000] [--batch 2000,10000]
                                            [--history 20000] [--top 25] [--no-cprofile]

The project is deployed once by the real `dbt run` (against this process's engine over pgwire,
with a Kafka connector whose consumers never start) into a template data dir, cached under
`.bench/profile_template/` by a hash of the project's files. Each run copies it, loads
`--history` events in ticks of the largest batch (not measured), then feeds `--events` events in
ticks of each batch size B and prints, per B: tick wall ms and events/s, then per view and per
operator class the ms and DuckDB statements per tick, and the top functions (cProfile of the
ticks, which run in this thread). DuckDB's own time is the `execute`/`fetch*` builtins' tottime.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import itertools
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from marts_env import template_inputs  # noqa: E402

from eddy.dataflow import dataflow as dataflow_mod  # noqa: E402
from eddy.dataflow import operators as ops  # noqa: E402
from eddy.dataflow import runtime  # noqa: E402
from eddy.engine import Engine  # noqa: E402
from eddy.kafka_client import kafka_connection  # noqa: E402
from eddy.kafka_connector import KafkaConnector  # noqa: E402
from eddy.sources import kafka as kafka_src  # noqa: E402
from eddy.sources.ddl import parse_source  # noqa: E402
from eddy.sources.decode import JsonChecker, RawBatch, decode  # noqa: E402
from loadgen.faults import FaultConfig  # noqa: E402
from loadgen.model import TOPICS  # noqa: E402
from loadgen.runner import RunOptions, messages  # noqa: E402

BIN = Path(sys.executable).parent
CACHE = ROOT / ".bench" / "profile_template"
FAULTS = FaultConfig(late_fraction=0.05, duplicate_fraction=0.01)
clock = time.process_time   # CPU of the whole process (DuckDB's threads too): the machine is shared
CTAS = re.compile(r"CREATE TEMP TABLE \S+ AS ", re.I)
PHASES_FILE = Path(tempfile.gettempdir()) / f"profile-ticks-phases-{os.getpid()}.json"
PHASES = (("latency", "latency"), ("bind", "planner"), ("optimize", "all_optimizers"),
          ("physical plan", "physical_planner"), ("operators", "cpu_time"))
TEMP = re.compile(r"__d\d+(_arrow)?|_eddy_ingest_\d+|'[^']*'|\b\d+\b")


class _IdleDriver(kafka_src.KafkaSourceDriver):
    """A Kafka source whose consumer never runs: batches come from this harness."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class IdleKafka(KafkaConnector):
    def create_source(self, ctx, body: str):
        spec = parse_source(body)
        return _IdleDriver(ctx, spec, kafka_connection(ctx, spec.connection))


def project_hash() -> str:
    h = hashlib.sha256()
    for f in template_inputs():
        h.update(str(f.relative_to(ROOT)).encode() + f.read_bytes())
    return h.hexdigest()[:16]


def build_template(dest: Path) -> None:
    """`dbt run` of the whole project against an in-process engine with idle sources; a state
    file, which an engine with its state in memory imports (eddy.storage.snapshots)."""
    from eddy.pgwire.server import PgServer

    work = Path(tempfile.mkdtemp(prefix="profile-dbt-"))
    engine = Engine(work / "data", tick_interval=0.05, storage="file")
    engine.register_connector(IdleKafka())
    engine.start()
    loop = asyncio.new_event_loop()
    server = PgServer(engine, "127.0.0.1", 0)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "EDDY_PORT": str(server.port), "DBT_PROFILES_DIR": str(ROOT),
               "DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work / "logs"),
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        done = subprocess.run([str(BIN / "dbt"), "run", "--project-dir", str(ROOT)],
                              capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"dbt run failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        engine.close()
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(work / "data", dest)
    shutil.rmtree(work, ignore_errors=True)


def template() -> Path:
    dest = CACHE / project_hash()
    if not (dest / "eddy.duckdb").exists():
        print(f"deploying the project with dbt into {dest} ...", file=sys.stderr)
        build_template(dest)
    return dest


class Feeder:
    """loadgen's message stream, decoded per topic as the Kafka source decodes it."""

    def __init__(self, engine: Engine, seed: int = 7, sim_rate: float | None = None):
        self.engine = engine
        self.sources = {}
        for obj in engine.catalog:
            if obj.kind == "source" and obj.id in engine.drivers:
                self.sources[engine.drivers[obj.id].spec.topic] = engine.drivers[obj.id]
        start = int(time.time() * 1000) - 3_600_000
        self.stream = messages(RunOptions(seed=seed, events=10**9, via=None, faults=FAULTS,
                                          start_ms=start, sim_rate=sim_rate))
        self.offsets: Counter = Counter()
        self.checker = JsonChecker()

    def queue(self, n: int) -> None:
        """Hand the next `n` messages to the engine (one batch per topic)."""
        per_topic = defaultdict(list)
        for topic, key, value, _mark in itertools.islice(self.stream, n):
            per_topic[topic].append((key, value))
        for topic, msgs in per_topic.items():
            driver = self.sources.get(topic)
            if driver is None:
                continue
            first = self.offsets[topic]
            batch = RawBatch(topic, [0] * len(msgs), list(range(first, first + len(msgs))),
                             [None] * len(msgs), [k.encode() for k, _ in msgs],
                             [v.encode() for _, v in msgs])
            self.offsets[topic] += len(msgs)
            got = decode(driver.spec, batch, self.checker)
            extra = {"dead_letters": got.dead} if got.dead.num_rows else None
            self.engine.ingest(driver.source_id, got.rows, {"0": self.offsets[topic]}, extra)


class _Fetched:
    """A statement's result already fetched (--dump reads a CTAS's row count itself)."""

    def __init__(self, row):
        self._row = row

    def fetchone(self):
        return self._row

    def fetchall(self):
        return [self._row]


class Meter:
    """Statements and time per view and per operator class, by patching the tick context
    (a counting connection proxy) and the dataflow/operator step methods."""

    def __init__(self):
        self.where: list[str] = ["tick"]
        self.stmts: Counter = Counter()         # label -> statements
        self.ms: Counter = Counter()            # label -> exclusive ms
        self.view_stmts: Counter = Counter()
        self.view_ms: Counter = Counter()
        self.shape_ms: Counter = Counter()      # (operator, statement shape) -> ms
        self.shape_n: Counter = Counter()
        self.view = "ingest/other"
        self._stack: list[list] = []
        self._names: dict[str, str] = {}
        self.phases: Counter | None = None      # --phases: label -> seconds per DuckDB phase
        self.prepared: Counter | None = None    # --prepared: seconds planned+run vs prepared
        self.log: list[tuple] | None = None     # --dump: (view, operator, ms, sql) of a tick

    def install(self, engine: Engine) -> None:
        meter = self
        self._names = {o.id: o.name for o in engine.catalog}

        class Counting:
            def __init__(self, conn):
                self._conn = conn

            def execute(self, sql, *a, **k):
                meter.stmts[meter.where[-1]] += 1
                meter.view_stmts[meter.view] += 1
                t0 = clock()
                rows = None
                try:
                    res = self._conn.execute(sql, *a, **k)
                    if meter.log is not None and sql.startswith("CREATE TEMP TABLE"):
                        row = res.fetchone()     # the CTAS's row count, kept for the caller
                        rows, res = row[0], _Fetched(row)
                    return res
                finally:
                    shape = TEMP.sub("?", sql)[:160]
                    meter.shape_ms[(meter.where[-1], shape)] += (clock() - t0) * 1000
                    meter.shape_n[(meter.where[-1], shape)] += 1
                    if meter.log is not None:
                        meter.log.append((meter.view, meter.where[-1],
                                          (clock() - t0) * 1000, rows, sql))
                    if meter.phases is not None:
                        meter.profile_select(self._conn, sql, a)
                    if meter.prepared is not None:
                        meter.time_prepared(self._conn, sql, a)

            def __getattr__(self, name):
                return getattr(self._conn, name)

        init = runtime.TickContext.__init__

        def tick_init(rt, conn, now, prev):
            init(rt, Counting(conn), now, prev)
        runtime.TickContext.__init__ = tick_init

        step = dataflow_mod.Dataflow.step

        def df_step(df, rt):
            meter.view = meter._names.get(df.object_id, df.object_id)
            t0 = clock()
            try:
                return step(df, rt)
            finally:
                meter.view_ms[meter.view] += (clock() - t0) * 1000
                meter.view = "ingest/other"
        dataflow_mod.Dataflow.step = df_step

        node_step = ops.Node.step

        def timed_step(node, rt):
            if node._tick is rt:
                return node._delta
            label = type(node).__name__
            meter.where.append(label)
            frame = [clock(), 0.0]
            self._stack.append(frame)
            try:
                return node_step(node, rt)
            finally:
                self._stack.pop()
                meter.where.pop()
                total = clock() - frame[0]
                meter.ms[label] += (total - frame[1]) * 1000
                if self._stack:
                    self._stack[-1][1] += total
        ops.Node.step = timed_step

    def time_prepared(self, conn, sql: str, args: tuple) -> None:
        """--prepared: a `CREATE TEMP TABLE ... AS`'s query inserted again into an empty scratch
        table, once planned and run as the tick does, once run from a statement prepared
        beforehand (DuckDB then skips parsing, binding and optimizing); adds both seconds.
        Each after a warm-up run of the same query (else the first run pays for the data's
        first read, and a prepared run measured second looked 25% faster than it is)."""
        m = CTAS.match(sql)
        if m is None:
            return
        query, params = sql[m.end():].rstrip().rstrip(";"), (args[0] if args else None)
        conn.execute(f"CREATE TEMP TABLE __scratch AS SELECT * FROM ({query}) LIMIT 0", params)
        try:
            conn.execute(f"INSERT INTO __scratch {query}", params)     # warm-up
            conn.execute("DELETE FROM __scratch")
            t0 = time.perf_counter()
            conn.execute(f"INSERT INTO __scratch {query}", params)
            planned = time.perf_counter() - t0
            conn.execute("DELETE FROM __scratch")
            conn.execute(f"PREPARE __prepared AS INSERT INTO __scratch {query}")
            call = "EXECUTE __prepared" + (
                "(" + ", ".join(f"{k} := ${k}" for k in params) + ")" if params else "")
            t0 = time.perf_counter()
            conn.execute(call, params)
            self.prepared["run"] += time.perf_counter() - t0
            self.prepared["planned"] += planned
            self.prepared["statements"] += 1
            conn.execute("DEALLOCATE __prepared")
        except duckdb.Error:    # "This type of statement can't be prepared" (some with params)
            self.prepared["refused"] += 1
        finally:
            conn.execute("DROP TABLE __scratch")

    def profile_select(self, conn, sql: str, args: tuple) -> None:
        """--phases: run a `CREATE TEMP TABLE ... AS` again into a table dropped at once (no side
        effects) under DuckDB's detailed profiler; add its phases' seconds to its operator's."""
        m = CTAS.match(sql)
        if m is None:
            return
        conn.execute("SET enable_profiling = 'json'")
        conn.execute("SET profiling_mode = 'detailed'")
        conn.execute("SET profiling_output = ?", [str(PHASES_FILE)])
        try:
            conn.execute("CREATE TEMP TABLE __phases AS " + sql[m.end():], *args)
        finally:
            conn.execute("SET enable_profiling = 'no_output'")
        conn.execute("DROP TABLE __phases")
        got = json.loads(PHASES_FILE.read_text())
        label = self.where[-1]
        self.phases[label, "statements"] += 1
        for phase, key in PHASES:
            self.phases[label, phase] += got.get(key, 0.0)

    def reset(self) -> None:
        for c in (self.stmts, self.ms, self.view_stmts, self.view_ms, self.shape_ms,
                  self.shape_n):
            c.clear()


def between_ticks(engine: Engine) -> None:
    """What the engine's tick loop does after a tick (outside the timed tick), so that the
    keyed state's indexes are off under load as in `eddy serve` (eddy.storage.key_indexes);
    `--all-indexes` makes it a no-op. The WAL is not folded: `--checkpoint` times a fold."""
    engine._index_policy()


def template_engine(prefix: str) -> tuple[Engine, Path]:
    """An engine (no tick thread, Kafka consumers that never start) over a fresh copy of the
    project's template data dir, and the temp dir that holds it (to remove after)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.copytree(template(), work / "data")
    engine = Engine(work / "data", tick_interval=None)
    engine.register_connector(IdleKafka())
    return engine, work


def load_history(engine: Engine, feeder: Feeder, events: int, batch: int) -> None:
    """`events` events fed in ticks of `batch`, the index policy between them (not measured)."""
    done = 0
    while done < events:
        n = min(batch, events - done)
        feeder.queue(n)
        engine.tick()
        between_ticks(engine)
        done += n


def run_size(engine: Engine, feeder: Feeder, meter: Meter, events: int, batch: int,
             prof: cProfile.Profile | None) -> dict:
    meter.reset()
    ticks, tick_s, wall_s, walls, cpus = 0, 0.0, 0.0, [], []
    sent = 0
    while sent < events:
        n = min(batch, events - sent)
        feeder.queue(n)
        sent += n
        t0, w0 = clock(), time.perf_counter()
        if prof is not None:
            prof.enable()
        engine.tick()
        if prof is not None:
            prof.disable()
        cpus.append(clock() - t0)
        tick_s += cpus[-1]
        walls.append(time.perf_counter() - w0)
        wall_s += walls[-1]
        between_ticks(engine)
        ticks += 1
    return {"batch": batch, "ticks": ticks, "events": sent, "tick_s": tick_s, "wall_s": wall_s,
            "max_wall_s": max(walls), "tick_cpu_s": cpus}


def table(title: str, ms: Counter, stmts: Counter, ticks: int, events: int) -> str:
    lines = [f"  {title:<28} {'ms/tick':>9} {'stmts/tick':>10} {'µs/event':>9}"]
    labels = sorted(set(ms) | set(stmts), key=lambda k: -ms.get(k, 0))
    for k in labels:
        lines.append(f"  {k:<28} {ms.get(k, 0) / ticks:9.1f} {stmts.get(k, 0) / ticks:10.1f} "
                     f"{ms.get(k, 0) * 1000 / events:9.1f}")
    lines.append(f"  {'total':<28} {sum(ms.values()) / ticks:9.1f} "
                 f"{sum(stmts.values()) / ticks:10.1f} {sum(ms.values()) * 1000 / events:9.1f}")
    return "\n".join(lines)


def checkpoint_figures(engine: Engine) -> dict:
    """Time one CHECKPOINT after the measured ticks, with the WAL it folded and the state's
    size: rows in all engine tables and in those carrying an ART index."""
    conn = engine.state.conn
    wal = engine.state.wal_bytes()
    indexed = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_indexes()").fetchall()}
    rows = conn.execute("SELECT table_name, estimated_size FROM duckdb_tables()").fetchall()
    total = sum(n for _, n in rows)
    in_indexed = sum(n for t, n in rows if t in indexed)
    w0 = time.perf_counter()
    engine.state.checkpoint()
    ms = (time.perf_counter() - w0) * 1000
    size = os.path.getsize(engine.state.path) if engine.state.path else 0
    print(f"\n== checkpoint: {ms:.0f} ms folding {wal / 1e6:.0f} MB of WAL; file {size / 1e6:.0f} MB; "
          f"{len(rows)} tables, {total} rows; {len(indexed)} indexed, {in_indexed} rows")
    return {"checkpoint_ms": ms, "wal_bytes": wal, "file_bytes": size, "tables": len(rows),
            "rows": total, "indexed_tables": len(indexed), "indexed_rows": in_indexed}


def phases_table(phases: Counter, ticks: int) -> str:
    """ms per tick of each DuckDB phase, per operator class, of the CTAS selects run again."""
    names = [p for p, _ in PHASES]
    lines = ["  DuckDB phases of the CTAS selects (ms/tick; rest = latency - the others):",
             f"  {'operator':<16} {'stmts':>6} " + " ".join(f"{n:>13}" for n in names + ["rest"])]
    labels = sorted({lab for lab, _ in phases}, key=lambda lab: -phases[lab, "latency"])
    for lab in labels + ["total"]:
        got = {p: (sum(phases[x, p] for x in labels) if lab == "total" else phases[lab, p])
               for p in names + ["statements"]}
        rest = got["latency"] - sum(got[p] for p in names[1:])
        lines.append(f"  {lab:<16} {got['statements'] / ticks:6.1f} "
                     + " ".join(f"{got[p] * 1000 / ticks:13.1f}" for p in names)
                     + f" {rest * 1000 / ticks:13.1f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=20_000, help="measured events per batch size")
    ap.add_argument("--batch", default="2000,10000", help="events per tick (comma-separated)")
    ap.add_argument("--history", type=int, default=20_000, help="events loaded first")
    ap.add_argument("--sim-rate", type=float, default=None,
                    help="the stream's events per simulated second (loadgen --sim-rate; its "
                         "users and sessions at once follow it); default loadgen's 1,000")
    ap.add_argument("--top", type=int, default=25, help="top functions shown")
    ap.add_argument("--no-cprofile", action="store_true")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--phases", action="store_true",
                    help="run each CTAS statement's SELECT again under DuckDB's detailed profiler "
                         "and print, per operator class, its time in binding, optimizing, "
                         "physical planning and operators (the rest of its latency is parsing "
                         "and pipeline set-up); the ticks' own figures then include these runs")
    ap.add_argument("--prepared", action="store_true",
                    help="run each CTAS statement's query again into a scratch table, once "
                         "planned as the tick does and once from a statement prepared before "
                         "(no parsing, binding, optimizing), and print both times: what a plan "
                         "cache would save; the ticks' own figures then include these runs")
    ap.add_argument("--dump", help="write every statement of the last tick (view, operator, "
                                   "ms, SQL) to this file")
    ap.add_argument("--bare", action="store_true",
                    help="time the ticks alone: no per-view, per-operator or per-statement "
                         "meter (its wrappers add ~40%% to a 2,000-event tick's CPU), no "
                         "cProfile")
    ap.add_argument("--trend", type=int, metavar="N",
                    help="also print the mean CPU per tick of each N ticks in order: how the "
                         "cost grows with the state (e.g. --bare --events 1200000 --batch "
                         "30000 --trend 4)")
    ap.add_argument("--checkpoint", action="store_true",
                    help="then time a CHECKPOINT (the WAL folded into the file) and size the state")
    ap.add_argument("--all-indexes", action="store_true",
                    help="keep every keyed state index on (as when the engine is calm); by "
                         "default the engine's index policy runs between ticks, as in the bench")
    args = ap.parse_args()
    if args.bare and (args.dump or args.phases or args.prepared):
        ap.error("--bare runs no meter: --dump, --phases and --prepared need one")
    sizes = [int(b) for b in args.batch.split(",")]

    engine, work = template_engine("profile-ticks-")
    if args.all_indexes:
        engine._index_policy = lambda: None     # every index stays on
    try:
        meter = Meter()
        if not args.bare:
            meter.install(engine)
        feeder = Feeder(engine, sim_rate=args.sim_rate)
        missing = [t for t in TOPICS if t not in {s.split(".")[-1] for s in feeder.sources}
                   and not any(s.endswith(t) for s in feeder.sources)]
        if missing:
            print(f"warning: no source for topics {missing}", file=sys.stderr)
        t0 = clock()
        load_history(engine, feeder, args.history, max(sizes))
        print(f"history: {args.history} events in {clock() - t0:.1f} s",
              file=sys.stderr)
        report = []
        for size in sizes:
            meter.phases = Counter() if args.phases else None
            meter.prepared = Counter() if args.prepared else None
            prof = None if args.no_cprofile or args.bare else cProfile.Profile()
            got = run_size(engine, feeder, meter, args.events, size, prof)
            ticks, events = got["ticks"], got["events"]
            print(f"\n== batch {size}: {ticks} ticks, CPU {got['tick_s'] * 1000 / ticks:.0f} ms/tick "
                  f"(wall {got['wall_s'] * 1000 / ticks:.0f}, max {got['max_wall_s'] * 1000:.0f}), {events / got['tick_s']:.0f} events "
                  f"per CPU second, {got['tick_s'] * 1e6 / events:.0f} CPU µs/event")
            if args.trend:
                cpus, k = got["tick_cpu_s"], args.trend
                print(f"  CPU ms/tick per {k} ticks, in order (the state grows by "
                      f"{k * size:,} events each): " + " ".join(
                          f"{sum(cpus[i:i + k]) * 1000 / len(cpus[i:i + k]):.0f}"
                          for i in range(0, len(cpus), k)))
            if args.bare:
                report.append(got)
                continue
            print(table("view", meter.view_ms, meter.view_stmts, ticks, events))
            print(table("operator (exclusive)", meter.ms, meter.stmts, ticks, events))
            got.update(views={k: [meter.view_ms[k] / ticks, meter.view_stmts[k] / ticks]
                              for k in set(meter.view_ms) | set(meter.view_stmts)},
                       operators={k: [meter.ms[k] / ticks, meter.stmts[k] / ticks]
                                  for k in set(meter.ms) | set(meter.stmts)})
            print("  statement shapes by DuckDB time (ms/tick, count/tick):")
            for (op, shape), ms in meter.shape_ms.most_common(args.top // 2):
                print(f"    {ms / ticks:8.1f} {meter.shape_n[op, shape] / ticks:5.1f} {op:<15} {shape}")
            if prof is not None:
                out = io.StringIO()
                stats = pstats.Stats(prof, stream=out)
                stats.sort_stats("tottime").print_stats(args.top)
                text = out.getvalue()
                print("  top functions by own time:")
                print("\n".join("    " + ln for ln in text.splitlines()
                                if ln.strip() and not ln.startswith("   Ordered")))
            if meter.phases is not None:
                print(phases_table(meter.phases, ticks))
            if meter.prepared:
                got_p = meter.prepared
                print(f"  CTAS queries again, {got_p['statements'] / ticks:.1f} a tick "
                      f"({got_p['refused']} refused a plan): planned and run "
                      f"{got_p['planned'] * 1000 / ticks:.1f} ms/tick, run prepared "
                      f"{got_p['run'] * 1000 / ticks:.1f} ms/tick")
            report.append(got)
        if args.dump:
            meter.log = []
            feeder.queue(sizes[-1])
            engine.tick()
            Path(args.dump).write_text("".join(
                f"-- {view} {op} {ms:.2f} ms" + (f" {rows} rows" if rows is not None else "") +
                f"\n{sql};\n\n" for view, op, ms, rows, sql in meter.log))
            meter.log = None
        if args.checkpoint:
            report.append(checkpoint_figures(engine))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    finally:
        engine.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
