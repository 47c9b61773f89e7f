"""Load generator benchmark: the maximum event rate straight to Kafka and through the mock API.

    .venv/bin/python bench/loadgen_bench.py [--events 1000000] [--api-events 200000]

Uses the local broker of `stack/` (started if needed, with a lease like the tests) and fresh
prefixed copies of the contract topics (deleted afterwards). Prints, in events/s:
simulation only (no output); `loadgen run --via kafka [--workers 2]` until every event is
acknowledged (acks=all, idempotence); `loadgen run --via api` through `loadgen api` (target
for Kafka: >= 100,000 events/s on the 2-core machine).
"""

from __future__ import annotations

import argparse
import http.client
import io
import itertools
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

import stack  # noqa: E402
from loadgen.launch import run  # noqa: E402
from loadgen.model import TOPICS  # noqa: E402
from loadgen.runner import RunOptions, messages  # noqa: E402
from stack import shared  # noqa: E402


def simulate_only(n: int) -> float:
    stream = messages(RunOptions(seed=1, events=n, via=None))
    next(stream)  # warm-up happens on the first message
    t0 = time.perf_counter()
    for _ in itertools.islice(stream, n - 1):
        pass
    return (n - 1) / (time.perf_counter() - t0)


def timed_run(opts: RunOptions) -> tuple[float, float]:
    """(events/s by the wall clock, events/s per CPU second of the calling thread)."""
    log = io.StringIO()
    t0, c0 = time.perf_counter(), time.thread_time()
    code = run(opts, Console(file=log, width=120))
    elapsed, cpu = time.perf_counter() - t0, time.thread_time() - c0
    if code != 0:
        raise SystemExit(f"run failed:\n{log.getvalue()}")
    return opts.events / elapsed, opts.events / cpu


def start_api(bootstrap: str, prefix: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "loadgen", "api", "--port", str(port),
                             "--bootstrap", bootstrap, "--topic-prefix", prefix],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("loadgen api did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--api-events", type=int, default=200_000)
    ap.add_argument("--port", type=int, default=18088)
    args = ap.parse_args()
    settings = stack.Settings.from_env()
    started = shared.acquire(settings)
    bootstrap = settings.bootstrap
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    names = [prefix + t for t in TOPICS]
    stack.create_topics(bootstrap, names, partitions=3)
    try:
        sim = simulate_only(min(args.events, 500_000))
        print(f"simulation only (1 process):  {sim:>10,.0f} events/s")
        print(f"(machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        for workers in (1, 2):
            kafka, per_cpu = timed_run(RunOptions(seed=1, events=args.events, via="kafka",
                                                  bootstrap=bootstrap, topic_prefix=prefix,
                                                  progress=False, workers=workers))
            print(f"straight to Kafka, {workers} worker{'s' if workers > 1 else ' '}: "
                  f"{kafka:>10,.0f} events/s ({args.events:,} events acked; target >= 100,000)")
            if workers == 1:
                print(f"  (the producing thread's own CPU time allows {per_cpu:,.0f} events/s: "
                      "the rate on an otherwise idle core)")
        api = start_api(bootstrap, prefix, args.port)
        try:
            through, _ = timed_run(RunOptions(seed=2, events=args.api_events, via="api",
                                           api_url=f"http://127.0.0.1:{args.port}",
                                           batch_size=1000, progress=False))
        finally:
            api.terminate()
            api.wait(10)
        print(f"through the API (acked):      {through:>10,.0f} events/s "
              f"({args.api_events:,} events)")
    finally:
        try:
            stack.delete_topics(bootstrap, names)
        except stack.StackError as exc:
            print(f"(could not delete the benchmark topics: {exc})")
        shared.release(settings, started)


if __name__ == "__main__":
    main()
