"""The engine's threads named in the OS, as they are in Python.

`top -H`, `ps -L`, perf and /proc/<pid>/task/*/comm otherwise call every thread of the server
`python3.11`. With the names, a profile says which thread spent the time: under the marts
bench's load the tick thread (`eddy-ticks`), the Kafka sources (`src-<id>`), the pgwire
workers serving reads (`pgwire_<n>`); bench/marts_bench.py reads each group's CPU and its
time waiting for a core from /proc (`schedstat`).
"""

from __future__ import annotations

import contextlib
import threading

COMM_BYTES = 15     # Linux keeps the first 15 bytes of a thread's name


def name_os_thread(name: str | None = None) -> None:
    """Name the calling thread in the OS (`name`, else its Python name; cut to 15 bytes).
    Nothing happens where /proc is not there."""
    text = (name or threading.current_thread().name).encode()[:COMM_BYTES]
    path = f"/proc/self/task/{threading.get_native_id()}/comm"
    with contextlib.suppress(OSError), open(path, "wb") as f:
        f.write(text)
