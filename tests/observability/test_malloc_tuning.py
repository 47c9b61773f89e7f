"""`eddy serve` runs with glibc's malloc tuned (eddy.malloc_tuning): the served process is the
one that was started (same pid, so pid files stay right) and carries the settings; a user's
own GLIBC_TUNABLES, or EDDY_MALLOC_TUNABLES="", is respected."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
from eddyproc import EddyProcess

from eddy import malloc_tuning

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(e.decode().split("=", 1) for e in raw if b"=" in e)


def test_the_served_process_runs_with_the_settings(tmp_path):
    eddy = EddyProcess(tmp_path / "data")
    try:
        env = _environ(eddy.proc.pid)      # the pid that was spawned, after its re-exec
        assert env.get("EDDY_MALLOC_TUNED") == "1"
        assert "GLIBC_TUNABLES" in env
        with eddy.connect() as conn:       # and it serves
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        assert eddy.stop() == 0


def test_a_users_tunables_or_an_empty_setting_are_left_alone(monkeypatch):
    monkeypatch.delenv("EDDY_MALLOC_TUNED", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv("EDDY_MALLOC_TUNABLES", raising=False)
    assert malloc_tuning.tunables() == malloc_tuning.TUNABLES
    monkeypatch.setenv("EDDY_MALLOC_TUNABLES", "glibc.malloc.tcache_count=64")
    assert malloc_tuning.tunables() == "glibc.malloc.tcache_count=64"
    monkeypatch.setenv("EDDY_MALLOC_TUNABLES", "")
    assert malloc_tuning.tunables() is None
    monkeypatch.delenv("EDDY_MALLOC_TUNABLES")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    assert malloc_tuning.tunables() is None
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setenv("EDDY_MALLOC_TUNED", "1")      # already restarted once
    assert malloc_tuning.tunables() is None
