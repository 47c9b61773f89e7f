"""`eddy serve` stopped by SIGTERM while it absorbs a Kafka backlog: it exits within seconds
(a tick still running then is abandoned, uncommitted) and loses nothing it committed; after a
restart the source resumes from the last committed tick and every count is exact."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter

import pytest
from eddyproc import EddyProcess
from kafka_harness import produce

pytestmark = pytest.mark.integration

N_EVENTS = 300_000
FIRST = 50_000  # committed before the backlog arrives
USERS = 20_000
EXIT_WITHIN = 15.0  # seconds from SIGTERM (the default grace for a running tick is 5 s)

# Views that make a tick slow (non-linear aggregates over many groups, a join, a ranking), so
# that the source hands the engine more than a tick absorbs and ticks grow to seconds each.
VIEWS = [
    "CREATE MATERIALIZED VIEW events AS SELECT data->>'user_id' AS user_id, "
    "(data->>'seq')::bigint AS seq FROM src",
    "CREATE MATERIALIZED VIEW per_user AS SELECT user_id, count(*) AS n, "
    "count(DISTINCT seq % 97) AS buckets, min(seq) AS first_seq, max(seq) AS last_seq "
    "FROM events GROUP BY user_id",
    "CREATE MATERIALIZED VIEW latest AS SELECT e.user_id, e.seq, p.n FROM events e "
    "JOIN per_user p ON p.user_id = e.user_id AND p.last_seq = e.seq",
    "CREATE MATERIALIZED VIEW top_users AS SELECT user_id, n FROM (SELECT user_id, n, "
    "row_number() OVER (PARTITION BY n % 10 ORDER BY n DESC, user_id) AS r FROM per_user) t "
    "WHERE r <= 3",
]


def _count(server: EddyProcess) -> int:
    with server.connect() as conn:
        return conn.execute("SELECT count(*) FROM src").fetchone()[0]


def _wait_count(server: EddyProcess, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _count(server) < n:
        assert time.monotonic() < deadline, "".join(server.output[-30:])
        time.sleep(0.3)


def _send(bootstrap: str, topic: str, events) -> None:
    produce(bootstrap, topic,
            ((u.encode(), json.dumps({"user_id": u, "seq": s}).encode()) for u, s in events))


def test_sigterm_while_absorbing_a_backlog_exits_fast_and_keeps_what_was_committed(
        tmp_path, kafka_bootstrap, kafka_topic):
    rng = random.Random(11)
    events = [(f"u{rng.randrange(USERS)}", i) for i in range(N_EVENTS)]
    first, backlog = events[:FIRST], events[FIRST:]
    data = tmp_path / "data"

    # 1. a first part, committed, then a graceful stop (nothing running: it exits at once)
    _send(kafka_bootstrap, kafka_topic, first)
    server = EddyProcess(data)
    with server.connect() as conn:
        conn.execute(f"CREATE CONNECTION kc TO KAFKA (BROKER '{kafka_bootstrap}')")
        conn.execute(f"CREATE SOURCE src FROM KAFKA CONNECTION kc (TOPIC '{kafka_topic}') "
                     "FORMAT JSON")
        for sql in VIEWS:
            conn.execute(sql)
    _wait_count(server, FIRST, 120)
    assert server.stop() == 0

    # 2. a backlog, taken in one tick (a tick every 10 s): SIGTERM 2 s into that tick
    _send(kafka_bootstrap, kafka_topic, backlog)
    server = EddyProcess(data, extra_args=["--tick-interval", "10"])
    started = time.monotonic()
    try:
        assert _count(server) == FIRST
        time.sleep(max(0.0, started + 12 - time.monotonic()))
        server.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            code = server.proc.wait(EXIT_WITHIN + 60)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - t0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
    print(f"stopped {took:.1f} s after SIGTERM (exit code {code})")
    assert code == 0 and took < EXIT_WITHIN, (code, took, "".join(server.output[-30:]))

    # 3. a restart keeps what was committed and resumes after it: every count exact
    again = EddyProcess(data)
    try:
        assert _count(again) >= FIRST, "a committed tick was lost"
        _wait_count(again, N_EVENTS, 300)
        with again.connect() as conn:
            time.sleep(0.5)
            assert conn.execute("SELECT count(*) FROM src").fetchone()[0] == N_EVENTS
            assert conn.execute("SELECT count(*) FROM src_dead_letters").fetchone()[0] == 0
            got = dict(conn.execute("SELECT user_id, n FROM per_user").fetchall())
            assert got == dict(Counter(u for u, _ in events))
            last = {u: s for u, s in events}
            assert dict(conn.execute("SELECT user_id, seq FROM latest").fetchall()) == last
    finally:
        assert again.stop() == 0
