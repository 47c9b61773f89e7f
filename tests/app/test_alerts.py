"""The alerting process (`python -m app.alerts`) against a real `eddy serve`, with a local HTTP
receiver standing in for Slack: one delivery per alert row, retries on 5xx and timeouts,
cooldown, restarts without duplicates or misses, an engine that goes away and comes back."""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter

import pytest
from conftest import wait_until

pytestmark = pytest.mark.integration

ATO_COLUMNS = ("transaction_id text, user_id text, amount numeric, transaction_time timestamptz, "
               "trigger_event_id text, trigger_reason text, trigger_time timestamptz, "
               "seconds_after_trigger double precision")


def ato_rules(table: str, cooldown: float = 0, timeout: float = 1.0) -> str:
    return f"""
[delivery]
timeout_seconds = {timeout}
backoff_initial_seconds = 0.2
backoff_max_seconds = 1

[[rule]]
name = "{table}"
kind = "new_rows"
relation = "{table}"
key = ["transaction_id", "trigger_event_id"]
title = "Account takeover suspected"
text = "User *{{user_id}}* paid *{{amount}}* {{seconds_after_trigger:.0f}} s after *{{trigger_reason}}*."
cooldown_seconds = {cooldown}
"""


def make_table(engine, columns: str = ATO_COLUMNS) -> str:
    name = f"ato_{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        conn.execute(f"create table {name} ({columns})")
    return name


def insert_alerts(engine, table: str, ids) -> float:
    """Insert one alert row per id; returns the wall time the insert was committed."""
    with engine.connect() as conn:
        for i in ids:
            conn.execute(
                f"insert into {table} values (%s, %s, %s, now(), %s, %s, now(), %s)",
                [f"t{i}", f"u{i}", 100 + i, f"e{i}", "new_device_login", 42.0])
    return time.time()


def keys(table: str, ids) -> set[str]:
    return {f"{table}:t{i}|e{i}" for i in ids}


def test_each_new_row_is_delivered_once_within_5_seconds(engine, receiver, alerts):
    table = make_table(engine)
    p = alerts(ato_rules(table))
    wait_until(lambda: f"following {table}" in p.output(), 60, message="subscription live")
    committed = {}
    for batch in (range(0, 5), range(5, 12)):
        committed.update(dict.fromkeys(batch, insert_alerts(engine, table, batch)))
        time.sleep(1)
    wait_until(lambda: len(receiver.delivered()) >= 12, 30, message="12 deliveries")
    time.sleep(2)  # nothing more arrives
    got = receiver.delivered()
    assert Counter(r["key"] for r in got) == Counter(keys(table, range(12)))
    for r in got:
        i = int(r["key"].split("|")[0].removeprefix(f"{table}:t"))
        assert r["at"] - committed[i] <= 5.0, f"{r['key']} took {r['at'] - committed[i]:.1f} s"
    blocks = got[0]["payload"]["blocks"]
    assert blocks[0]["type"] == "header" and "Account takeover" in blocks[0]["text"]["text"]
    assert "new_device_login" in blocks[1]["text"]["text"]
    assert "42 s after" in blocks[1]["text"]["text"]


def test_5xx_and_timeouts_are_retried_and_each_alert_still_arrives_once(
        engine, receiver, alerts):
    receiver.script = [500, 500, "hang", 503]
    table = make_table(engine)
    p = alerts(ato_rules(table, timeout=1.0))
    wait_until(lambda: "alerting:" in p.output(), 60, message="alerting process started")
    insert_alerts(engine, table, range(3))
    wait_until(lambda: len(receiver.delivered()) >= 3, 40, message="3 deliveries")
    time.sleep(2)
    assert Counter(r["key"] for r in receiver.delivered()) == Counter(keys(table, range(3)))
    assert len(receiver.requests) == 3 + 4  # every failure was retried, nothing else resent
    log = p.output()
    assert "HTTP 500" in log and "timed out" in log and "HTTP 503" in log
    with engine.connect() as conn:
        statuses = wait_until(lambda: _statuses(conn, keys(table, range(3))), 10,
                              message="deliveries recorded in the engine")
    assert statuses == Counter({"sent": 3, "failed": 4})


def _statuses(conn, wanted: set[str]):
    rows = conn.execute("select alert_key, status from alert_deliveries").fetchall()
    found = Counter(status for key, status in rows if key in wanted)
    return found if found.get("sent", 0) >= len(wanted) else None


def test_cooldown_suppresses_and_records_the_suppressed_alert(engine, receiver, alerts):
    table = make_table(engine, "window_start timestamptz, service text, error_count bigint")
    p = alerts(f"""
[[rule]]
name = "errors"
kind = "new_rows"
relation = "{table}"
key = ["window_start", "service"]
title = "Errors in a service"
text = "{{service}}: {{error_count}} errors"
cooldown_seconds = 60
cooldown_by = ["service"]
""")
    wait_until(lambda: f"following {table}" in p.output(), 60, message="subscription live")
    with engine.connect() as conn:
        conn.execute(f"insert into {table} values "
                     "('2026-12-01 10:00:00+00', 'checkout', 9), "
                     "('2026-12-01 10:00:00+00', 'search', 7)")
        wait_until(lambda: len(receiver.delivered()) >= 2, 20, message="two services alerted")
        conn.execute(f"insert into {table} values ('2026-12-01 10:01:00+00', 'checkout', 12)")
        # an update of an alerted row (retraction + insertion of the same key) is no new alert
        conn.execute(f"update {table} set error_count = 10 where service = 'search'")
        suppressed = "errors:2026-12-01T10:01:00+00:00|checkout"
        rows = wait_until(lambda: conn.execute(
            "select status, detail from alert_deliveries where alert_key = %s",
            [suppressed]).fetchall(), 20, message="the suppression is recorded in the engine")
    assert rows[0][0] == "suppressed" and "cooldown" in rows[0][1]
    time.sleep(2)
    assert sorted(r["key"] for r in receiver.delivered()) == [
        "errors:2026-12-01T10:00:00+00:00|checkout", "errors:2026-12-01T10:00:00+00:00|search"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "crash"])
def test_restart_sends_nothing_twice_and_misses_nothing(engine, receiver, alerts, sig):
    table = make_table(engine)
    p = alerts(ato_rules(table))
    wait_until(lambda: "alerting:" in p.output(), 60, message="alerting process started")
    insert_alerts(engine, table, range(0, 4))
    wait_until(lambda: len(receiver.delivered()) >= 4, 30, message="first batch")
    p.stop(sig)
    insert_alerts(engine, table, range(4, 8))           # appears while the process is down
    p.start()
    insert_alerts(engine, table, range(8, 10))
    wait_until(lambda: len(receiver.delivered()) >= 10, 60, message="all ten after restart")
    time.sleep(3)
    assert Counter(r["key"] for r in receiver.delivered()) == Counter(keys(table, range(10)))


def test_engine_unreachable_is_retried_and_logged(engine, receiver, alerts):
    table = make_table(engine)
    p = alerts(ato_rules(table))
    wait_until(lambda: "alerting:" in p.output(), 60, message="alerting process started")
    insert_alerts(engine, table, [0])
    wait_until(lambda: len(receiver.delivered()) >= 1, 30, message="first alert")
    engine.stop()
    try:
        wait_until(lambda: f"SUBSCRIBE to {table} at 127.0.0.1:{engine.port} failed"
                   in p.output(), 30, message="the alerting process logs why it retries")
        time.sleep(2)
    finally:
        engine.start()
    insert_alerts(engine, table, [1, 2])
    wait_until(lambda: len(receiver.delivered()) >= 3, 60, message="alerts after the engine is back")
    time.sleep(2)
    assert Counter(r["key"] for r in receiver.delivered()) == Counter(keys(table, range(3)))
    assert p.proc.poll() is None
