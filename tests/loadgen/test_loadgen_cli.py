"""The `loadgen` command line as a user runs it (subprocesses)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
from loadgen_helpers import START, closed_port

from loadgen.model import validate_message


def loadgen(*args: str, timeout: float = 120, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "loadgen", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("command", [[], ["run"], ["api"], ["scenarios"]])
def test_help_on_every_command(command):
    result = loadgen(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_help_shows_environment_fallbacks():
    run_help = loadgen("run", "--help").stdout
    for var in ("LOADGEN_BOOTSTRAP", "KAFKA_BOOTSTRAP_SERVERS", "LOADGEN_API_URL"):
        assert var in run_help
    assert "LOADGEN_BOOTSTRAP" in loadgen("api", "--help").stdout


DRY = ["run", "--dry-run", "--events", "20000", "--start-time", START, "--no-progress",
       "--scenario", "fraud-wave", "--late-fraction", "0.05", "--max-lateness", "10",
       "--duplicate-fraction", "0.02", "--malformed-fraction", "0.02"]


def test_same_seed_same_bytes_and_marked_faults(tmp_path):
    outs = []
    for name, seed in (("a", "42"), ("b", "42"), ("c", "43")):
        path = tmp_path / f"{name}.jsonl"
        result = loadgen(*DRY, "--seed", seed, "--out", str(path))
        assert result.returncode == 0, result.stderr
        outs.append(path.read_bytes())
    assert hashlib.sha256(outs[0]).digest() == hashlib.sha256(outs[1]).digest()
    assert outs[0] != outs[2]
    lines = [json.loads(line) for line in outs[0].decode().splitlines()]
    assert len(lines) == 20_000
    malformed = 0
    for line in lines:
        if "malformed" in line:
            malformed += 1
            raw = line.get("raw", json.dumps(line.get("value")))
            assert validate_message(line["topic"], raw) is not None
        else:
            assert validate_message(line["topic"], json.dumps(line["value"])) is None
    assert 200 < malformed < 600
    assert sum("duplicate" in line for line in lines) > 200
    assert sum("late" in line for line in lines) > 500


def test_summary_per_topic(tmp_path):
    result = loadgen(*DRY, "--seed", "1", "--out", str(tmp_path / "x.jsonl"))
    for topic in ("clicks", "cart_events", "purchases", "logins", "device_changes",
                  "transactions", "app_logs", "total"):
        assert topic in result.stderr
    assert "20,000" in result.stderr


def test_env_var_fallback_for_bootstrap():
    """With Kafka unreachable at the address from the environment: retries, then exit 1 and
    the count of events that were not delivered."""
    port = closed_port()
    started = time.monotonic()
    result = loadgen("run", "--events", "3000", "--seed", "1", "--no-progress",
                     "--delivery-timeout", "3",
                     env={"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"})
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "3,000 of 3,000 events were not delivered" in result.stderr
    assert time.monotonic() - started < 30


def test_kafka_down_at_a_steady_rate_stops_with_the_unsent_count():
    port = closed_port()
    result = loadgen("run", "--rate", "2000", "--duration", "20", "--seed", "1",
                     "--no-progress", "--delivery-timeout", "2",
                     "--bootstrap", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert "error:" in result.stderr and "not delivered" in result.stderr
    # it gives up after the delivery timeout instead of running the full 20 s
    line = next(x for x in result.stderr.splitlines() if x.startswith("error:"))
    assert "Connection refused" in line
    unsent, total = (int(n.replace(",", "")) for n in
                     line.split("; ")[-1].split(" events")[0].split(" of "))
    assert unsent == total and 0 < total < 20_000


def test_usage_errors():
    result = loadgen("run", "--dry-run")
    assert result.returncode == 2 and "--events" in result.stderr
    result = loadgen("run", "--dry-run", "--events", "10", "--funnel", "bogus=1")
    assert result.returncode == 2 and "bogus" in result.stderr


def test_workers_share_the_users_and_stay_reproducible(tmp_path):
    outs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.jsonl"
        result = loadgen("run", "--dry-run", "--events", "20001", "--seed", "8", "--workers",
                         "2", "--start-time", START, "--no-progress", "--out", str(path))
        assert result.returncode == 0, result.stderr
        outs.append(path.read_bytes())
    assert outs[0] == outs[1]
    lines = [json.loads(x) for x in outs[0].decode().splitlines()]
    assert len(lines) == 20_001
    assert len({x["value"]["event_id"] for x in lines}) == 20_001
    halves = lines[:10_001], lines[10_001:]  # worker 0 first, then worker 1
    users = [{x["key"] for x in half if x["topic"] != "app_logs"} for half in halves]
    assert users[0] and users[1] and not users[0] & users[1]
    assert all(validate_message(x["topic"], json.dumps(x["value"])) is None for x in lines)
    assert not list(tmp_path.glob("*.part*"))
