"""Simulate, apply faults, pace to the target rate, send and record, in this process
(`loadgen.launch` runs it, or `loadgen.workers` in N processes, and summarises)."""

from __future__ import annotations

import gc
import itertools
import json
import operator
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from loadgen.faults import FaultConfig, Message, apply_faults
from loadgen.producer import DeliveryError
from loadgen.simulator import Funnel, SimConfig, Simulator

DEFAULT_SIM_RATE = 1000.0  # simulated events per second when --rate is not given


@dataclass
class RunOptions:
    seed: int
    rate: float | None = None
    sim_rate: float | None = None      # events per simulated second; None: rate, or the default
    events: int | None = None
    duration: float | None = None
    users: int | None = None           # None: sized from the rate (simulator.default_users)
    scenario: str = "steady"
    faults: FaultConfig = field(default_factory=FaultConfig)
    funnel: dict[str, float] = field(default_factory=dict)
    start_ms: int | None = None
    via: str | None = "kafka"          # "kafka", "api", or None for a dry run
    bootstrap: str = "127.0.0.1:9092"
    api_url: str = "http://127.0.0.1:8088"
    topic_prefix: str = ""
    delivery_timeout: float = 30.0
    batch_size: int = 500
    out: str | None = None
    progress: bool = True
    workers: int = 1                   # processes, each simulating a share of the users
    format: str = "json"               # "json" or "avro" (Confluent wire format, loadgen.avro)
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    schema_evolution: bool = False     # avro: switch to schema version 2 halfway
    shard: tuple[int, int] = (0, 1)

    def planned(self) -> int | None:
        if self.events is not None:
            return self.events
        if self.rate and self.duration is not None:
            return int(round(self.rate * self.duration))
        return None


def out_line(message: Message) -> str:
    """One line of --out: the message as sent, with deliberate faults marked.

    A `transactions` record also carries the ground truth, `"fraud": true` for the payments of
    a simulated account takeover and `false` otherwise (never in the Kafka event itself).
    """
    topic, key, value, mark = message  # topics and keys are plain ASCII names
    head = f'{{"topic":"{topic}","key":"{key}"'
    if topic == "transactions":
        head += ',"fraud":true' if getattr(key, "fraud", False) else ',"fraud":false'
    if mark is None:
        return f'{head},"value":{value}}}\n'
    if mark.startswith("malformed: "):
        how = mark[len("malformed: "):]
        if how == "invalid JSON":
            return f'{head},"malformed":"{how}","raw":{json.dumps(value)}}}\n'
        return f'{head},"malformed":"{how}","value":{value}}}\n'
    return f'{head},"{mark}":true,"value":{value}}}\n'


def make_simulator(opts: RunOptions) -> Simulator:
    sim_rate = opts.sim_rate or opts.rate or DEFAULT_SIM_RATE
    planned = opts.planned()
    start_ms = opts.start_ms if opts.start_ms is not None else int(time.time() * 1000)
    return Simulator(SimConfig(
        seed=opts.seed, users=opts.users, rate=sim_rate, scenario=opts.scenario,
        start_ms=start_ms, planned_events=planned, shard=opts.shard,
        funnel=Funnel().update(opts.funnel)))


def message_batches(opts: RunOptions) -> Iterator[list[Message]]:
    """The deterministic message stream of `opts`, in lists (endless; the run cuts it)."""
    shard, shards = opts.shard
    key = opts.seed if shards == 1 else f"{opts.seed}:{shard}/{shards}"
    return apply_faults(opts.faults, key, make_simulator(opts).batches())


def messages(opts: RunOptions) -> Iterator[Message]:
    """The deterministic message stream of `opts`, one by one."""
    return itertools.chain.from_iterable(message_batches(opts))


class _Chunker:
    """Cuts a stream of lists into lists of the sizes asked for."""

    def __init__(self, batches: Iterator[list[Message]]):
        self._batches = batches
        self._rest: list[Message] = []
        self._pos = 0

    def prime(self) -> None:
        if self._pos >= len(self._rest):
            self._rest, self._pos = next(self._batches), 0

    def take(self, n: int) -> list[Message]:
        rest, pos = self._rest, self._pos
        if len(rest) - pos >= n:
            self._pos = pos + n
            return rest[pos:pos + n]
        out = rest[pos:]
        while True:
            more = next(self._batches)
            need = n - len(out)
            if len(more) >= need:
                self._rest, self._pos = more, need
                return out + more[:need]
            out += more


def _sink(opts: RunOptions):
    if opts.via == "kafka" and opts.format == "avro":
        from loadgen.avro import AvroKafkaSink
        planned = opts.planned()
        evolve = (planned // 2 if planned else 10_000) if opts.schema_evolution else None
        return AvroKafkaSink(opts.bootstrap, opts.registry_url, opts.topic_prefix,
                             opts.delivery_timeout, evolve_after=evolve)
    if opts.via == "kafka":
        from loadgen.producer import KafkaSink
        return KafkaSink(opts.bootstrap, opts.topic_prefix, opts.delivery_timeout)
    if opts.via == "api":
        from loadgen.client import ApiSink
        return ApiSink(opts.api_url, opts.delivery_timeout)
    return None


@dataclass
class Outcome:
    """What a run (or one worker of it) sent, and what became of it."""

    handed: Counter[str] = field(default_factory=Counter)    # sent (or written), per topic
    marks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, fault kind)
    delivered: Counter[str] = field(default_factory=Counter)  # acknowledged, per topic
    rejected: Counter[str] = field(default_factory=Counter)   # refused as malformed by the API
    sent: int = 0
    sending_s: float = 0.0   # from the first event handed over to the last (no set-up, flush)
    error: str | None = None
    interrupted: bool = False

    def merge(self, other: Outcome) -> None:
        for name in ("handed", "marks", "delivered", "rejected"):
            getattr(self, name).update(getattr(other, name))
        self.sent += other.sent
        self.sending_s = max(self.sending_s, other.sending_s)
        self.error = self.error or other.error
        self.interrupted = self.interrupted or other.interrupted


def send(opts: RunOptions, on_progress: Callable[[int], None] = lambda sent: None) -> Outcome:
    """Simulate, pace and send in this process; `on_progress(sent)` about every 0.25 s."""
    planned = opts.planned()
    sink = _sink(opts)
    out: IO[str] | None = None
    if opts.out == "-":
        out = sys.stdout
    elif opts.out:
        out = open(opts.out, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    collecting = gc.isenabled()
    gc.disable()  # the simulator's set-up and warm-up make many lasting objects (users, visits)
    try:
        stream = _Chunker(message_batches(opts))
        stream.prime()  # the simulator warms up on its first batch: before the clock starts
    finally:
        if collecting:
            gc.enable()
    gc.freeze()  # and later collections need not go through them (shorter pauses)
    if opts.rate:
        step = max(1, int(opts.rate / (50 if opts.via == "api" else 200)))
        chunk = min(step, opts.batch_size if opts.via == "api" else 5000)
    else:
        chunk = opts.batch_size if opts.via == "api" else 2000
    result = Outcome()
    handed, marks = result.handed, result.marks
    first = operator.itemgetter(0)
    f = opts.faults
    faulty = bool(f.late_fraction or f.duplicate_fraction or f.malformed_fraction)
    sent = 0
    started = time.perf_counter()
    next_update = started
    try:
        while planned is None or sent < planned:
            n = chunk if planned is None else min(chunk, planned - sent)
            now = time.perf_counter()
            if opts.rate and sink is not None:  # a dry run writes as fast as it can
                delay = started + sent / opts.rate - now
                if delay > 0:
                    time.sleep(delay)
            elif opts.duration is not None and now - started >= opts.duration:
                break
            batch = stream.take(n)
            if out is not None:
                out.write("".join(map(out_line, batch)))
            handed.update(map(first, batch))
            if faulty:
                for topic, _, _, mark in batch:
                    if mark is not None:
                        marks[topic, mark.split(":")[0]] += 1
            sent += n
            if sink is not None:
                sink.send(batch)
            if now >= next_update:
                on_progress(sent)
                next_update = now + 0.25
    except DeliveryError as exc:
        result.error = str(exc)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        result.sending_s = time.perf_counter() - started
        gc.unfreeze()
        if out is not None and out is not sys.stdout:
            out.close()
    result.sent = sent
    on_progress(sent)
    if sink is not None:
        sink.close(abort=result.error is not None)
        if result.error is None and sink.failed:
            result.error = sink.describe_failure()
        result.delivered = sink.delivered(handed)
        result.rejected = Counter(getattr(sink, "rejected", Counter()))
    return result

