"""Rate control, measured on what Kafka received (message CreateTime, set at produce time)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import pytest
from loadgen_helpers import consume

from loadgen.model import validate_message


def run_and_measure(kafka_bootstrap: str, prefix: str, rate: int, duration: int):
    result = subprocess.run(
        [sys.executable, "-m", "loadgen", "run", "--rate", str(rate), "--duration",
         str(duration), "--seed", "5", "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix,
         "--no-progress"], capture_output=True, text=True, timeout=duration + 120)
    assert result.returncode == 0, result.stderr
    got = consume(kafka_bootstrap, prefix, rate * duration)
    assert len(got) == rate * duration
    assert all(validate_message(t, v) is None for t, _, v, _ in got)
    t0 = min(ts for *_, ts in got)
    per_second = Counter((ts - t0) // 1000 for *_, ts in got)
    return [per_second[s] for s in range(duration)], result.stderr


@pytest.mark.integration
def test_rate_within_5_percent_per_second(kafka_bootstrap, topic_prefix):
    counts, summary = run_and_measure(kafka_bootstrap, topic_prefix, 5000, 5)
    assert all(abs(n - 5000) <= 250 for n in counts[1:]), counts
    # the rate it reports is the paced one: the warm-up before the first event and the
    # flush after the last are not in it (with them, 25,000 events took 6-7 s: ~4,000/s)
    m = re.search(r"25,000 events in ([\d.]+) s of sending \(([\d,]+) events/s\)", summary)
    assert m, summary
    assert abs(int(m.group(2).replace(",", "")) - 5000) <= 250, summary


@pytest.mark.integration
@pytest.mark.slow
def test_rate_5000_for_20_seconds(kafka_bootstrap, topic_prefix):
    counts, _ = run_and_measure(kafka_bootstrap, topic_prefix, 5000, 20)
    assert all(abs(n - 5000) <= 250 for n in counts[1:]), counts
