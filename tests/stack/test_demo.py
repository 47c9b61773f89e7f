"""`make demo`'s runner brings up what exists, prints where to look, and Ctrl-C stops it all."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from helpers import ROOT, free_port, our_processes, private_env

from stack import procs

pytestmark = pytest.mark.integration


def _events_arrive(bootstrap: str, topic: str, timeout: float = 60) -> bool:
    """True once `topic` holds messages (the demo's load generator reaches its Kafka)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo-check"})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                   for p in range(3)) > 0:
                return True
            time.sleep(1)
        return False
    finally:
        consumer.close()


def test_demo_runs_in_foreground_and_ctrl_c_stops_everything(tmp_path):
    state_dir = tmp_path / "state"
    env = private_env(state_dir, STACK_API_PORT=str(free_port()), STACK_APP_PORT=str(free_port()),
                      STACK_LOADGEN_RATE="5")
    demo = subprocess.Popen([sys.executable, "-m", "stack.demo"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in demo.stdout], daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while not any("Press Ctrl-C" in ln for ln in output):
            assert demo.poll() is None or not lines.empty(), "".join(output)
            assert time.monotonic() < deadline, "".join(output)
            try:
                output.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        text = "".join(output)
        assert f"Kafka            127.0.0.1:{env['STACK_KAFKA_PORT']}" in text
        assert f"127.0.0.1:{env['STACK_EDDY_PORT']}" in text
        part_pids = [int(p) for p in re.findall(r"started \(pid (\d+)\)", text)]
        assert len(our_processes(state_dir)) == 2  # broker and engine
        assert "- loadgen: started" in text
        assert _events_arrive(f"127.0.0.1:{env['STACK_KAFKA_PORT']}", "clicks"), text

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=90) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            subprocess.run([sys.executable, "-m", "stack", "down"], cwd=ROOT, env=env)
    assert our_processes(state_dir) == []
    assert [pid for pid in part_pids if procs.alive(pid)] == []
