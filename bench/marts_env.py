"""The marts benchmark's moving parts: an own `eddy serve`, the dbt project, Kafka offsets,
loadgen chunks. Used by `bench/marts_bench.py`."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console

from loadgen.faults import FaultConfig
from loadgen.launch import run
from loadgen.model import TOPICS
from loadgen.runner import RunOptions

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A phase of the benchmark could not complete (shown without a traceback)."""


def thread_group(name: str) -> str:
    """The role of an engine thread by its OS name (eddy.thread_names)."""
    for prefix, group in (("eddy-ticks", "ticks"), ("src-", "kafka sources"),
                          ("rdk:", "kafka client"), ("pgwire", "reads (pgwire)")):
        if name.startswith(prefix):
            return group
    return "other"


def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far (/proc/stat), for a share."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]    # idle and iowait
    return (sum(fields) - idle) / CLK_TCK, sum(fields) / CLK_TCK


class EddyServer:
    """`eddy serve` on a free loopback port with its own data dir; output to a log file."""

    def __init__(self, data_dir: Path, log: Path):
        self.data_dir, self.log = data_dir, log
        self.started = time.perf_counter()
        skip = log.stat().st_size if log.exists() else 0  # earlier runs' lines
        with open(log, "a") as out:
            self.proc = subprocess.Popen(
                # EDDY_BENCH_LOG_LEVEL=DEBUG: a line per tick (eddy.ticks: size, time, commit)
                [str(BIN / "eddy"), "--log-level", os.environ.get("EDDY_BENCH_LOG_LEVEL", "WARNING"),
                 "serve", "--port", "0", "--metrics-port", "0", "--data-dir", str(data_dir)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 600   # a restart rebuilds state; slow on a busy machine
        while time.monotonic() < deadline:
            text = log.read_text()[skip:]
            if m := list(re.finditer(r"eddy listening on 127\.0\.0\.1:(\d+)", text)):
                self.port = int(m[-1].group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.proc.kill()
        raise BenchError(f"eddy serve did not start; see {log}:\n{log.read_text()[-2000:]}")

    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=materialize dbname=materialize"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn(), autocommit=True)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the engine process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def thread_seconds(self) -> dict[str, list[float]]:
        """Per group of the engine's threads (their OS names, eddy.thread_names): [seconds on a
        core, seconds runnable but waiting for one] so far (/proc/<pid>/task/*/schedstat)."""
        out: dict[str, list[float]] = {}
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                name = (task / "comm").read_text().strip()
                run_ns, wait_ns = map(int, (task / "schedstat").read_text().split()[:2])
            except (OSError, ValueError):   # the thread ended meanwhile
                continue
            got = out.setdefault(thread_group(name), [0.0, 0.0])
            got[0] += run_ns / 1e9
            got[1] += wait_ns / 1e9
        return out

    def peak_rss_mb(self) -> float:
        """The process's peak resident set (VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Dbt:
    """The project's dbt commands against one engine, on the benchmark's topics."""

    prefix: str
    bootstrap: str
    work: Path
    extra_vars: dict | None = None   # more dbt vars, e.g. {"retention_hours": 1}

    def _env(self, port: int) -> dict:
        return {**os.environ, "EDDY_PORT": str(port), "KAFKA_BOOTSTRAP": self.bootstrap,
                "DBT_PROFILES_DIR": str(ROOT), "DBT_TARGET_PATH": str(self.work / "target"),
                "DBT_LOG_PATH": str(self.work / "logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def __call__(self, command: str, port: int, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "dbt"), command, "--project-dir", str(ROOT),
             "--vars", json.dumps({"topic_prefix": self.prefix, **(self.extra_vars or {})}),
             *args],
            capture_output=True, text=True, env=self._env(port), timeout=900)
        if done.returncode != 0:
            raise BenchError(f"dbt {command} failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
        return done.stdout

    def manifest(self) -> dict:
        return json.loads((self.work / "target" / "manifest.json").read_text())


def template_inputs() -> list[Path]:
    """The files an engine state made by `dbt run` depends on: the dbt project and the engine's
    state format (storage, catalog objects). A template of that state is reused while they
    are unchanged (marts_bench.template_dir, profile_ticks.template)."""
    files = [ROOT / "dbt_project.yml", ROOT / "profiles.yml"]
    for folder in ("models", "sources", "macros", "eddy/storage", "tests/dbt"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file()
                        and "__pycache__" not in p.parts)
    files.append(ROOT / "eddy" / "catalog" / "objects.py")
    return [p for p in files if p.exists()]


def mart_names(manifest: dict) -> list[str]:
    """The project's models under models/marts (what the benchmark maintains and reads)."""
    return sorted(n["name"] for n in manifest["nodes"].values()
                  if n["resource_type"] == "model" and n["fqn"][1:2] == ["marts"])


def maintained(manifest: dict) -> list[str]:
    """The project's materialized views (staging and marts: the engine's dataflows)."""
    return sorted(n["name"] for n in manifest["nodes"].values()
                  if n["resource_type"] == "model"
                  and n["config"]["materialized"] == "materialized_view")


def end_offsets(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """The high watermark of every partition of `topics`."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-marts-watermarks"})
    try:
        md = c.list_topics(timeout=10)
        out = {}
        for t in topics:
            for p in md.topics[t].partitions:
                out[t, p] = c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        return out
    finally:
        c.close()


def committed(conn: psycopg.Connection, column: str = "offset_committed") -> int:
    """Sum over all sources of the offsets committed by the engine's last tick (or, with
    `offset_consumed`, handed to the engine by its consumers)."""
    row = conn.execute(f"select coalesce(sum({column}), 0) "
                       "from mz_internal.mz_source_partition_statistics").fetchone()
    return int(row[0])


@dataclass
class CatchUp:
    """How far the engine got: committed offsets at the first and the last reading."""

    target: int
    t_first: float
    first: int
    t_done: float = 0.0
    done: int = 0
    counts: dict[str, int] | None = None  # rows per mart, read as soon as `target` was reached
    consumed: int | None = None  # offsets handed to the engine, when it did not catch up

    @property
    def finished(self) -> bool:
        return self.done >= self.target

    @property
    def rate(self) -> float:
        return (self.done - self.first) / max(1e-9, self.t_done - self.t_first)


def mart_counts(conn: psycopg.Connection, marts: list[str]) -> dict[str, int]:
    """Rows of every mart, in one statement (one committed tick)."""
    sql = " union all ".join(f"select '{m}', count(*) from \"{m}\"" for m in marts)
    return dict(conn.execute(sql).fetchall())


def wait_caught_up(eddy: EddyServer, target: int, deadline: float, progress=None,
                   marts: list[str] = ()) -> CatchUp:
    """Poll until the engine's committed offsets reach `target` (or time.monotonic() passes
    `deadline`); then, with `marts`, read their row counts (the time includes that read)."""
    with eddy.connect() as conn:
        got = CatchUp(target, 0.0, committed(conn))
        got.t_first = time.perf_counter()
        while True:
            got.done, got.t_done = committed(conn), time.perf_counter()
            if progress is not None:
                progress(got.done)
            if got.finished:
                if marts:
                    got.counts = mart_counts(conn, marts)
                    got.t_done = time.perf_counter()
                return got
            if eddy.proc.poll() is not None:
                raise BenchError(f"eddy exited (code {eddy.proc.returncode}); see {eddy.log}")
            if time.monotonic() > deadline:
                got.consumed = committed(conn, "offset_consumed")
                return got
            time.sleep(0.02)


def produce_chunk(bootstrap: str, prefix: str, seed: int, events: int, start_ms: int,
                  workers: int = 1, faults: FaultConfig | None = None) -> float:
    """Send `events` simulated events (acked); returns the wall seconds it took."""
    log = io.StringIO()
    t0 = time.perf_counter()
    code = run(RunOptions(seed=seed, events=events, via="kafka", bootstrap=bootstrap,
                          topic_prefix=prefix, start_ms=start_ms, progress=False,
                          workers=workers, faults=faults or FaultConfig()),
               Console(file=log, width=120))
    if code != 0:
        raise BenchError(f"loadgen failed:\n{log.getvalue()}")
    return time.perf_counter() - t0


def topic_names(prefix: str) -> list[str]:
    return [prefix + t for t in TOPICS]
