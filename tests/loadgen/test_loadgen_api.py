"""The mock website API: per-event validation, Kafka acks, back-pressure, health and metrics."""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from loadgen_helpers import closed_port, consume, events_by_topic, free_port, generate

from loadgen.model import KEY_FIELD, validate_message


@contextlib.contextmanager
def api_server(bootstrap: str, *args: str):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "api", "--port", str(port), "--bootstrap", bootstrap,
         *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"api did not start: {proc.stdout.read()}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", port
    finally:
        proc.terminate()
        proc.wait(10)


def request(port: int, method: str, path: str, body=None, timeout: float = 30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    conn.request(method, path, data, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = resp.read()
    return resp.status, dict(resp.getheaders()), payload


@functools.cache
def _items() -> list[dict]:
    return [{"topic": t, "event": json.loads(v)} for t, _, v, _ in generate(20, seed=21)]


def good_items(n: int) -> list[dict]:
    return _items()[:n]


def test_back_pressure_and_kafka_down():
    """Kafka unreachable: acks never come, so the in-flight queue fills. A batch that does not
    fit is refused at once with 503 + Retry-After; the waiting one fails after the timeout."""
    good_items(1)
    with api_server(f"127.0.0.1:{closed_port()}", "--max-in-flight", "10",
                    "--delivery-timeout", "3") as (_, port):
        first: dict = {}

        def post_first():
            first["answer"] = request(port, "POST", "/collect", good_items(8))

        waiting = threading.Thread(target=post_first)
        started = time.monotonic()
        waiting.start()
        time.sleep(1.0)
        status, headers, body = request(port, "POST", "/collect", good_items(5))
        assert status == 503 and headers.get("Retry-After") == "1", body
        assert b"busy" in body
        assert waiting.is_alive()  # refused at once, while the first batch still waits
        status, _, body = request(port, "POST", "/collect", good_items(11))
        assert status == 413, body
        status, _, body = request(port, "GET", "/health")
        assert status == 503 and json.loads(body)["kafka"].startswith("down")
        waiting.join(30)
        status, _, body = first["answer"]
        answer = json.loads(body)
        assert status == 503 and answer["failed"] == 8 and answer["accepted"] == 0, answer
        assert time.monotonic() - started >= 3
        metrics = request(port, "GET", "/metrics")[2].decode()
        assert "loadgen_api_events_throttled_total 5.0" in metrics
        assert 'loadgen_api_requests_total{status="503"} 2.0' in metrics
        assert 'loadgen_api_requests_total{status="413"} 1.0' in metrics


def test_bad_body_is_400():
    with api_server(f"127.0.0.1:{closed_port()}") as (_, port):
        assert request(port, "POST", "/collect", b"{not json")[0] == 400
        assert request(port, "POST", "/collect", {"topic": "clicks"})[0] == 400


@pytest.mark.integration
def test_collect_validates_each_event_and_produces_the_good_ones(kafka_bootstrap, topic_prefix):
    items = good_items(6)
    bad_event = dict(items[0]["event"])
    del bad_event["event_id"]
    wrong_type = {"topic": "transactions", "event": {**events_by_topic(generate(400, seed=2))[
        "transactions"][0], "amount": "12.3x"}}
    batch = [items[0], {"topic": items[0]["topic"], "event": bad_event}, items[1], wrong_type,
             items[2], {"topic": "clicks", "event": '{"event_id": "x", '}, items[3],
             {"topic": "orders", "event": items[4]["event"]}, items[4], "nonsense", items[5]]
    with api_server(kafka_bootstrap, "--topic-prefix", topic_prefix) as (_, port):
        status, _, body = request(port, "POST", "/collect", batch)
        answer = json.loads(body)
        assert status == 422, answer
        assert answer["accepted"] == 6
        reasons = {r["index"]: r["reason"] for r in answer["rejected"]}
        assert set(reasons) == {1, 3, 5, 7, 9}
        assert reasons[1] == "missing field 'event_id'"
        assert reasons[3].startswith("field 'amount'")
        assert reasons[5].startswith("invalid JSON")
        assert reasons[7] == "unknown topic 'orders'"
        assert "not an object" in reasons[9]
        assert answer["rejected"][0]["event_id"] is None
        assert answer["rejected"][1]["event_id"] == wrong_type["event"]["event_id"]
        # all good: 200
        status, _, body = request(port, "POST", "/collect", [items[0]])
        assert status == 200 and json.loads(body) == {"accepted": 1, "rejected": []}
        metrics = request(port, "GET", "/metrics")[2].decode()
        assert 'loadgen_api_events_rejected_total{topic="clicks"}' in metrics
        assert request(port, "GET", "/health")[0] == 200
    got = consume(kafka_bootstrap, topic_prefix, 7)
    sent = [items[0], *items]
    assert sorted(json.loads(v)["event_id"] for _, _, v, _ in got) == sorted(
        i["event"]["event_id"] for i in sent)
    for topic, key, value, _ in got:
        event = json.loads(value)
        assert validate_message(topic, value) is None
        assert key == event[KEY_FIELD[topic]]


@pytest.mark.integration
def test_run_via_api_end_to_end(kafka_bootstrap, topic_prefix, tmp_path):
    with api_server(kafka_bootstrap, "--topic-prefix", topic_prefix) as (url, _):
        result = subprocess.run(
            [sys.executable, "-m", "loadgen", "run", "--via", "api", "--api-url", url,
             "--events", "5000", "--seed", "3", "--malformed-fraction", "0.02",
             "--duplicate-fraction", "0.01", "--no-progress", "--out", str(tmp_path / "o.jsonl")],
            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    malformed = sum("malformed" in x for x in lines)
    got = consume(kafka_bootstrap, topic_prefix, 5000 - malformed)
    assert len(got) == 5000 - malformed
    assert all(validate_message(t, v) is None for t, _, v, _ in got)
    total = next(x for x in result.stderr.splitlines() if x.lstrip("│ ").startswith("total"))
    assert f"{malformed:,}" in total  # rejected by the API, shown in the summary
