"""`python -m app.scoring train`: the labelled training set and the model artefact.

The training traffic is the load generator's, made in this process exactly as `loadgen run
--dry-run --out` writes it (fixed seeds, a fixed start time, the fraud-wave scenario), so the
set, and the model fitted on it with a fixed random state, are the same on every machine.
Each transaction's features are computed point in time by app/scoring/reference.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.scoring.model import Model, inputs, train
from app.scoring.reference import History
from loadgen.runner import RunOptions, message_batches, out_line

TRAIN_SEEDS = (101, 102)
TRAIN_EVENTS = 150_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass
class Labelled:
    rows: list[list[float]]
    labels: list[bool]
    transactions: list[dict]


def generated(seed: int, events: int, scenario: str = "fraud-wave", users: int = 20_000,
              start_ms: int = START_MS) -> Iterator[dict]:
    """The `--out` records of `loadgen run --dry-run` with these options, parsed."""
    opts = RunOptions(seed=seed, events=events, users=users, scenario=scenario,
                      start_ms=start_ms, via=None)
    left = events
    for batch in message_batches(opts):
        for message in batch[:left]:
            yield json.loads(out_line(message))
        left -= min(left, len(batch))
        if not left:
            return


def read_out(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def labelled(records: Iterable[dict]) -> Labelled:
    """Model inputs and labels of every well-formed transaction (first delivery of each)."""
    records = list(records)
    history = History.from_records(records)
    out = Labelled([], [], [])
    seen = set()
    for r in records:
        if r.get("topic") != "transactions" or "malformed" in r or "fraud" not in r:
            continue
        tx = r["value"]
        if tx["event_id"] in seen:
            continue
        seen.add(tx["event_id"])
        out.rows.append(inputs(tx, history.features(tx)))
        out.labels.append(bool(r["fraud"]))
        out.transactions.append(tx)
    return out


def build(seeds: Iterable[int] = TRAIN_SEEDS, events: int = TRAIN_EVENTS) -> Model:
    rows, labels = [], []
    for seed in seeds:
        data = labelled(generated(seed, events))
        rows += data.rows
        labels += data.labels
    return train(rows, labels, {"seeds": list(seeds), "events": events,
                                "scenario": "fraud-wave", "start_ms": START_MS})


def metrics(predicted: list[bool], actual: list[bool]) -> dict[str, float]:
    tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
    fp = sum(p and not a for p, a in zip(predicted, actual, strict=True))
    fn = sum(a and not p for p, a in zip(predicted, actual, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
