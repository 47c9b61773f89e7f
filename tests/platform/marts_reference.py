"""The five marts of CONTRACTS.md computed in plain Python: the end-to-end oracle.

Written from the contract text alone; it shares no code or SQL with the dbt models. Only the
contract validator (`loadgen.model.validate`, which also rejects impossible calendar dates)
is reused, to say which messages are events.

    received = receive(messages)               # [(topic, value)] as delivered, in order
    expected = marts(received, now=..., retention=timedelta(hours=24), threshold=5)
    problems = compare("user_sessions", expected["user_sessions"], rows_from_the_engine)

Types: timestamps are aware UTC datetimes, money and seconds are Decimal, rates are float
(compared with a tolerance), counts are int.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loadgen.model import TOPICS, validate

SESSION_GAP = timedelta(minutes=30)
TAKEOVER_WINDOW = timedelta(minutes=10)
TAKEOVER_MIN_AMOUNT = Decimal("100.00")
DEFAULT_THRESHOLD = 5
DEFAULT_RETENTION = timedelta(hours=24)
MONEY_FIELDS = ("amount", "unit_price")
FUNNEL_STEPS = ((1, "visit"), (2, "product_view"), (3, "add_to_cart"), (4, "purchase"))

#: mart -> (key columns, all columns in contract order)
MART_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "page_views_per_minute": (("window_start", "page_url"),
                              ("window_start", "page_url", "views", "unique_users")),
    "user_sessions": (("user_id", "session_start"),
                      ("user_id", "session_start", "session_end", "duration_seconds",
                       "event_count", "page_views", "product_views", "cart_adds", "purchases",
                       "revenue", "converted")),
    "funnel_conversion": (("step_order",),
                          ("step_order", "step", "sessions", "conversion_from_previous",
                           "conversion_from_start", "drop_off")),
    "account_takeover_alerts": (("transaction_id", "trigger_event_id"),
                                ("transaction_id", "user_id", "amount", "transaction_time",
                                 "trigger_event_id", "trigger_reason", "trigger_time",
                                 "seconds_after_trigger")),
    "error_alerts": (("window_start", "service"),
                     ("window_start", "service", "error_count", "total_count", "error_rate")),
}
#: columns compared with a tolerance (derived ratios); every other column compares exactly
RATE_COLUMNS = frozenset({"conversion_from_previous", "conversion_from_start", "drop_off",
                          "error_rate"})
RATE_TOLERANCE = 1e-9


# -- receiving: decode, validate, deduplicate -------------------------------------------------

@dataclass
class Received:
    """What a stream of messages amounts to, per topic."""

    events: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in TOPICS})
    malformed: Counter[str] = field(default_factory=Counter)    # JSON objects breaking the contract
    undecodable: Counter[str] = field(default_factory=Counter)  # not JSON, or not an object
    duplicates: Counter[str] = field(default_factory=Counter)   # well-formed, event_id seen before


def decode(value: bytes | str | object) -> object:
    """A message value as JSON (bytes/str are parsed); raises ValueError when it is not JSON."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return json.loads(value) if isinstance(value, str) else value


def parse_time(text: str) -> datetime:
    """An RFC 3339 UTC event_time as an aware datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def typed(event: dict) -> dict:
    """A well-formed event with `event_time` as datetime and money as Decimal."""
    out = dict(event)
    out["event_time"] = parse_time(event["event_time"])
    for name in MONEY_FIELDS:
        if name in out:
            out[name] = Decimal(repr(out[name])) if isinstance(out[name], float) \
                else Decimal(out[name])
    return out


def receive(messages: Iterable[tuple[str, bytes | str | object]]) -> Received:
    """Sort delivered messages ((topic, value), in delivery order) into events and the rest.

    At-least-once: a well-formed event whose event_id was already seen on its topic is the
    same event delivered again and counts once (the first delivery is kept).
    """
    got = Received()
    seen: dict[str, set[str]] = defaultdict(set)
    for topic, value in messages:
        try:
            event = decode(value)
        except ValueError:
            got.undecodable[topic] += 1
            continue
        if not isinstance(event, dict):
            got.undecodable[topic] += 1
        elif validate(topic, event) is not None:
            got.malformed[topic] += 1
        elif event["event_id"] in seen[topic]:
            got.duplicates[topic] += 1
        else:
            seen[topic].add(event["event_id"])
            got.events[topic].append(typed(event))
    return got


# -- the marts --------------------------------------------------------------------------------

def minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def seconds(delta: timedelta) -> Decimal:
    """A timedelta in seconds, exactly."""
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros) / Decimal(1_000_000)


def page_views_per_minute(clicks: list[dict]) -> list[dict]:
    views: Counter[tuple] = Counter()
    users: dict[tuple, set[str]] = defaultdict(set)
    for click in clicks:
        key = (minute(click["event_time"]), click["page_url"])
        views[key] += 1
        users[key].add(click["user_id"])
    return [{"window_start": w, "page_url": url, "views": n, "unique_users": len(users[w, url])}
            for (w, url), n in views.items()]


def _session_row(user_id: str, events: list[tuple[datetime, str, dict]]) -> dict:
    kinds = Counter(kind for _, kind, _ in events)
    purchases = [e for _, kind, e in events if kind == "purchase"]
    start, end = events[0][0], events[-1][0]
    return {
        "user_id": user_id, "session_start": start, "session_end": end,
        "duration_seconds": seconds(end - start), "event_count": len(events),
        "page_views": kinds["page_view"], "product_views": kinds["product_view"],
        "cart_adds": kinds["add_to_cart"], "purchases": len(purchases),
        "revenue": sum((p["amount"] for p in purchases), Decimal("0")),
        "converted": bool(purchases),
    }


def user_sessions(clicks: list[dict], cart_events: list[dict],
                  purchases: list[dict]) -> list[dict]:
    """A user's clicks, cart events and purchases by event_time; a gap > 30 min starts anew."""
    per_user: dict[str, list[tuple[datetime, str, dict]]] = defaultdict(list)
    for e in clicks:
        per_user[e["user_id"]].append((e["event_time"], e["event_type"], e))
    for e in cart_events:
        per_user[e["user_id"]].append((e["event_time"], e["event_type"], e))
    for e in purchases:
        per_user[e["user_id"]].append((e["event_time"], "purchase", e))
    rows = []
    for user_id, events in per_user.items():
        events.sort(key=lambda item: item[0])
        current = [events[0]]
        for item in events[1:]:
            if item[0] - current[-1][0] > SESSION_GAP:
                rows.append(_session_row(user_id, current))
                current = []
            current.append(item)
        rows.append(_session_row(user_id, current))
    return rows


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def funnel_conversion(sessions: list[dict]) -> list[dict]:
    """The four funnel steps over the rows of `user_sessions`."""
    reached = [0, 0, 0, 0]
    for s in sessions:
        steps = (s["page_views"] + s["product_views"] > 0, s["product_views"] > 0,
                 s["cart_adds"] > 0, s["purchases"] > 0)
        for i, ok in enumerate(steps):
            if not ok:
                break
            reached[i] += 1
    rows = []
    for i, (order, step) in enumerate(FUNNEL_STEPS):
        previous = _ratio(reached[i], reached[i - 1]) if i else None
        rows.append({"step_order": order, "step": step, "sessions": reached[i],
                     "conversion_from_previous": previous,
                     "conversion_from_start": _ratio(reached[i], reached[0]),
                     "drop_off": None if previous is None else 1 - previous})
    return rows


def risky_events(logins: list[dict], device_changes: list[dict]) -> list[dict]:
    """Successful logins from a device without a strictly earlier successful login of the
    user (`new_device_login`), and every device change (its `change_type`)."""
    first_use: dict[tuple[str, str], datetime] = {}
    for e in logins:
        if e["success"]:
            key = (e["user_id"], e["device_id"])
            if key not in first_use or e["event_time"] < first_use[key]:
                first_use[key] = e["event_time"]
    risky = [{"user_id": e["user_id"], "event_id": e["event_id"], "time": e["event_time"],
              "reason": "new_device_login"}
             for e in logins
             if e["success"] and e["event_time"] == first_use[e["user_id"], e["device_id"]]]
    risky += [{"user_id": e["user_id"], "event_id": e["event_id"], "time": e["event_time"],
               "reason": e["change_type"]} for e in device_changes]
    return risky


def account_takeover_alerts(logins: list[dict], device_changes: list[dict],
                            transactions: list[dict]) -> list[dict]:
    """Transactions >= 100.00 within [t, t + 10 min] of a risky event at t of the same user."""
    by_user: dict[str, list[dict]] = defaultdict(list)
    for r in risky_events(logins, device_changes):
        by_user[r["user_id"]].append(r)
    for risky in by_user.values():
        risky.sort(key=lambda r: r["time"])
    rows = []
    for tx in transactions:
        risky = by_user.get(tx["user_id"], [])
        if tx["amount"] < TAKEOVER_MIN_AMOUNT or not risky:
            continue
        times = [r["time"] for r in risky]
        t = tx["event_time"]
        for r in risky[bisect_left(times, t - TAKEOVER_WINDOW):bisect_right(times, t)]:
            rows.append({
                "transaction_id": tx["transaction_id"], "user_id": tx["user_id"],
                "amount": tx["amount"], "transaction_time": t,
                "trigger_event_id": r["event_id"], "trigger_reason": r["reason"],
                "trigger_time": r["time"], "seconds_after_trigger": seconds(t - r["time"]),
            })
    return rows


def is_error(log: dict) -> bool:
    return log["level"] == "ERROR" or "exception" in log["message"].lower()


def error_alerts(app_logs: list[dict], threshold: int = DEFAULT_THRESHOLD) -> list[dict]:
    """Per (minute, service): errors, total, rate; only where errors exceed `threshold`."""
    total: Counter[tuple] = Counter()
    errors: Counter[tuple] = Counter()
    for log in app_logs:
        key = (minute(log["event_time"]), log["service"])
        total[key] += 1
        errors[key] += is_error(log)
    return [{"window_start": w, "service": s, "error_count": errors[w, s],
             "total_count": n, "error_rate": errors[w, s] / n}
            for (w, s), n in total.items() if errors[w, s] > threshold]


def within_horizon(events: dict[str, list[dict]], now: datetime | None,
                   retention: timedelta | None) -> dict[str, list[dict]]:
    """The events whose event_time + retention is not before `now` (all when either is None)."""
    if now is None or retention is None:
        return events
    oldest = now - retention
    return {t: [e for e in es if e["event_time"] >= oldest] for t, es in events.items()}


def marts(received: Received | dict[str, list[dict]], *, now: datetime | None = None,
          retention: timedelta | None = DEFAULT_RETENTION,
          threshold: int = DEFAULT_THRESHOLD) -> dict[str, list[dict]]:
    """All five marts for the received events (or typed events per topic) as of `now`."""
    events = received.events if isinstance(received, Received) else received
    ev = defaultdict(list, within_horizon(events, now, retention))
    sessions = user_sessions(ev["clicks"], ev["cart_events"], ev["purchases"])
    return {
        "page_views_per_minute": page_views_per_minute(ev["clicks"]),
        "user_sessions": sessions,
        "funnel_conversion": funnel_conversion(sessions),
        "account_takeover_alerts": account_takeover_alerts(
            ev["logins"], ev["device_changes"], ev["transactions"]),
        "error_alerts": error_alerts(ev["app_logs"], threshold),
    }


# -- comparing a mart with the reference ------------------------------------------------------

def normalize(column: str, value: object) -> object:
    """A value as the reference types it: UTC datetimes, Decimal numbers, float rates."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if column in RATE_COLUMNS:
        return float(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    return value


def _same(column: str, a: object, b: object) -> bool:
    a, b = normalize(column, a), normalize(column, b)
    if column in RATE_COLUMNS and a is not None and b is not None:
        return math.isclose(a, b, rel_tol=RATE_TOLERANCE, abs_tol=RATE_TOLERANCE)
    return a == b


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    return repr(value)


def _show(row: dict, columns: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"{c}={_text(row.get(c))}" for c in columns) + ")"


def compare(mart: str, expected: list[dict], actual: list[dict], limit: int = 20) -> list[str]:
    """Readable differences between the reference rows and a mart's rows ([] when equal):
    rows missing, rows extra, and rows whose values differ (matched by the mart's key)."""
    keys, columns = MART_COLUMNS[mart]

    def index(rows: list[dict], side: str, problems: list[str]) -> dict[tuple, dict]:
        out: dict[tuple, dict] = {}
        for row in rows:
            key = tuple(normalize(k, row[k]) for k in keys)
            if key in out:
                problems.append(f"{mart}: {side} has two rows for key {_show(row, keys)}")
            out[key] = row
        return out

    problems: list[str] = []
    want, got = index(expected, "reference", problems), index(actual, "mart", problems)
    for key in sorted(want.keys() - got.keys(), key=repr):
        problems.append(f"{mart}: missing row {_show(want[key], columns)}")
    for key in sorted(got.keys() - want.keys(), key=repr):
        problems.append(f"{mart}: unexpected row {_show(got[key], columns)}")
    for key in sorted(want.keys() & got.keys(), key=repr):
        w, g = want[key], got[key]
        bad = [c for c in columns if c in w and not _same(c, w[c], g.get(c))]
        if bad:
            problems.append(f"{mart}: row {_show(w, keys)} differs: " + ", ".join(
                f"{c} expected {_text(w[c])} got {_text(g.get(c))}" for c in bad))
    if len(problems) > limit:
        problems = [*problems[:limit], f"... and {len(problems) - limit} more"]
    return problems
