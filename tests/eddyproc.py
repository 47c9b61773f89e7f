"""A real `eddy serve` subprocess on a free loopback port, for tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg


class EddyProcess:
    def __init__(self, data_dir, extra_args=(), env=None, log_level="WARNING"):
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eddy.cli", "--log-level", log_level, "serve", "--port", "0",
             "--data-dir", str(data_dir), *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={"EDDY_METRICS_PORT": "0", **os.environ, **(env or {})})
        deadline = time.monotonic() + 180            # a loaded 2-core machine starts slowly
        self.output: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if m := re.search(r"eddy listening on 127\.0\.0\.1:(\d+)", line):
                self.port = int(m.group(1))
                # keep reading: a chatty engine must never block on a full pipe
                threading.Thread(target=self._drain, daemon=True).start()
                return
        self.proc.kill()
        raise RuntimeError("eddy serve did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            del self.output[:-2000]

    def dsn(self, **extra) -> str:
        parts = {"host": "127.0.0.1", "port": self.port, "user": "materialize",
                 "dbname": "materialize", **extra}
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn(), autocommit=kwargs.pop("autocommit", True), **kwargs)

    def stop(self) -> int:
        """SIGTERM (graceful shutdown); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


REPO = Path(__file__).resolve().parent.parent


def dbt_env(port: int, bootstrap: str, work: Path) -> dict[str, str]:
    """Environment for running the repository's dbt project against an engine on `port`
    (target `embedded`), with dbt's target and log folders under `work`."""
    return {**os.environ, "EDDY_PORT": str(port), "KAFKA_BOOTSTRAP": bootstrap,
            "DBT_PROFILES_DIR": str(REPO), "DBT_TARGET_PATH": str(work / "target"),
            "DBT_LOG_PATH": str(work / "logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
