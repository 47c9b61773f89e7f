"""Background processes of the stack: spawn detached, pid files, liveness, graceful stop, ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from stack.errors import StackError

# Popen objects of processes this interpreter started, kept so they are reaped, not leaked.
_children: dict[int, subprocess.Popen] = {}


def spawn(argv: Sequence[str], log_path: Path, cwd: Path, env: dict | None = None) -> int:
    """Start `argv` in its own session, stdout+stderr appended to `log_path`; return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=cwd, env=env, start_new_session=True, close_fds=True,
        )
    _children[proc.pid] = proc
    return proc.pid


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone; our own exited children are reaped)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _matches(pid: int, markers: Sequence[str]) -> bool:
    """`pid` is alive, not us, and every marker is one whole argument of its command line."""
    args = cmdline(pid)
    return pid != os.getpid() and alive(pid) and all(m in args for m in markers)


def find(markers: Sequence[str]) -> int | None:
    """A live process whose command line holds every marker, found by scanning /proc."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _matches(int(entry.name), markers):
            return int(entry.name)
    return None


def read_pid(pid_file: Path, markers: Sequence[str]) -> int | None:
    """The live process that `pid_file` names, checked by its command line arguments.

    A stale pid file (process gone, or the pid reused by something else) is removed; a lost
    one (our process runs, but the file is gone) is found again in /proc and rewritten.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and _matches(pid, markers):
        return pid
    with contextlib.suppress(OSError):
        pid_file.unlink()
    found = find(markers)
    if found is not None:
        write_pid(pid_file, found)
    return found


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pid_file)


def terminate(pid: int, grace: float) -> bool:
    """SIGTERM `pid`, wait up to `grace` seconds, then SIGKILL. True if it needed SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            return False
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def stop_recorded(pid_file: Path, markers: Sequence[str], grace: float) -> bool:
    """Stop the process a pid file names (SIGTERM, then SIGKILL after `grace` s) and forget
    it. True if it was running."""
    pid = read_pid(pid_file, markers)
    if pid is None:
        return False
    terminate(pid, grace)
    pid_file.unlink(missing_ok=True)
    return True


def port_in_use(host: str, port: int) -> bool:
    """True if something already listens on (or holds) host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_free(host: str, port: int, what: str, setting: str) -> None:
    if port_in_use(host, port):
        raise StackError(
            f"Port {port} on {host} is already in use by another program, so {what} cannot "
            f"start there. Stop that program (`ss -ltnp 'sport = :{port}'` shows which one) "
            f"or choose another port with {setting}=<port>."
        )


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])
