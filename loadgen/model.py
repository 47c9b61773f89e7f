"""The event contracts of CONTRACTS.md as data, and the validator shared by the API and tests.

`validate(topic, event)` returns None for a well-formed event and otherwise a short reason
naming the offending field (``missing field 'user_id'``, ``field 'amount': expected a number
with at most 2 decimals``...). Extra fields are allowed; the contract only fixes these.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime

EVENT_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")
_COUNTRY_RE = re.compile(r"[A-Z]{2}\Z")
_CURRENCY_RE = re.compile(r"[A-Z]{3}\Z")

Check = Callable[[object], str | None]


def _string(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "expected a non-empty string"
    return None


def _optional(check: Check) -> Check:
    def optional(value: object) -> str | None:
        return None if value is None else check(value)

    return optional


def _enum(*allowed: str) -> Check:
    def enum(value: object) -> str | None:
        if value not in allowed:
            return "expected one of " + ", ".join(allowed)
        return None

    return enum


def _pattern(regex: re.Pattern[str], what: str) -> Check:
    def pattern(value: object) -> str | None:
        if not isinstance(value, str) or not regex.match(value):
            return f"expected {what}"
        return None

    return pattern


def _positive_int(value: object) -> str | None:
    if type(value) is not int or value < 1:
        return "expected an integer >= 1"
    return None


def _money(value: object) -> str | None:
    if type(value) not in (int, float):
        return "expected a number with at most 2 decimals"
    cents = value * 100
    if abs(cents - round(cents)) > 1e-6 * max(1.0, abs(cents)) or value != value:
        return "expected a number with at most 2 decimals"
    return None


def _boolean(value: object) -> str | None:
    if type(value) is not bool:
        return "expected a boolean"
    return None


def _event_time(value: object) -> str | None:
    if isinstance(value, str) and EVENT_TIME_RE.match(value):
        try:
            datetime.fromisoformat(value)
            return None
        except ValueError:
            pass
    return "expected RFC 3339 UTC time with milliseconds, e.g. 2026-11-20T10:11:12.345Z"


_country = _pattern(_COUNTRY_RE, "an ISO 3166 alpha-2 country code")
_currency = _pattern(_CURRENCY_RE, "an ISO 4217 currency code")

COMMON_FIELDS: dict[str, Check] = {"event_id": _string, "event_time": _event_time}

#: topic -> {field: check}, in the order the generator writes them.
TOPICS: dict[str, dict[str, Check]] = {
    "clicks": {
        "user_id": _string,
        "event_type": _enum("page_view", "product_view"),
        "page_url": _string,
        "product_id": _optional(_string),
        "referrer": _optional(_string),
        "user_agent": _string,
        "country": _country,
    },
    "cart_events": {
        "user_id": _string,
        "event_type": _enum("add_to_cart", "remove_from_cart"),
        "product_id": _string,
        "quantity": _positive_int,
        "unit_price": _money,
    },
    "purchases": {
        "user_id": _string,
        "order_id": _string,
        "amount": _money,
        "currency": _currency,
        "item_count": _positive_int,
    },
    "logins": {
        "user_id": _string,
        "device_id": _string,
        "ip": _string,
        "country": _country,
        "success": _boolean,
    },
    "device_changes": {
        "user_id": _string,
        "change_type": _enum("device_added", "password_reset", "mfa_disabled"),
        "device_id": _optional(_string),
    },
    "transactions": {
        "transaction_id": _string,
        "user_id": _string,
        "amount": _money,
        "currency": _currency,
        "merchant_id": _string,
        "country": _country,
        "device_id": _string,
    },
    "app_logs": {
        "service": _string,
        "level": _enum("DEBUG", "INFO", "WARN", "ERROR"),
        "message": _string,
        "trace_id": _optional(_string),
    },
}

#: The field whose value (UTF-8) is the Kafka message key.
KEY_FIELD: dict[str, str] = {topic: "user_id" for topic in TOPICS} | {"app_logs": "service"}


def required_fields(topic: str) -> list[str]:
    """All contract fields of `topic`, common ones first."""
    return [*COMMON_FIELDS, *TOPICS[topic]]


def validate(topic: str, event: object) -> str | None:
    """None when `event` is a well-formed event of `topic`, else the reason it is not."""
    fields = TOPICS.get(topic)
    if fields is None:
        return f"unknown topic {topic!r}"
    if not isinstance(event, dict):
        return "event is not a JSON object"
    for checks in (COMMON_FIELDS, fields):
        for name, check in checks.items():
            if name not in event:
                return f"missing field {name!r}"
            problem = check(event[name])
            if problem is not None:
                return f"field {name!r}: {problem}"
    return None


def validate_message(topic: str, value: bytes | str) -> str | None:
    """Like `validate` for a raw Kafka message value (JSON text)."""
    try:
        event = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"invalid JSON: {exc}"
    return validate(topic, event)


def message_key(topic: str, event: dict) -> str:
    """The contract's message key for a (valid) event of `topic`."""
    return str(event[KEY_FIELD[topic]])
