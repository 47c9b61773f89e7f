"""The alerting process: one SUBSCRIBE follower per `new_rows` rule, a health sampler for the
`threshold` rules, one delivery worker (Slack, retries with backoff), one publisher (delivery
log into the engine). Everything an alert goes through is in the store first, so a crash at
any point loses nothing and a restart sends nothing twice (except the one message whose
HTTP response was lost mid-flight: Slack webhooks have no idempotency key)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from functools import partial

import psycopg

from app.alerts import alert, follow, health, slack
from app.alerts.config import Config, Rule
from app.alerts.publish import publish
from app.alerts.store import Store
from app.settings import Settings

log = logging.getLogger("app.alerts")

PUBLISH_EVERY = 1.0
DRAIN_SECONDS = 3.0


class Alerter:
    def __init__(self, config: Config, settings: Settings, store: Store):
        self.config, self.settings, self.store = config, settings, store
        self.stop = threading.Event()
        self._wake = threading.Event()
        self._above_since: dict[tuple[str, str], float] = {}
        self.origin = f"engine {settings.address}"

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        """Run until `stop` is set."""
        threads = [threading.Thread(target=self._deliver_loop, name="deliver", daemon=True),
                   threading.Thread(target=self._publish_loop, name="publish", daemon=True)]
        for rule in self.config.rules:
            if rule.kind == "new_rows":
                threads.append(threading.Thread(
                    target=follow.follow, name=f"follow-{rule.name}", daemon=True,
                    args=(self.settings, rule.relation, partial(self.on_rows, rule), self.stop)))
        if any(r.kind == "threshold" for r in self.config.rules):
            threads.append(threading.Thread(target=self._health_loop, name="health", daemon=True))
        for t in threads:
            t.start()
        self.stop.wait()
        self._wake.set()
        for t in threads:
            t.join(10)

    # -- new alerts ------------------------------------------------------------------------

    def on_rows(self, rule: Rule, rows: list[dict], snapshot: bool) -> None:
        skip = False
        if snapshot:
            first = not self.store.started_before(rule.name)
            skip = first and self.config.first_start == "skip"
        alerts = []
        for row in rows:
            row = {k: alert.plain(v) for k, v in row.items()}
            alerts.append(self._alert(rule, row))
        self._claimed(alerts, self.store.claim_many(alerts, skip=skip))

    def raise_alert(self, rule: Rule, row: dict, key: str | None = None) -> str:
        a = self._alert(rule, row, key)
        state = self.store.claim(*a)
        self._claimed([a], [state])
        return state

    def _alert(self, rule: Rule, row: dict, key: str | None = None) -> tuple:
        key = key or alert.key(rule, row)
        return (key, rule.name, alert.payload(rule, row, key, self.origin),
                alert.cooldown_group(rule, row), rule.cooldown_seconds)

    def _claimed(self, alerts: list[tuple], states: list[str]) -> None:
        for a, state in zip(alerts, states, strict=True):
            if state == "pending":
                log.info("alert %s", a[0])
                self._wake.set()
            elif state == "suppressed":
                log.info("alert %s suppressed (cooldown or first start)", a[0])

    # -- delivery --------------------------------------------------------------------------

    def _deliver_loop(self) -> None:
        d = self.config.delivery
        while not self.stop.is_set():
            for p in self.store.due():
                if self.stop.is_set():
                    break
                self._deliver(p, d)
            nxt = self.store.next_due()
            wait = 1.0 if nxt is None else min(max(nxt - time.time(), 0.0), 1.0)
            self._wake.wait(wait)
            self._wake.clear()
        self._drain(d)

    def _drain(self, d) -> None:
        """On a stop: one more try for what is due, for at most DRAIN_SECONDS (what is left
        stays pending in the store for the next start)."""
        deadline = time.monotonic() + DRAIN_SECONDS
        for p in self.store.due():
            if time.monotonic() > deadline:
                log.info("stopping with alerts still pending; the next start delivers them")
                return
            self._deliver(p, d)

    def _deliver(self, p, d) -> None:
        attempts = p.attempts + 1
        if not d.webhook_url:
            log.warning("no SLACK_WEBHOOK_URL; alert %s: %s", p.key, p.payload.get("text"))
            self.store.logged(p.key, p.rule, attempts,
                               "printed to the alerting log (no SLACK_WEBHOOK_URL set)")
            return
        out = slack.post(d.webhook_url, p.payload, d.timeout_seconds)
        if out.ok:
            self.store.sent(p.key, p.rule, attempts, out.detail)
            log.info("sent %s (attempt %d, %.2f s after the row was seen)", p.key, attempts,
                     time.time() - p.first_seen)
        elif out.retryable and time.time() - p.first_seen < d.give_up_after_seconds:
            delay = out.retry_after if out.retry_after is not None else min(
                d.backoff_initial_seconds * 2 ** (attempts - 1), d.backoff_max_seconds)
            self.store.retry(p.key, p.rule, attempts, out.detail, time.time() + delay)
            log.warning("delivery of %s failed (%s); retry %d in %.1f s", p.key, out.detail,
                        attempts, delay)
        else:
            self.store.failed(p.key, p.rule, attempts, out.detail)
            log.error("gave up on %s after %d attempts: %s", p.key, attempts, out.detail)

    # -- pipeline health -------------------------------------------------------------------

    def _health_loop(self) -> None:
        sampler, conn = health.Sampler(), None
        rules = [r for r in self.config.rules if r.kind == "threshold"]
        while not self.stop.is_set():
            try:
                conn = conn or health.connect(self.settings)
                metrics = health.sample(conn, sampler)
            except psycopg.Error as e:
                log.warning("health sample from %s failed: %s; retrying in %.0f s",
                            self.settings.address, _first_line(e),
                            self.config.health_interval_seconds)
                conn = _close(conn)
            else:
                now = time.time()
                for rule in rules:
                    for subject, value in metrics.get(rule.metric, {}).items():
                        self.threshold(rule, subject, value, now)
            self.stop.wait(self.config.health_interval_seconds)
        _close(conn)

    def threshold(self, rule: Rule, subject: str, value: float, now: float) -> None:
        """Open an episode (one alert) when `value` stays above the threshold `for_seconds`;
        close it when the value is back at or below."""
        slot = (rule.name, subject)
        episode = self.store.episode(rule.name, subject)
        if value <= rule.above:
            self._above_since.pop(slot, None)
            if episode is not None:
                self.store.close_episode(rule.name, subject)
                log.info("%s recovered for %s (%s)", rule.name, subject, value)
            return
        since = self._above_since.setdefault(slot, now)
        if episode is None and now - since >= rule.for_seconds:
            started = dt.datetime.fromtimestamp(since, dt.UTC).isoformat(timespec="seconds")
            key = f"{rule.name}:{subject}:{started}"
            self.store.open_episode(rule.name, subject, key)
            row = {"subject": subject, "metric": rule.metric, "value": value,
                   "above": rule.above, "since": started}
            self.raise_alert(rule, row, key=key)

    # -- delivery log into the engine ------------------------------------------------------

    def _publish_loop(self) -> None:
        conn, failing = None, False
        while not self.stop.wait(PUBLISH_EVERY):
            try:
                conn = conn or psycopg.connect(**self.settings.conninfo("eddy-alerts"),
                                               autocommit=True)
                publish(conn, self.store)
                failing = False
            except psycopg.Error as e:
                if not failing:
                    log.warning("cannot record deliveries in the engine (%s); they wait in %s",
                                _first_line(e), self.store.path)
                failing = True
                conn = _close(conn)
        _close(conn)


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _close(conn):
    if conn is not None:
        conn.close()
    return None
