"""The eddy engine as a background server: `eddy serve` on 127.0.0.1:<eddy_port>."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

from stack import procs
from stack.errors import StackError
from stack.settings import HOST, ROOT, Settings

READY_TIMEOUT = 45.0
STOP_GRACE = 20.0


def eddy_executable() -> Path:
    local = Path(sys.executable).parent / "eddy"
    return local if local.exists() else ROOT / ".venv" / "bin" / "eddy"


def available() -> bool:
    """True once the engine's CLI exists (eddy/cli.py) and its console script is installed."""
    try:
        found = importlib.util.find_spec("eddy.cli") is not None
    except ImportError:
        found = False
    return found and eddy_executable().exists()


def _markers(s: Settings) -> list[str]:
    return ["serve", f"--data-dir={s.eddy_data_dir}"]


def argv(s: Settings) -> list[str]:
    return [str(eddy_executable()), "serve", "--host", HOST, f"--port={s.eddy_port}",
            f"--data-dir={s.eddy_data_dir}"]


def running_pid(s: Settings) -> int | None:
    return procs.read_pid(s.pid_file("eddy"), _markers(s))


def start(s: Settings) -> int:
    """Start the engine unless it runs; return once it accepts TCP connections. Returns its pid."""
    pid = running_pid(s)
    if pid is None:
        procs.require_free(HOST, s.eddy_port, "the eddy engine", "STACK_EDDY_PORT")
        s.eddy_data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        pid = procs.spawn(argv(s), s.logs_dir / "eddy.log", cwd=ROOT, env=env)
        procs.write_pid(s.pid_file("eddy"), pid)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            s.pid_file("eddy").unlink(missing_ok=True)
            raise StackError(
                f"The eddy engine exited during startup. Last lines of {s.logs_dir / 'eddy.log'}:\n"
                f"{procs.log_tail(s.logs_dir / 'eddy.log')}")
        if procs.accepts(HOST, s.eddy_port):
            return pid
        time.sleep(0.1)
    stop(s)
    raise StackError(f"The eddy engine did not accept connections on {HOST}:{s.eddy_port} within "
                     f"{READY_TIMEOUT:.0f} s; see {s.logs_dir / 'eddy.log'}.")


def stop(s: Settings) -> bool:
    """Stop the engine gracefully (SIGTERM, then SIGKILL after STOP_GRACE s). True if it ran."""
    return procs.stop_recorded(s.pid_file("eddy"), _markers(s), STOP_GRACE)
