"""glibc malloc settings for the serving process (`eddy serve`).

DuckDB's own buffers come from its jemalloc, but every statement's plan, vectors and strings
are C++ `new`s served by glibc's malloc: under the marts bench's load (20,000 events/s), malloc,
free and their consolidation were 9.9% of the `eddy serve` process's CPU samples (perf). A
bigger thread cache and a heap that keeps what it frees (no trim or mmap round trips for
blocks under 32 MB) brought them to 7.5%. In process, where the load generator's allocations
share the heap, a 20,000-event tick took ~9% less CPU (`bench/profile_ticks.py --history
200000 --events 80000 --batch 20000 --sim-rate 20000`, interleaved: 714/683/689 against
781/759/726 ms); the bench's catch-up rate moved within its noise (median of 3: 51,595 against
50,763 events/s).

glibc reads these only at process start (GLIBC_TUNABLES), so `eddy serve` runs itself again
with them set, once. A GLIBC_TUNABLES the user set is left as it is; EDDY_MALLOC_TUNABLES
replaces the settings below (empty: none)."""

from __future__ import annotations

import os
import platform
import sys

TUNABLES = ("glibc.malloc.tcache_count=4096:glibc.malloc.trim_threshold=268435456:"
            "glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=67108864")
_DONE = "EDDY_MALLOC_TUNED"   # set in the process that runs with them


def tunables() -> str | None:
    """The GLIBC_TUNABLES this process should start with; None: run as it is."""
    if os.environ.get(_DONE) or "GLIBC_TUNABLES" in os.environ:
        return None
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return None
    return os.environ.get("EDDY_MALLOC_TUNABLES", TUNABLES) or None


def restart_with_tunables() -> None:
    """Replace this process with itself (same pid, interpreter options, arguments and
    environment: `sys.orig_argv`, so `python -m eddy.cli` stays a module run) started with the
    malloc settings, when it was not."""
    wanted = tunables()
    if wanted is None:
        return
    env = {**os.environ, "GLIBC_TUNABLES": wanted, _DONE: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)
