"""`loadgen run`: one process (`runner.send`) or N (`workers.run_workers`), with a progress
bar and a summary table."""

from __future__ import annotations

import time
from collections import Counter

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from loadgen.model import TOPICS
from loadgen.runner import Outcome, RunOptions, send
from loadgen.workers import run_workers


def _progress(console: Console, total: int | None, enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]loadgen"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, disable=not enabled)


def run(opts: RunOptions, console: Console | None = None) -> int:
    """Run the simulation; returns the process exit code (0 ok, 1 events not delivered)."""
    if console is None:
        console = Console(stderr=True)
        if not console.is_terminal:
            console.width = 120
    progress = _progress(console, opts.planned(), opts.progress)
    task = progress.add_task("send", total=opts.planned(), rate="")
    started = time.perf_counter()

    def on_progress(sent: int) -> None:
        rate = sent / max(1e-9, time.perf_counter() - started)
        progress.update(task, completed=sent, rate=f"{rate:,.0f} ev/s")

    with progress:
        outcome = (run_workers if opts.workers > 1 else send)(opts, on_progress)
    elapsed = time.perf_counter() - started
    _summary(console, opts, outcome, elapsed)
    if outcome.interrupted:
        console.print("interrupted")
    if opts.via is not None:
        unsent = (outcome.sent - sum(outcome.delivered.values())
                  - sum(outcome.rejected.values()))
        if outcome.error is not None or unsent > 0:
            console.print(f"[bold red]error:[/] {outcome.error or 'events were not delivered'}; "
                          f"{unsent:,} of {outcome.sent:,} events were not delivered",
                          soft_wrap=True)
            return 1
    return 0


def _summary(console: Console, opts: RunOptions, outcome: Outcome, elapsed: float) -> None:
    sink = opts.via is not None
    table = Table(title=f"loadgen: {opts.scenario}, seed {opts.seed}, via "
                        f"{opts.via or 'dry run'}", title_justify="left")
    cols = ["topic", "sent" if sink else "written"]
    if sink:
        cols += ["delivered", "rejected", "not delivered"]
    cols += ["late", "duplicate", "malformed"]
    for col in cols:
        table.add_column(col, justify="left" if col == "topic" else "right")
    handed, marks = outcome.handed, outcome.marks
    for topic in [*TOPICS, "total"]:
        def count(c: Counter, t: str = topic) -> int:
            return sum(c.values()) if t == "total" else c[t]
        row = [topic, count(handed)]
        if sink:
            row += [count(outcome.delivered), count(outcome.rejected),
                    count(handed) - count(outcome.delivered) - count(outcome.rejected)]
        for kind in ("late", "duplicate", "malformed"):
            row.append(sum(v for (t, k), v in marks.items()
                           if k == kind and topic in (t, "total")))
        table.add_row(*(f"{v:,}" if isinstance(v, int) else v for v in row))
    console.print(table)
    sent, sending = outcome.sent, outcome.sending_s
    # the rate over the sending alone: the simulator's warm-up before it (seconds at high
    # rates) and the producer's flush after it are not part of the paced stream
    console.print(f"{sent:,} events in {sending:.2f} s of sending "
                  f"({sent / max(sending, 1e-9):,.0f} events/s)"
                  + (f" by {opts.workers} workers" if opts.workers > 1 else "")
                  + f"; {elapsed:.2f} s with set-up and flush")
