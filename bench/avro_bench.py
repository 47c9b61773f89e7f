"""Avro vs JSON decode rate of the same events: the Kafka source's decoders on the same batches.

    .venv/bin/python bench/avro_bench.py [--events 50000] [--repeats 5] [--seed 3]

The events are the load generator's (`loadgen run --dry-run --out`, every topic, no faults).
Each is encoded once as the JSON the generator sends and once as Confluent wire-format Avro
with the contract schemas (`loadgen.avro`, schema version 1). Both go through the source's
own decode path in batches of up to 10,000 messages per topic, as the consumer hands them over:
JSON -> `eddy.sources.decode.decode` (validation + jsonb canonicalization, one `data jsonb`
column); Avro -> `AvroSourceDriver`'s decoder (fastavro per message, then Arrow columns, typed).
The writer schemas are preloaded into the registry client's cache (a source fetches each id
once), so no registry is needed. Prints the median events/s of each over --repeats runs
(alternating, so load from elsewhere hits both alike), the Avro/JSON ratio, bytes per event,
and the Avro split between fastavro and the Arrow conversion.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastavro import parse_schema  # noqa: E402

from eddy.sources.avro_decode import Reader  # noqa: E402
from eddy.sources.avro_registry import RegistryClient  # noqa: E402
from eddy.sources.avro_schema import record_columns  # noqa: E402
from eddy.sources.ddl import parse_source  # noqa: E402
from eddy.sources.decode import JsonChecker, RawBatch, decode  # noqa: E402
from loadgen.avro import frame, schema, to_datum  # noqa: E402
from loadgen.model import TOPICS  # noqa: E402

BATCH = 10_000


def events(n: int, seed: int) -> list[tuple[str, bytes]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        subprocess.run([sys.executable, "-m", "loadgen", "run", "--dry-run", "--events", str(n),
                        "--seed", str(seed), "--out", str(out), "--no-progress"],
                       check=True, capture_output=True, cwd=ROOT)
        msgs = []
        for line in out.read_text().splitlines():
            rec = json.loads(line)
            value = line[line.index(',"value":') + len(',"value":'):-1]
            msgs.append((rec["topic"], value.encode()))
    return msgs


def batches(msgs: list[tuple[str, bytes]]) -> dict[str, list[RawBatch]]:
    by_topic: dict[str, list[bytes]] = defaultdict(list)
    for topic, value in msgs:
        by_topic[topic].append(value)
    out = {}
    for topic, values in by_topic.items():
        out[topic] = []
        for lo in range(0, len(values), BATCH):
            chunk = values[lo:lo + BATCH]
            n = len(chunk)
            out[topic].append(RawBatch(topic, [0] * n, list(range(lo, lo + n)), [0] * n,
                                       [b"k"] * n, chunk))
    return out


def avro_batches(json_batches: dict[str, list[RawBatch]]) -> tuple[dict, dict[str, Reader]]:
    client = RegistryClient("http://127.0.0.1:1")  # never contacted: the cache is preloaded
    readers, out = {}, {}
    for sid, topic in enumerate(TOPICS, start=1):
        text = json.dumps(schema(topic))
        client._by_id[sid] = text
        parsed = parse_schema(schema(topic))
        readers[topic] = Reader(client, text, record_columns(json.loads(text)))
        out[topic] = [RawBatch(topic, b.partitions, b.offsets, b.timestamps, b.keys,
                               [frame(sid, parsed, to_datum(topic, json.loads(v))) for v in b.values])
                      for b in json_batches.get(topic, [])]
    return out, readers


def run_json(json_batches, checker) -> int:
    n = 0
    for topic, bs in json_batches.items():
        spec = parse_source(f"CONNECTION kc (TOPIC '{topic}') FORMAT JSON")
        for b in bs:
            n += decode(spec, b, checker).rows.num_rows
    return n


def run_avro(batches_, readers, split: dict) -> int:
    n = 0
    for topic, bs in batches_.items():
        reader = readers[topic]
        for b in bs:
            t0 = time.perf_counter()
            errors: dict[int, str] = {}
            records = reader.read(b.values, errors, "value")
            t1 = time.perf_counter()
            cols = reader.to_arrays(records)
            t2 = time.perf_counter()
            split["fastavro"] += t1 - t0
            split["arrow"] += t2 - t1
            assert not errors
            n += len(next(iter(cols.values())))
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args()
    msgs = events(args.events, args.seed)
    jb = batches(msgs)
    ab, readers = avro_batches(jb)
    n = sum(len(b) for bs in jb.values() for b in bs)
    json_bytes = sum(len(v) for bs in jb.values() for b in bs for v in b.values)
    avro_bytes = sum(len(v) for bs in ab.values() for b in bs for v in b.values)
    checker = JsonChecker()
    run_json(jb, checker)  # warm up both
    run_avro(ab, readers, defaultdict(float))
    json_rates, avro_rates, ratios = [], [], []
    split: dict = defaultdict(float)
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        assert run_json(jb, checker) == n
        t1 = time.perf_counter()
        assert run_avro(ab, readers, split) == n
        t2 = time.perf_counter()
        json_rates.append(n / (t1 - t0))
        avro_rates.append(n / (t2 - t1))
        ratios.append((t1 - t0) / (t2 - t1))
    total = split["fastavro"] + split["arrow"]
    print(f"events: {n} of {len(jb)} topics (seed {args.seed}), {args.repeats} repeats, batches <= {BATCH}")
    print(f"bytes/event: json {json_bytes / n:.1f}, avro {avro_bytes / n:.1f} "
          f"({avro_bytes / json_bytes:.2f}x)")
    print(f"json decode: median {statistics.median(json_rates):,.0f} events/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in json_rates)})")
    print(f"avro decode: median {statistics.median(avro_rates):,.0f} events/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in avro_rates)})")
    print(f"avro / json: median {statistics.median(ratios):.2f}x (paired per run)")
    print(f"avro time split: fastavro {split['fastavro'] / total:.0%}, "
          f"arrow columns {split['arrow'] / total:.0%}")


if __name__ == "__main__":
    main()
