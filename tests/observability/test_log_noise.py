"""`eddy serve --log-level INFO` logs the engine's own events, not the SQL transpiler's notes:
sqlglot notes every array subscript it shifts between dialects at INFO, and a view reading
JSON paths and arrays made them most of the log (216 of 298 lines at the marts bench's start)."""

from __future__ import annotations

import time

from eddyproc import EddyProcess


def test_info_log_carries_the_engines_lines_and_no_transpiler_notes(tmp_path):
    eddy = EddyProcess(tmp_path / "data", log_level="INFO")
    try:
        with eddy.connect() as conn:
            conn.execute("CREATE TABLE t (data jsonb, a int[])")
            conn.execute("CREATE MATERIALIZED VIEW v AS SELECT data ->> 'x' AS x, a[1] AS a1, "
                         "(data -> 'l') ->> 0 AS l0 FROM t")
            conn.execute("""INSERT INTO t VALUES ('{"x": "1", "l": [5]}', ARRAY[7, 8])""")
            deadline = time.monotonic() + 30
            while conn.execute("SELECT * FROM v").fetchall() != [("1", 7, "5")]:
                assert time.monotonic() < deadline, "the view never showed the row"
                time.sleep(0.1)
    finally:
        assert eddy.stop() == 0
    lines = list(eddy.output)
    assert any(" INFO eddy." in line for line in lines), lines     # INFO is on
    assert not [line for line in lines if " sqlglot" in line]
