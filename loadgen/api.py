"""The mock website API: an HTTP collector in front of Kafka (aiohttp).

- ``POST /collect``: a JSON array of ``{"topic": ..., "event": {...}}`` (``event`` may also be
  the raw message text as a string). Each event is validated against the contracts; good ones
  are produced (acks=all, idempotence) and the answer waits until Kafka acknowledged them.
  200 ``{"accepted": n, "rejected": []}`` when all were good; 422 with the same body listing
  ``{"index", "event_id", "reason"}`` per rejected event (the good ones are still produced);
  503 + Retry-After when the batch would exceed the in-flight limit (back-pressure) or Kafka
  did not acknowledge; 413 for a batch larger than the limit; 400 for a body that is not a
  JSON array.
- ``GET /health``: liveness plus Kafka reachability; ``GET /metrics``: Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter as Counter_

from aiohttp import web
from confluent_kafka import KafkaError, Producer
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from loadgen.model import KEY_FIELD, TOPICS, validate
from loadgen.producer import producer_config

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class _Batch:
    """Counts down the deliveries of one request's events (callbacks run in the poll thread)."""

    __slots__ = ("loop", "future", "pending", "errors")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int):
        self.loop = loop
        self.future = loop.create_future()
        self.pending = count
        self.errors: list[tuple[str, str]] = []  # (topic, error)

    def on_delivery(self, err: KafkaError | None, msg) -> None:
        if err is not None:
            self.errors.append((msg.topic(), err.str()))
        self.pending -= 1
        if self.pending == 0:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("loadgen_api_requests", "HTTP requests to /collect by status",
                                ["status"], registry=r)
        self.accepted = Counter("loadgen_api_events_accepted", "Events produced and acknowledged",
                                ["topic"], registry=r)
        self.rejected = Counter("loadgen_api_events_rejected", "Events rejected as malformed",
                                ["topic"], registry=r)
        self.failed = Counter("loadgen_api_events_failed", "Events Kafka did not acknowledge",
                              ["topic"], registry=r)
        self.throttled = Counter("loadgen_api_events_throttled",
                                 "Events refused with 503 because the in-flight queue was full",
                                 registry=r)
        self.in_flight = Gauge("loadgen_api_in_flight_events", "Events awaiting Kafka's ack",
                               registry=r)
        self.latency = Histogram("loadgen_api_collect_seconds", "Time to answer /collect",
                                 registry=r, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                                                      5, 10, 30))


class Collector:
    """The API's state: one Kafka producer, its poll thread, the in-flight count, metrics."""

    def __init__(self, bootstrap: str, topic_prefix: str = "", max_in_flight: int = 100_000,
                 delivery_timeout_s: float = 30.0, registry_url: str | None = None):
        self.bootstrap = bootstrap
        self.avro = None  # with a registry: events are checked against and encoded with it
        if registry_url is not None:
            from loadgen.avro import ContractEncoder
            self.avro = ContractEncoder(registry_url, topic_prefix)
        self.prefix = topic_prefix
        self.max_in_flight = max_in_flight
        self.timeout = delivery_timeout_s
        self.in_flight = 0
        self.metrics = Metrics()
        self.last_error: str | None = None
        conf = producer_config(bootstrap, delivery_timeout_s)
        conf["error_cb"] = self._on_error
        self.producer = Producer(conf)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="loadgen-api-poll", daemon=True)
        self._poller.start()

    def _on_error(self, err: KafkaError) -> None:
        self.last_error = err.str()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def close(self) -> None:
        self.producer.flush(min(self.timeout, 10))
        self._stop.set()
        self._poller.join(5)

    def check(self, item: object) -> tuple[str, dict] | str:
        """(topic, event) for a valid batch item, else the reason it is rejected."""
        if not isinstance(item, dict):
            return "item is not an object with 'topic' and 'event'"
        topic, event = item.get("topic"), item.get("event")
        if not isinstance(topic, str) or topic not in TOPICS:
            return f"unknown topic {topic!r}"
        if isinstance(event, str):
            try:
                event = json.loads(event)
            except ValueError as exc:
                return f"invalid JSON: {exc}"
        reason = validate(topic, event)
        if reason is None and self.avro is not None:
            reason = self.avro.check(topic, event)
        return reason if reason is not None else (topic, event)

    async def collect(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        response = await self._collect(request)
        self.metrics.requests.labels(str(response.status)).inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        return response

    async def _collect(self, request: web.Request) -> web.Response:
        try:
            items = json.loads(await request.read())
        except ValueError as exc:
            return web.json_response({"error": f"body is not valid JSON: {exc}"}, status=400)
        if not isinstance(items, list):
            return web.json_response({"error": "body must be a JSON array of events"},
                                     status=400)
        if len(items) > self.max_in_flight:
            return web.json_response(
                {"error": f"batch of {len(items)} exceeds the limit of {self.max_in_flight}"},
                status=413)
        if self.in_flight + len(items) > self.max_in_flight:
            self.metrics.throttled.inc(len(items))
            return web.json_response(
                {"error": f"busy: {self.in_flight} events awaiting Kafka; retry later"},
                status=503, headers={"Retry-After": "1"})
        good: list[tuple[str, dict]] = []
        rejected = []
        for index, item in enumerate(items):
            checked = self.check(item)
            if isinstance(checked, str):
                topic = item.get("topic") if isinstance(item, dict) else None
                event = item.get("event") if isinstance(item, dict) else None
                rejected.append({"index": index, "reason": checked, "event_id":
                                 event.get("event_id") if isinstance(event, dict) else None})
                self.metrics.rejected.labels(topic if topic in TOPICS else "unknown").inc()
            else:
                good.append(checked)
        failed = await self._produce(good) if good else 0
        body = {"accepted": len(good) - failed, "rejected": rejected}
        if failed:
            body["failed"] = failed
            body["error"] = f"Kafka did not acknowledge {failed} events: {self.last_error}"
            return web.json_response(body, status=503, headers={"Retry-After": "1"})
        return web.json_response(body, status=422 if rejected else 200)

    async def _produce(self, good: list[tuple[str, dict]]) -> int:
        """Produces `good` and waits for Kafka's acks; returns how many were not acknowledged."""
        batch = _Batch(asyncio.get_running_loop(), len(good))
        self.in_flight += len(good)
        self.metrics.in_flight.set(self.in_flight)
        produce, prefix, cb = self.producer.produce, self.prefix, batch.on_delivery
        queued = 0
        try:
            for topic, event in good:
                key = event[KEY_FIELD[topic]]
                while True:
                    try:
                        value = _DUMPS(event) if self.avro is None else self.avro.encode(topic, event)
                        produce(prefix + topic, value, key, on_delivery=cb)
                        break
                    except BufferError:
                        await asyncio.sleep(0.01)
                queued += 1
            await asyncio.wait_for(asyncio.shield(batch.future), self.timeout + 10)
        except TimeoutError:
            self.last_error = "no delivery report within the timeout"
            for topic, _ in good:
                self.metrics.failed.labels(topic).inc()
            return len(good)
        finally:
            self.in_flight -= len(good)
            self.metrics.in_flight.set(self.in_flight)
        failed = Counter_(topic[len(prefix):] for topic, _ in batch.errors)
        for topic, _ in good:
            if failed[topic] > 0:
                failed[topic] -= 1
                self.metrics.failed.labels(topic).inc()
            else:
                self.metrics.accepted.labels(topic).inc()
        if batch.errors:
            self.last_error = batch.errors[0][1]
        return len(batch.errors)

    async def health(self, _request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, lambda: self.producer.list_topics(timeout=2))
            kafka = "up"
        except Exception as exc:  # any failure means Kafka is unreachable
            kafka = f"down: {exc}"
        return web.json_response({"status": "ok" if kafka == "up" else "degraded",
                                  "kafka": kafka, "in_flight": self.in_flight},
                                 status=200 if kafka == "up" else 503)

    async def metrics_page(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(collector: Collector) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/collect", collector.collect)
    app.router.add_get("/health", collector.health)
    app.router.add_get("/metrics", collector.metrics_page)

    async def _close(_app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, collector.close)

    app.on_cleanup.append(_close)
    return app


def serve(bootstrap: str, host: str = "127.0.0.1", port: int = 8088, topic_prefix: str = "",
          max_in_flight: int = 100_000, delivery_timeout_s: float = 30.0,
          registry_url: str | None = None) -> None:
    collector = Collector(bootstrap, topic_prefix, max_in_flight, delivery_timeout_s, registry_url)
    web.run_app(create_app(collector), host=host, port=port, print=None)
