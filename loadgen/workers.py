"""`loadgen run --workers N`: N processes, each simulating and sending a disjoint share of the
users at rate/N, for throughput beyond one core.

Worker i simulates users [i*U/N, (i+1)*U/N) with its own seed derived from --seed, so a run is
still reproducible: `--out` is the concatenation of the workers' outputs in worker order
(the same bytes for the same options, though not one global time order).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import shutil
from collections.abc import Callable

from loadgen.runner import Outcome, RunOptions, send


def shard_options(opts: RunOptions, i: int, n: int) -> RunOptions:
    planned = opts.planned()
    events = None if planned is None else planned // n + (1 if i < planned % n else 0)
    return dataclasses.replace(
        opts, rate=opts.rate / n if opts.rate else None,
        sim_rate=opts.sim_rate / n if opts.sim_rate else None, events=events,
        duration=None if events is not None else opts.duration,
        out=f"{opts.out}.part{i}" if opts.out else None, workers=1, shard=(i, n),
        progress=False)


def _worker(opts: RunOptions, counter, results) -> None:
    def on_progress(sent: int) -> None:
        counter.value = sent

    try:
        results.put(send(opts, on_progress))
    except BaseException as exc:  # report, never hang the parent
        results.put(Outcome(error=f"worker {opts.shard[0]} failed: {exc!r}"))


def run_workers(opts: RunOptions, on_progress: Callable[[int], None]) -> Outcome:
    n = opts.workers
    if opts.out == "-":
        raise ValueError("--out - (stdout) needs --workers 1")
    ctx = multiprocessing.get_context("fork")
    counters = [ctx.Value("q", 0, lock=False) for _ in range(n)]
    results = ctx.Queue()
    shards = [shard_options(opts, i, n) for i in range(n)]
    procs = [ctx.Process(target=_worker, args=(shards[i], counters[i], results),
                         name=f"loadgen-worker-{i}", daemon=True) for i in range(n)]
    for proc in procs:
        proc.start()
    outcome = Outcome()
    received = 0
    interrupted = False
    while received < n:
        try:
            outcome.merge(results.get(timeout=0.25))
            received += 1
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                outcome.error = outcome.error or "a worker died without reporting"
                break
        except KeyboardInterrupt:
            interrupted = True  # the workers got it too: they stop and report
        on_progress(sum(c.value for c in counters))
    for proc in procs:
        proc.join(10)
    outcome.interrupted = outcome.interrupted or interrupted
    if opts.out:
        with open(opts.out, "wb") as out:
            for shard in shards:
                with open(shard.out, "rb") as part:
                    shutil.copyfileobj(part, out)
                os.remove(shard.out)
    return outcome
