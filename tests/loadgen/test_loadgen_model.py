"""The contract validator: accepts contract events, names the field of a bad one."""

import json

import pytest

from loadgen.model import TOPICS, validate, validate_message

GOOD = {
    "clicks": {"user_id": "u1", "event_type": "product_view", "page_url": "/product/p1",
               "product_id": "p1", "referrer": None, "user_agent": "UA", "country": "DE"},
    "cart_events": {"user_id": "u1", "event_type": "add_to_cart", "product_id": "p1",
                    "quantity": 2, "unit_price": 19.99},
    "purchases": {"user_id": "u1", "order_id": "o1", "amount": 39.98, "currency": "EUR",
                  "item_count": 2},
    "logins": {"user_id": "u1", "device_id": "d1", "ip": "10.0.0.1", "country": "DE",
               "success": True},
    "device_changes": {"user_id": "u1", "change_type": "password_reset", "device_id": None},
    "transactions": {"transaction_id": "t1", "user_id": "u1", "amount": 120, "currency": "EUR",
                     "merchant_id": "m1", "country": "DE", "device_id": "d1"},
    "app_logs": {"service": "web", "level": "ERROR", "message": "boom", "trace_id": None},
}
COMMON = {"event_id": "0d9f0a5e-7a51-4c5e-9a59-0b4a3f0f0001",
          "event_time": "2026-11-20T10:11:12.345Z"}


def event(topic, **changes):
    e = {**COMMON, **GOOD[topic], **changes}
    return {k: v for k, v in e.items() if v != "<drop>"}


@pytest.mark.parametrize("topic", list(TOPICS))
def test_contract_events_are_valid(topic):
    assert set(GOOD[topic]) == set(TOPICS[topic])
    assert validate(topic, event(topic)) is None
    assert validate(topic, event(topic, extra_field=1)) is None  # extra fields are allowed


@pytest.mark.parametrize("topic, changes, reason", [
    ("clicks", {"user_id": "<drop>"}, "missing field 'user_id'"),
    ("clicks", {"event_type": "click"}, "field 'event_type'"),
    ("clicks", {"country": "Germany"}, "field 'country'"),
    ("clicks", {"product_id": 7}, "field 'product_id'"),
    ("cart_events", {"quantity": 0}, "field 'quantity'"),
    ("cart_events", {"quantity": True}, "field 'quantity'"),
    ("cart_events", {"unit_price": 1.234}, "field 'unit_price'"),
    ("cart_events", {"unit_price": "1.23"}, "field 'unit_price'"),
    ("purchases", {"currency": "euro"}, "field 'currency'"),
    ("logins", {"success": 1}, "field 'success'"),
    ("device_changes", {"change_type": "device_removed"}, "field 'change_type'"),
    ("transactions", {"amount": None}, "field 'amount'"),
    ("app_logs", {"level": "FATAL"}, "field 'level'"),
    ("app_logs", {"event_id": "<drop>"}, "missing field 'event_id'"),
    ("app_logs", {"event_time": "2026-11-20 10:11:12"}, "field 'event_time'"),
    ("app_logs", {"event_time": "2026-11-20T10:11:12Z"}, "field 'event_time'"),
    ("app_logs", {"event_time": "2026-13-20T10:11:12.345Z"}, "field 'event_time'"),
    ("app_logs", {"event_time": 1763633472345}, "field 'event_time'"),
])
def test_bad_events_name_the_field(topic, changes, reason):
    problem = validate(topic, event(topic, **changes))
    assert problem is not None and problem.startswith(reason), problem


def test_raw_messages():
    assert validate_message("logins", json.dumps(event("logins")).encode()) is None
    assert validate_message("logins", b'{"event_id": "x",').startswith("invalid JSON")
    assert validate_message("logins", b"[1, 2]") == "event is not a JSON object"
    assert validate_message("orders", b"{}") == "unknown topic 'orders'"
