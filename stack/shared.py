"""Kafka shared by concurrent test sessions: start once, stop when the starter's last user leaves.

Each user (a pytest session) holds a lease file `<run_dir>/users/<pid>`; `make up` holds the
lease `users/up` until `make down`. The session that started the broker stops it at the end
only if no other live session, and no `make up`, still holds a lease. Starts and stops happen
under an exclusive lock on `<run_dir>/lock`.

A pytest-xdist run is one user: its controller holds the lease for the whole run (`hold`), its
workers start the broker on demand without leases of their own (`acquire(holder=...)`), and a
start on the controller's behalf is marked `<run_dir>/users/started-for-<pid>`, so that the
controller, and only it, stops the broker when the run ends (`release`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from stack import kafka, procs
from stack.settings import Settings


@contextlib.contextmanager
def locked(s: Settings) -> Iterator[None]:
    s.run_dir.mkdir(parents=True, exist_ok=True)
    with open(s.run_dir / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


MANUAL = "up"
STARTED_FOR = "started-for-"


def _leases(s: Settings) -> Path:
    d = s.run_dir / "users"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _mark(s: Settings, holder: int) -> Path:
    return _leases(s) / f"{STARTED_FOR}{holder}"


def hold(s: Settings) -> None:
    """Take this process's lease without starting the broker (a pytest-xdist controller)."""
    with locked(s):
        (_leases(s) / str(os.getpid())).touch()
        _mark(s, os.getpid()).unlink(missing_ok=True)  # a stale mark of a recycled pid


def acquire(s: Settings, holder: int | None = None) -> bool:
    """Make sure the broker runs; True if this call started it. Takes this process's lease,
    or, with `holder` (the pid of a process that holds one), marks a start as the holder's."""
    with locked(s):
        started = kafka.running_pid(s) is None
        if started and kafka.answers(s):
            started = False  # a broker we did not start (e.g. run by hand) is already there
        else:
            kafka.start(s, quiet=True)
        if holder is None:
            (_leases(s) / str(os.getpid())).touch()
        elif started:
            _mark(s, holder).touch()
        return started


def release(s: Settings, started: bool = False) -> None:
    """Drop this process's lease; stop the broker if we (or a worker on our behalf) started it
    and nobody else uses it."""
    with locked(s):
        d = _leases(s)
        (d / str(os.getpid())).unlink(missing_ok=True)
        mark = _mark(s, os.getpid())
        if mark.exists():
            started = True
            mark.unlink()
        others = [p for p in d.iterdir() if p.name == MANUAL
                  or (p.name.isdigit() and procs.alive(int(p.name)))]
        for stale in set(d.iterdir()) - set(others):
            if not stale.name.startswith(STARTED_FOR) or not _holder_alive(stale):
                stale.unlink(missing_ok=True)
        if started and not others:
            kafka.stop(s)


def _holder_alive(mark: Path) -> bool:
    pid = mark.name.removeprefix(STARTED_FOR)
    return pid.isdigit() and procs.alive(int(pid))


def pin(s: Settings, on: bool) -> None:
    """`make up` pins the broker (test sessions will not stop it); `make down` unpins it."""
    lease = _leases(s) / MANUAL
    if on:
        lease.touch()
    else:
        lease.unlink(missing_ok=True)
