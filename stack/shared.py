"""Kafka shared by concurrent test sessions: start once, stop when the starter's last user leaves.

Each user (a pytest session) holds a lease file `<run_dir>/users/<pid>`; `make up` holds the
lease `users/up` until `make down`. The session that started the broker stops it at the end
only if no other live session, and no `make up`, still holds a lease. Starts and stops happen
under an exclusive lock on `<run_dir>/lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

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


def _leases(s: Settings):
    d = s.run_dir / "users"
    d.mkdir(parents=True, exist_ok=True)
    return d


def acquire(s: Settings) -> bool:
    """Make sure the broker runs and take a lease on it. True if this call started it."""
    with locked(s):
        started = kafka.running_pid(s) is None
        if started and kafka.answers(s):
            started = False  # a broker we did not start (e.g. run by hand) is already there
        else:
            kafka.start(s, quiet=True)
        (_leases(s) / str(os.getpid())).touch()
        return started


def release(s: Settings, started: bool) -> None:
    """Drop this process's lease; stop the broker if we started it and nobody else uses it."""
    with locked(s):
        d = _leases(s)
        (d / str(os.getpid())).unlink(missing_ok=True)
        others = [p for p in d.iterdir() if p.name == MANUAL
                  or (p.name.isdigit() and procs.alive(int(p.name)))]
        for stale in set(d.iterdir()) - set(others):
            stale.unlink(missing_ok=True)
        if started and not others:
            kafka.stop(s)


def pin(s: Settings, on: bool) -> None:
    """`make up` pins the broker (test sessions will not stop it); `make down` unpins it."""
    lease = _leases(s) / MANUAL
    if on:
        lease.touch()
    else:
        lease.unlink(missing_ok=True)
