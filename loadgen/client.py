"""Sending messages through the mock website API (`loadgen run --via api`).

Batches are POSTed to `/collect` by a few worker threads over keep-alive connections. A batch
answered 503/429 (back-pressure) or not answered is retried with backoff until the delivery
timeout; then its messages count as failed and the run stops.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlsplit

from loadgen.producer import DeliveryError

Message = tuple[str, str, str, str | None]


def collect_body(messages: list[Message]) -> bytes:
    """The JSON array POSTed to /collect: one {"topic", "event"} per message.

    Well-formed values are embedded as they are; a value that is not valid JSON (a deliberately
    malformed message) is embedded as a JSON string, which the API parses and rejects.
    """
    parts = []
    for topic, _, value, mark in messages:
        if mark is not None and mark.startswith("malformed: invalid JSON"):
            parts.append(f'{{"topic":"{topic}","event":{json.dumps(value)}}}')
        else:
            parts.append(f'{{"topic":"{topic}","event":{value}}}')
    return ("[" + ",".join(parts) + "]").encode()


class ApiSink:
    """Posts batches concurrently; counts accepted, rejected (4xx per event) and failed."""

    def __init__(self, url: str, delivery_timeout_s: float = 30.0, workers: int = 8):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// URL for the API, got {url!r}")
        self.url = url
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = (parts.path.rstrip("/") or "") + "/collect"
        self.timeout = delivery_timeout_s
        self.sent: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.last_error: str | None = None
        self.reject_reasons: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="loadgen-api")
        self._slots = threading.BoundedSemaphore(workers * 2)
        self._futures: set[Future] = set()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout + 10)
        return conn

    def _post(self, messages: list[Message]) -> None:
        body = collect_body(messages)
        deadline = time.monotonic() + self.timeout
        backoff = 0.05
        try:
            while True:
                try:
                    conn = self._conn()
                    conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    payload = resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException) as exc:
                    self._local.conn = None
                    status, payload, error = None, b"", f"{type(exc).__name__}: {exc}"
                else:
                    error = f"HTTP {status}: {payload[:200].decode(errors='replace')}"
                if status in (200, 422):
                    self._account(messages, json.loads(payload))
                    return
                if status is not None and status not in (429, 503):
                    raise DeliveryError(f"API {self.url} answered {error}")
                self.last_error = error
                if time.monotonic() + backoff > deadline:
                    raise DeliveryError(
                        f"API {self.url} did not accept a batch within {self.timeout:g} s "
                        f"(last: {error})")
                time.sleep(backoff)
                backoff = min(1.0, backoff * 2)
        except DeliveryError as exc:
            with self._lock:
                self.last_error = str(exc)
                for topic, *_ in messages:
                    self.failed[topic] += 1
        finally:
            self._slots.release()

    def _account(self, messages: list[Message], answer: dict) -> None:
        rejected = {r["index"]: r["reason"] for r in answer.get("rejected", [])}
        with self._lock:
            for i, (topic, *_) in enumerate(messages):
                if i in rejected:
                    self.rejected[topic] += 1
                    self.reject_reasons[rejected[i].split(":")[0]] += 1
                else:
                    self.sent[topic] += 1

    def send(self, messages: list[Message]) -> None:
        if self.failed:
            raise DeliveryError(self.describe_failure())
        self._slots.acquire()
        fut = self._pool.submit(self._post, list(messages))
        self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)

    def describe_failure(self) -> str:
        return self.last_error or f"API {self.url} failed"

    def pending(self) -> int:
        return len(self._futures)

    def close(self, abort: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=abort)

    def delivered(self, _handed: Counter[str] | None = None) -> Counter[str]:
        """Per topic, the messages the API accepted (Kafka acknowledged them)."""
        return Counter(self.sent)
