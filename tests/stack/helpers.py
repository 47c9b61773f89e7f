"""Private stack instances for lifecycle tests: own state dir and ports, the shared jars."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STACK_", "EDDY_"))}
    env.update({
        "STACK_DIR": str(state_dir),
        "STACK_KAFKA_PORT": str(free_port()),
        "STACK_CONTROLLER_PORT": str(free_port()),
        "STACK_EDDY_PORT": str(free_port()),
    })
    env.update(extra)
    return env


def stack_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m stack <args>` in a subprocess, as `make up/down` runs it."""
    return subprocess.run([sys.executable, "-m", "stack", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def our_processes(state_dir: Path) -> list[tuple[int, str]]:
    """Live processes whose command line mentions `state_dir` (a broker or engine of that stack)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(state_dir) in args and state != "Z" and int(entry.name) != os.getpid():
            found.append((int(entry.name), args))
    return found
