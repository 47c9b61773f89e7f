"""The server's threads carry their names in the OS, so `top -H`, `ps -L`, perf and the marts
bench (which reads each thread's CPU from /proc) can tell the tick thread from the others."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path

import pytest

from eddy import metrics
from eddy.engine import TICK_THREAD, Engine
from eddy.thread_names import name_os_thread

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc names")


def os_names() -> set[str]:
    names = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):   # the thread ended meanwhile
            names.add((task / "comm").read_text().strip())
    return names


def test_the_tick_and_metrics_threads_are_named_in_the_os():
    engine = Engine(None, tick_interval=0.05)
    engine.start()
    observed = metrics.start(engine, port=0)
    try:
        deadline = time.monotonic() + 10
        while not {TICK_THREAD, "eddy-metrics"} <= os_names() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {TICK_THREAD, "eddy-metrics"} <= os_names()
    finally:
        observed.stop()
        engine.close()


def test_a_long_name_is_cut_to_what_linux_keeps():
    seen = {}

    def run():
        name_os_thread("kafka-source-u123456")
        seen["comm"] = Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen["comm"].strip() == "kafka-source-u1"
