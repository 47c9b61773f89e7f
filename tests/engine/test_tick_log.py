"""`eddy.ticks` at DEBUG: one line per tick that took data (what an operator reads to see
where a stall came from: the tick's size, its time, the commit's and the WAL's size)."""

from __future__ import annotations

import logging
import re

from eddy.engine import Engine

LINE = re.compile(r"tick \d+: (\d+) source rows, (\d+) writes, ([\d.]+) s "
                  r"\(commit ([\d.]+) s\), WAL (\d+) MB")


def test_a_line_per_tick_with_data_none_when_idle(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="eddy.ticks")
    e = Engine(tmp_path, tick_interval=None)
    try:
        s = e.session()
        s.execute("CREATE TABLE t (a int)")
        caplog.clear()
        s.execute("INSERT INTO t SELECT * FROM generate_series(1, 500)")
        lines = [r.getMessage() for r in caplog.records if r.name == "eddy.ticks"]
        assert len(lines) == 1, lines
        m = LINE.fullmatch(lines[0])
        assert m, lines[0]
        assert (m[1], m[2]) == ("0", "1")
        assert float(m[4]) <= float(m[3])
        caplog.clear()
        e.tick()      # nothing arrived: no line
        assert not [r for r in caplog.records if r.name == "eddy.ticks"]
    finally:
        e.close()
