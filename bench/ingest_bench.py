"""Ingestion benchmark: messages/s from Kafka into a filter view, beside the raw
consume+decode rate of the same topic in the same run.

    .venv/bin/python bench/ingest_bench.py [--messages 300000] [--rounds 2] [--data-dir DIR | --memory]

Uses the local broker of `stack/` (started if needed, with a lease like the tests). Prints:
produce rate; raw consume only; raw consume + decode (the source's decoder, same batches);
engine: source -> `CREATE MATERIALIZED VIEW ... WHERE` committed (offsets of the last message
committed in a tick); and the ratio engine / raw consume+decode of each round (paired, so that
load from elsewhere hits both alike) with its median (target >= 0.5). Decoding includes the
jsonb canonicalization (keys sorted, compact), in both the raw and the engine figures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402

import stack  # noqa: E402
from eddy.sources.ddl import parse_source  # noqa: E402
from eddy.sources.decode import JsonChecker, RawBatch, decode  # noqa: E402
from stack import shared  # noqa: E402

PARTITIONS = 3


def produce(bootstrap: str, topic: str, n: int) -> float:
    rng = random.Random(1)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1 << 20,
                  "compression.type": "lz4", "acks": "all", "enable.idempotence": True})
    t0 = time.perf_counter()
    for i in range(n):
        user = f"user-{rng.randrange(5000)}"
        event = {"event_id": str(uuid.UUID(int=rng.getrandbits(128))), "user_id": user,
                 "event_time": "2026-11-20T10:11:12.345Z",
                 "event_type": "page_view" if rng.random() < 0.7 else "product_view",
                 "page_url": f"/p/{rng.randrange(300)}", "product_id": None, "referrer": None,
                 "user_agent": "Mozilla/5.0", "country": rng.choice(["DE", "US", "FR", "JP"])}
        while True:
            try:
                p.produce(topic, key=user.encode(), value=json.dumps(event).encode())
                break
            except BufferError:
                p.poll(0.05)
        if i % 5000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    return n / (time.perf_counter() - t0)


def raw_rate(bootstrap: str, topic: str | list[str], n: int, do_decode: bool) -> float:
    """Messages/s reading `n` messages of `topic` (or of several topics) from the start."""
    topics = [topic] if isinstance(topic, str) else list(topic)
    specs = {t: parse_source(f"CONNECTION kc (TOPIC '{t}') FORMAT JSON") for t in topics}
    checker = JsonChecker()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(PARTITIONS)])
    seen = 0
    t0 = time.perf_counter()
    while seen < n:
        msgs = [m for m in c.consume(num_messages=10_000, timeout=1.0) if m.error() is None]
        if do_decode and msgs:
            by_topic = {topics[0]: msgs} if len(topics) == 1 else {}
            for m in msgs if len(topics) > 1 else ():
                by_topic.setdefault(m.topic(), []).append(m)
            for t, batch in by_topic.items():
                d = decode(specs[t], RawBatch.from_messages(t, batch), checker)
                assert d.dead.num_rows == 0
        seen += len(msgs)
    rate = n / (time.perf_counter() - t0)
    c.close()
    return rate


def engine_rate(bootstrap: str, topic: str, n: int, data_dir: Path | None) -> tuple[float, int]:
    from eddy.engine import Engine
    from eddy.kafka_connector import KafkaConnector

    engine = Engine(data_dir, tick_interval=0.1)
    engine.register_connector(KafkaConnector())
    engine.start()
    try:
        s = engine.session()
        s.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{bootstrap}')")
        s.execute("CREATE MATERIALIZED VIEW IF NOT EXISTS dummy AS SELECT 1 AS one")
        t0 = time.perf_counter()
        s.execute(f"CREATE SOURCE clicks FROM KAFKA CONNECTION kc (TOPIC '{topic}') FORMAT JSON")
        s.execute("CREATE MATERIALIZED VIEW page_views AS SELECT data->>'user_id' AS user_id, "
                  "data->>'page_url' AS page_url FROM clicks WHERE data->>'event_type' = 'page_view'")
        sid = next(o.id for o in engine.catalog if o.kind == "source" and o.name == "clicks")
        while sum(int(v) for v in engine.committed_offsets(sid).values()) < n:
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        rows = s.execute("SELECT count(*) FROM page_views")[0].rows[0][0]
        s.close()
        return n / elapsed, rows
    finally:
        engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--data-dir", type=Path, default=None, help="state directory (default: a temp dir)")
    ap.add_argument("--memory", action="store_true", help="in-memory engine state")
    ap.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds")
    args = ap.parse_args()
    settings = stack.Settings.from_env()
    started = shared.acquire(settings)
    topic = f"bench-clicks-{uuid.uuid4().hex[:8]}"
    tmp = tempfile.TemporaryDirectory(prefix="eddy-bench-")
    try:
        stack.create_topics(settings.bootstrap, [topic], partitions=PARTITIONS)
        n = args.messages
        print(f"topic {topic}: {n} JSON click events over {PARTITIONS} partitions")
        print(f"  produce                      {produce(settings.bootstrap, topic, n):>10,.0f} msg/s")
        print(f"  raw consume                  {raw_rate(settings.bootstrap, topic, n, False):>10,.0f} msg/s")
        where = "in memory" if args.memory else "DuckDB file"
        raws, engines = [], []
        for r in range(args.rounds):  # alternate, so that load from elsewhere hits both alike
            raws.append(raw_rate(settings.bootstrap, topic, n, True))
            print(f"  raw consume + decode         {raws[-1]:>10,.0f} msg/s   (round {r + 1})")
            data_dir = None if args.memory else (args.data_dir or Path(tmp.name)) / f"eddy-{r}"
            rate, rows = engine_rate(settings.bootstrap, topic, n, data_dir)
            engines.append(rate)
            print(f"  engine: source -> filter view {rate:>9,.0f} msg/s   (round {r + 1}; {where}; "
                  f"{rows} rows in the view)")
        ratios = [e / r for e, r in zip(engines, raws, strict=True)]
        print(f"  median raw consume + decode  {statistics.median(raws):>10,.0f} msg/s")
        print(f"  median engine                {statistics.median(engines):>10,.0f} msg/s")
        print(f"  ratio engine / raw decode    {statistics.median(ratios):>10.2f}  (median of "
              f"{args.rounds} paired rounds: {', '.join(f'{x:.2f}' for x in ratios)}; target >= 0.50)")
    finally:
        stack.delete_topics(settings.bootstrap, [topic])
        tmp.cleanup()
        shared.release(settings, started)


if __name__ == "__main__":
    main()
