"""Runs the peers (Flink SQL, Pathway) on the marts benchmark's topics, in their own venvs.

For each peer, while the engine is stopped (so that they never share the two cores):
- throughput: the peer job in static/bounded mode over every message the topics hold when the
  engine's history is in place (the same messages the engine then absorbs);
  `<peer>_events_per_s` = messages of the topics it reads (clicks, cart_events, purchases) /
  seconds of its own run (Flink: job submission to end; Pathway: `pw.run`), JVM/interpreter
  start excluded;
- reflected events: the clicks its page-views mart counts, against what it should count
  (Flink counts duplicates: every message; eddy and Pathway: distinct event_id), and the late
  clicks in the input (more than 1 s behind the largest event time before them on their
  partition);
- freshness: the job in streaming mode from the latest offset (new events only, as the engine's
  steady phase measures them); once it shows a first marker, loadgen at the same rate as the
  engine's steady phase, and a marker click every 0.5 s; `<peer>_freshness_p99_ms` = produce -> its row in the peer's page-views output.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

HERE = Path(__file__).resolve().parent
PEER_TOPICS = ("clicks", "cart_events", "purchases")
LATE_MS = 1000   # the Flink job's watermark delay


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() * 1000)


def consume_all(bootstrap: str, topic: str, on_message, upto: dict[int, int] | None = None) -> int:
    """Call on_message(partition, value bytes) for every message below the current ends (or
    below the offsets `upto`, per partition)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-peers-{uuid.uuid4().hex}",
                  "enable.auto.commit": False})
    n = 0
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        if upto is not None:
            ends = {p: min(e, upto.get(p, 0)) for p, e in ends.items()}
        left = {p for p, e in ends.items() if e > 0}
        c.assign([TopicPartition(topic, p, 0) for p in left])
        while left:
            for m in c.consume(num_messages=10_000, timeout=1.0):
                if m.error() is not None or m.partition() not in left:
                    continue
                if m.offset() < ends[m.partition()]:
                    on_message(m.partition(), m.value())
                    n += 1
                if m.offset() + 1 >= ends[m.partition()]:
                    left.discard(m.partition())
    finally:
        c.close()
    return n


def click_stats(bootstrap: str, prefix: str, upto: dict[int, int] | None = None) -> dict:
    """Messages, distinct event ids, and late clicks of the clicks topic (in partition order)."""
    ids: set[str] = set()
    top: dict[int, str] = {}
    late = [0]

    def on(p: int, value: bytes) -> None:
        try:
            ev = json.loads(value)
            t = ev["event_time"]
        except (ValueError, KeyError, TypeError):
            return
        ids.add(ev.get("event_id"))
        best = top.get(p)
        if best is None or t > best:
            top[p] = t
        elif _ms(best) - _ms(t) > LATE_MS:
            late[0] += 1
    n = consume_all(bootstrap, prefix + "clicks", on, upto)
    return {"messages": n, "distinct": len(ids), "late": late[0]}


def reflected(views: int, stats: dict, dedup: bool) -> dict:
    expected = stats["distinct"] if dedup else stats["messages"]
    missing = max(0, expected - views)
    return {"views": views, "expected": expected, "not_reflected": missing,
            "late_in_input": stats["late"], "late_reflected": max(0, stats["late"] - missing)}


class Peer:
    """One peer's job scripts and environment."""

    def __init__(self, name: str, bootstrap: str, prefix: str, log_dir: Path):
        from peers import setup
        self.name, self.bootstrap, self.prefix, self.log_dir = name, bootstrap, prefix, log_dir
        self.python = setup.ensure(name)
        self.extra = []
        if name == "flink":
            jars = sorted(setup.flink_jars().glob("flink-sql-connector-kafka-*.jar"))
            if not jars:
                raise RuntimeError(f"no Kafka SQL connector jar in {setup.flink_jars()}")
            self.extra = ["--jar", str(jars[0])]

    def cmd(self, mode: str) -> list[str]:
        return [str(self.python), str(HERE / f"{self.name}_job.py"), "--bootstrap", self.bootstrap,
                "--prefix", self.prefix, "--mode", mode, *self.extra]

    def static(self, timeout: float) -> dict:
        """Run the bounded job; its JSON line (seconds, and Pathway's totals)."""
        log = self.log_dir / f"{self.name}-static.log"
        with open(log, "w") as err:
            done = subprocess.run(self.cmd("static"), stdout=subprocess.PIPE, stderr=err,
                                  text=True, timeout=timeout)
        lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"{self.name} static job failed (exit {done.returncode}); "
                               f"last lines of {log}:\n{_tail(log)}")
        return json.loads(lines[-1])

    def flink_views(self) -> int:
        """Sum of views in the Flink job's output topic."""
        total = [0]

        def on(_p, value: bytes) -> None:
            total[0] += json.loads(value)["views"]
        consume_all(self.bootstrap, self.prefix + "flink_page_views", on)
        return total[0]


class MarkerRun:
    """A streaming job, markers produced into clicks, and the times they show in its output."""

    def __init__(self, peer: Peer):
        self.peer = peer
        self.run = uuid.uuid4().hex[:6]
        self.sent: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.lines: queue.Queue = queue.Queue()
        self.producer = Producer({"bootstrap.servers": peer.bootstrap, "linger.ms": 0})
        log = peer.log_dir / f"{peer.name}-streaming.log"
        self.err = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(peer.cmd("streaming"), stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.consumer = None
        if peer.name == "flink":
            threading.Thread(target=self._read_flink_topic, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("MARK "):
                _, url, at = line.split()
                self.seen.setdefault(url, float(at))

    def _read_flink_topic(self) -> None:
        c = Consumer({"bootstrap.servers": self.peer.bootstrap,
                      "group.id": f"bench-peers-{uuid.uuid4().hex}",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "topic.metadata.refresh.interval.ms": 1000})
        c.subscribe([self.peer.prefix + "flink_page_views"])
        try:
            while self.proc.poll() is None:
                for m in c.consume(num_messages=1000, timeout=0.2):
                    if m.error() is None:
                        url = json.loads(m.value()).get("page_url") or ""
                        if url.startswith("/bench-marker/"):
                            self.seen.setdefault(url, time.time())
        finally:
            c.close()

    def mark(self, n: int | str) -> str:
        url = f"/bench-marker/{self.run}-{n}"
        now = int(time.time() * 1000)
        ev = {"event_id": str(uuid.uuid4()), "event_time": _iso(now), "user_id": f"bm-{self.run}",
              "event_type": "page_view", "page_url": url, "product_id": None, "referrer": None,
              "user_agent": "bench", "country": "DE"}
        self.producer.produce(self.peer.prefix + "clicks", json.dumps(ev).encode(),
                              ev["user_id"].encode())
        self.producer.flush(10)
        self.sent[url] = time.time()
        return url

    def wait_seen(self, url: str, timeout: float, tick=None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if url in self.seen:
                return True
            if tick:
                tick()
            time.sleep(0.1)
        return url in self.seen

    def wait_ready(self, timeout: float) -> bool:
        """Until the job shows a marker: one every second, as a job reading from the latest
        offset misses those sent before its consumer is assigned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.wait_seen(self.mark("ready"), timeout=1.0):
                return True
        return any(u in self.seen for u in self.sent)

    def latencies_ms(self, urls: list[str], ended: float) -> list[float]:
        return [(self.seen.get(u, ended) - self.sent[u]) * 1000 for u in urls]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def _tail(path: Path, n: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"
