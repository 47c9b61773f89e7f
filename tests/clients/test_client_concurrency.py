"""Many sessions against a real `eddy serve` while ticks keep committing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.integration


def test_fifty_sessions_query_while_ticks_commit(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.feed (v int)")
        conn.execute(f"CREATE MATERIALIZED VIEW {schema}.total AS "
                     f"SELECT count(*) AS n, sum(v) AS s FROM {schema}.feed")
    stop = threading.Event()
    inserted = [0]

    def writer():
        with eddy.connect() as conn:
            while not stop.is_set():
                conn.execute(f"INSERT INTO {schema}.feed VALUES (1), (2)")
                inserted[0] += 2

    def reader(i: int) -> int:
        seen = 0
        with eddy.connect() as conn:
            for _ in range(10):
                n, s = conn.execute(f"SELECT n, s FROM {schema}.total").fetchone()
                # one committed tick: every pair (1, 2) is either fully in or not at all
                assert n % 2 == 0 and (s or 0) == 3 * n // 2
                assert n >= seen
                seen = n
        return seen

    thread = threading.Thread(target=writer)
    thread.start()
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(reader, range(50)))
    finally:
        stop.set()
        thread.join()
    assert len(results) == 50 and max(results) > 0
    assert time.monotonic() - t0 < 120
