"""The committed model on a held-out load-generator run, and the ground truth in `--out`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.scoring import config as config_mod
from app.scoring.model import Model, train
from app.scoring.rule import flagged
from app.scoring.train import TRAIN_SEEDS, generated, labelled, metrics

HELD_OUT_SEED = 7  # not among TRAIN_SEEDS
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def held_out():
    assert HELD_OUT_SEED not in TRAIN_SEEDS
    records = list(generated(HELD_OUT_SEED, 120_000))
    return records, labelled(records)


def test_block_precision_and_recall_on_a_held_out_seed_beat_the_rule(held_out):
    records, data = held_out
    model = Model.load()
    cfg = config_mod.load()
    blocked = [cfg.decide(s) == "block" for s in model.scores(data.rows)]
    m = metrics(blocked, data.labels)
    assert sum(data.labels) >= 200, "the run holds enough takeovers to measure"
    rule = flagged(records)
    r = metrics([tx["transaction_id"] in rule for tx in data.transactions], data.labels)
    print(f"model: {m}\nrule:  {r}")
    assert m["precision"] >= 0.9 and m["recall"] >= 0.9, m
    assert m["f1"] > r["f1"], (m, r)


def test_training_is_deterministic(held_out):
    _, data = held_out
    rows, labels = data.rows[:4000], data.labels[:4000]
    a = train(rows, labels, {"test": 1})
    b = train(rows, labels, {"test": 1})
    assert a.version == b.version
    assert a.scores(rows[:500]) == b.scores(rows[:500])


def test_out_carries_the_ground_truth_and_kafka_events_do_not(tmp_path):
    out = tmp_path / "run.jsonl"
    subprocess.run([str(BIN / "loadgen"), "run", "--dry-run", "--no-progress", "--seed", "5",
                    "--events", "60000", "--scenario", "fraud-wave", "--duplicate-fraction",
                    "0.02", "--out", str(out)], check=True, capture_output=True, timeout=300)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    tx = [r for r in records if r["topic"] == "transactions"]
    assert all(isinstance(r["fraud"], bool) for r in tx)
    assert not any("fraud" in r for r in records if r["topic"] != "transactions")
    assert not any("fraud" in json.dumps(r.get("value", {})) for r in records)
    fraud = [r["value"] for r in tx if r["fraud"] and "malformed" not in r]
    assert len(fraud) >= 20
    # a takeover's payments: at least 100.00, from the attacker's device, never m-shop
    assert all(float(v["amount"]) >= 100.0 and v["merchant_id"] != "m-shop" for v in fraud)
