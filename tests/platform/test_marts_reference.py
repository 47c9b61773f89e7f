"""The marts' reference on hand-made cases: the hard cases of the contract, one by one."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from marts_reference import compare, marts, receive

from loadgen.faults import FaultConfig
from loadgen.runner import RunOptions, messages

_ids = itertools.count()


def at(hh_mm_ss: str) -> str:
    """An event_time on 2026-11-20 from 'HH:MM:SS.mmm' (or 'HH:MM')."""
    if len(hh_mm_ss) == 5:
        hh_mm_ss += ":00.000"
    return f"2026-11-20T{hh_mm_ss}Z"


def ts(hh_mm_ss: str) -> datetime:
    return datetime.fromisoformat(at(hh_mm_ss))


def event(topic: str, time: str, **fields) -> tuple[str, dict]:
    return topic, {"event_id": f"e{next(_ids)}", "event_time": at(time), **fields}


def click(user: str, time: str, kind: str = "page_view", url: str = "/") -> tuple[str, dict]:
    return event("clicks", time, user_id=user, event_type=kind, page_url=url,
                 product_id="p1" if kind == "product_view" else None, referrer=None,
                 user_agent="test", country="DE")


def cart(user: str, time: str, kind: str = "add_to_cart") -> tuple[str, dict]:
    return event("cart_events", time, user_id=user, event_type=kind, product_id="p1",
                 quantity=1, unit_price=9.99)


def purchase(user: str, time: str, amount: float = 9.99) -> tuple[str, dict]:
    return event("purchases", time, user_id=user, order_id=f"o{next(_ids)}", amount=amount,
                 currency="EUR", item_count=1)


def login(user: str, time: str, device: str, success: bool = True) -> tuple[str, dict]:
    return event("logins", time, user_id=user, device_id=device, ip="10.0.0.1", country="DE",
                 success=success)


def device_change(user: str, time: str, kind: str = "password_reset") -> tuple[str, dict]:
    return event("device_changes", time, user_id=user, change_type=kind, device_id=None)


def transaction(user: str, time: str, amount: float = 150.0) -> tuple[str, dict]:
    return event("transactions", time, transaction_id=f"t{next(_ids)}", user_id=user,
                 amount=amount, currency="EUR", merchant_id="m1", country="DE", device_id="d9")


def log(service: str, time: str, level: str = "ERROR", message: str = "boom") -> tuple[str, dict]:
    return event("app_logs", time, service=service, level=level, message=message, trace_id=None)


def mart(name: str, messages, **options) -> list[dict]:
    return marts(receive(messages), **options)[name]


def sessions(messages) -> list[tuple]:
    return sorted((r["user_id"], r["session_start"], r["session_end"], r["event_count"])
                  for r in mart("user_sessions", messages))


def alerts(messages) -> list[tuple]:
    return sorted((r["transaction_id"], r["trigger_event_id"], r["trigger_reason"])
                  for r in mart("account_takeover_alerts", messages))


# -- sessions ---------------------------------------------------------------------------------

def test_a_gap_of_exactly_30_minutes_continues_the_session_one_ms_more_starts_a_new_one():
    same = [click("u1", "10:00"), cart("u1", "10:30")]
    split = [click("u2", "10:00"), purchase("u2", "10:30:00.001")]
    assert sessions(same + split) == [
        ("u1", ts("10:00"), ts("10:30"), 2),
        ("u2", ts("10:00"), ts("10:00"), 1),
        ("u2", ts("10:30:00.001"), ts("10:30:00.001"), 1),
    ]


def test_a_late_event_merges_two_sessions():
    early, later = click("u1", "10:00"), click("u1", "11:00", "product_view")
    late = cart("u1", "10:30")
    assert sessions([early, later]) == [("u1", ts("10:00"), ts("10:00"), 1),
                                        ("u1", ts("11:00"), ts("11:00"), 1)]
    assert sessions([early, later, late]) == [("u1", ts("10:00"), ts("11:00"), 3)]


def test_session_columns_count_each_kind_and_sum_revenue():
    rows = mart("user_sessions", [
        click("u1", "10:00"), click("u1", "10:01", "product_view"),
        click("u1", "10:02", "product_view"), cart("u1", "10:03"),
        cart("u1", "10:04", "remove_from_cart"), purchase("u1", "10:05", 10.10),
        purchase("u1", "10:06:30.500", 0.20), click("u2", "10:00")])
    by_user = {r["user_id"]: r for r in rows}
    u1 = by_user["u1"]
    assert (u1["event_count"], u1["page_views"], u1["product_views"], u1["cart_adds"],
            u1["purchases"]) == (7, 1, 2, 1, 2)
    assert u1["revenue"] == Decimal("10.30") and u1["converted"] is True
    assert u1["duration_seconds"] == Decimal("390.5")
    u2 = by_user["u2"]
    assert (u2["revenue"], u2["converted"], u2["duration_seconds"]) == (0, False, 0)


def test_sessions_are_per_user_and_ignore_other_topics():
    rows = sessions([click("u1", "10:00"), click("u2", "10:10"), login("u1", "10:05", "d1"),
                     transaction("u1", "10:06")])
    assert rows == [("u1", ts("10:00"), ts("10:00"), 1), ("u2", ts("10:10"), ts("10:10"), 1)]


# -- funnel -----------------------------------------------------------------------------------

def test_funnel_steps_need_the_previous_step():
    rows = mart("funnel_conversion", [
        # reaches purchase
        click("a", "10:00", "product_view"), cart("a", "10:01"), purchase("a", "10:02"),
        # purchase without a product view: stops at visit
        click("b", "10:00"), cart("b", "10:01"), purchase("b", "10:02"),
        # product view only
        click("c", "10:00", "product_view"),
        # no click at all: reaches no step
        cart("d", "10:00"), purchase("d", "10:01"),
        # a second session of "a", a visit only
        click("a", "12:00"),
    ])
    got = {r["step"]: (r["step_order"], r["sessions"], r["conversion_from_previous"],
                       r["conversion_from_start"], r["drop_off"]) for r in rows}
    assert got == {
        "visit": (1, 4, None, 1.0, None),
        "product_view": (2, 2, 0.5, 0.5, 0.5),
        "add_to_cart": (3, 1, 0.5, 0.25, 0.5),
        "purchase": (4, 1, 1.0, 0.25, 0.0),
    }


# -- account takeover -------------------------------------------------------------------------

def test_a_transaction_exactly_10_minutes_after_the_trigger_alerts_one_ms_later_not():
    trigger = device_change("u1", "10:00", "mfa_disabled")
    inside, at_trigger = transaction("u1", "10:10"), transaction("u1", "10:00")
    outside, before = transaction("u1", "10:10:00.001"), transaction("u1", "09:59:59.999")
    rows = mart("account_takeover_alerts", [trigger, inside, at_trigger, outside, before])
    got = {r["transaction_id"]: r for r in rows}
    assert set(got) == {inside[1]["transaction_id"], at_trigger[1]["transaction_id"]}
    row = got[inside[1]["transaction_id"]]
    assert row == {
        "transaction_id": inside[1]["transaction_id"], "user_id": "u1",
        "amount": Decimal("150.00"), "transaction_time": ts("10:10"),
        "trigger_event_id": trigger[1]["event_id"], "trigger_reason": "mfa_disabled",
        "trigger_time": ts("10:00"), "seconds_after_trigger": Decimal(600)}
    assert got[at_trigger[1]["transaction_id"]]["seconds_after_trigger"] == 0


def test_an_amount_of_exactly_100_alerts_99_99_not():
    hundred, below = transaction("u1", "10:01", 100.00), transaction("u1", "10:01", 99.99)
    rows = alerts([device_change("u1", "10:00"), hundred, below])
    assert [r[0] for r in rows] == [hundred[1]["transaction_id"]]


def test_a_device_seen_before_is_not_risky_a_new_one_is():
    first, again = login("u1", "09:00", "d1"), login("u1", "10:00", "d1")
    new = login("u1", "10:00", "d2")
    tx = transaction("u1", "10:05")
    assert alerts([first, again, new, tx]) == [
        (tx[1]["transaction_id"], new[1]["event_id"], "new_device_login")]


def test_two_first_logins_at_the_same_instant_are_both_new():
    one, two = login("u1", "10:00", "d1"), login("u1", "10:00", "d1")
    later = login("u1", "10:02", "d1")
    tx = transaction("u1", "10:03")
    assert alerts([one, two, later, tx]) == sorted([
        (tx[1]["transaction_id"], one[1]["event_id"], "new_device_login"),
        (tx[1]["transaction_id"], two[1]["event_id"], "new_device_login")])


def test_a_failed_login_from_a_new_device_is_not_risky_and_does_not_make_it_known():
    failed, ok = login("u1", "10:00", "d1", success=False), login("u1", "10:05", "d1")
    early_tx, tx = transaction("u1", "10:01"), transaction("u1", "10:06")
    assert alerts([failed, early_tx, ok, tx]) == [
        (tx[1]["transaction_id"], ok[1]["event_id"], "new_device_login")]


def test_a_late_earlier_login_makes_a_device_known():
    later, tx = login("u1", "10:00", "d1"), transaction("u1", "10:01")
    assert len(alerts([later, tx])) == 1
    assert alerts([later, tx, login("u1", "09:00", "d1")]) == []


def test_takeover_needs_the_same_user_and_every_trigger_gets_a_row():
    a, b = device_change("u1", "10:00", "device_added"), login("u1", "10:02", "d7")
    tx = transaction("u1", "10:05")
    rows = alerts([a, b, tx, transaction("u2", "10:05"), device_change("u3", "10:00")])
    assert rows == sorted([(tx[1]["transaction_id"], a[1]["event_id"], "device_added"),
                           (tx[1]["transaction_id"], b[1]["event_id"], "new_device_login")])


# -- error alerts -----------------------------------------------------------------------------

def test_error_count_exactly_at_the_threshold_has_no_row_one_above_has():
    at_threshold = [log("web", f"10:00:{i:02d}.000") for i in range(5)]
    above = [log("cart", f"10:00:{i:02d}.000") for i in range(6)]
    quiet = [log("cart", "10:00:30.000", "INFO", "ok")] * 2  # the same event twice: counts once
    rows = mart("error_alerts", at_threshold + above + quiet)
    assert [(r["window_start"], r["service"], r["error_count"], r["total_count"], r["error_rate"])
            for r in rows] == [(ts("10:00"), "cart", 6, 7, 6 / 7)]
    assert len(mart("error_alerts", at_threshold, threshold=4)) == 1


def test_an_exception_in_any_level_counts_as_an_error_and_windows_are_minutes():
    msgs = [log("auth", "10:00:00.000", "INFO", "java.lang.NullPointerException at Foo")]
    msgs += [log("auth", f"10:00:{i:02d}.000", "WARN", "EXCEPTION: x") for i in range(1, 3)]
    msgs += [log("auth", f"10:00:{i:02d}.000", "DEBUG", "an exception") for i in range(3, 6)]
    msgs += [log("auth", "10:00:59.999", "INFO", "fine"), log("auth", "10:01:00.000")]
    rows = mart("error_alerts", msgs)
    assert [(r["window_start"], r["error_count"], r["total_count"]) for r in rows] == [
        (ts("10:00"), 6, 7)]


# -- page views, receiving, horizon -----------------------------------------------------------

def test_page_views_per_minute_counts_views_and_distinct_users():
    rows = mart("page_views_per_minute", [
        click("u1", "10:00:00.000"), click("u1", "10:00:59.999"), click("u2", "10:00:30.000"),
        click("u1", "10:01:00.000"), click("u1", "10:00:10.000", "product_view", "/p/1")])
    got = sorted((r["window_start"], r["page_url"], r["views"], r["unique_users"]) for r in rows)
    assert got == [(ts("10:00"), "/", 3, 2), (ts("10:00"), "/p/1", 1, 1),
                   (ts("10:01"), "/", 1, 1)]


def test_duplicates_count_once_malformed_and_undecodable_are_counted_not_used():
    good = click("u1", "10:00")
    feb30 = click("u1", "10:01")[1] | {"event_time": "2026-02-30T10:00:00.000Z"}
    hour24 = click("u1", "10:01")[1] | {"event_time": "2026-11-20T24:00:00.000Z"}
    no_user = {k: v for k, v in click("u1", "10:02")[1].items() if k != "user_id"}
    got = receive([good, ("clicks", json.dumps(good[1]).encode()), ("clicks", feb30),
                   ("clicks", hour24), ("clicks", no_user), ("clicks", b'{"event_id": '),
                   ("clicks", "[1, 2]"), ("clicks", b"\xff")])
    assert [e["event_id"] for e in got.events["clicks"]] == [good[1]["event_id"]]
    assert (got.duplicates["clicks"], got.malformed["clicks"], got.undecodable["clicks"]) == (
        1, 3, 3)
    assert mart("page_views_per_minute", [good, good])[0]["views"] == 1


def test_money_is_exact_decimal():
    rows = mart("user_sessions", [purchase("u1", "10:00", 0.1), purchase("u1", "10:01", 0.2)])
    assert rows[0]["revenue"] == Decimal("0.30")


def test_events_older_than_the_retention_horizon_are_left_out():
    now = ts("12:00")
    msgs = [click("u1", "10:00"), click("u1", "11:00"), click("u2", "10:59:59.999")]
    kept = mart("page_views_per_minute", msgs, now=now, retention=timedelta(hours=1))
    assert sorted((r["window_start"], r["views"]) for r in kept) == [(ts("11:00"), 1)]
    everything = mart("page_views_per_minute", msgs, now=now, retention=None)
    assert sum(r["views"] for r in everything) == 3


# -- comparing --------------------------------------------------------------------------------

def test_compare_names_missing_extra_and_differing_rows_and_tolerates_rate_rounding():
    expected = mart("error_alerts", [log("web", f"10:00:{i:02d}.000") for i in range(6)]
                    + [log("web", "10:00:30.000", "INFO", "ok")]
                    + [log("db", f"10:05:{i:02d}.000") for i in range(7)])
    same = [dict(r, error_rate=float(f"{r['error_rate']:.12f}"),
                 window_start=r["window_start"].astimezone(
                     datetime.now(UTC).astimezone().tzinfo)) for r in expected]
    assert compare("error_alerts", expected, same) == []
    changed = [dict(same[0], total_count=8), dict(same[1], window_start=ts("10:06"))]
    problems = compare("error_alerts", expected, changed)
    assert len(problems) == 3, problems
    assert any(p.endswith("'web') differs: total_count expected 7 got 8") for p in problems)
    assert any(p.startswith("error_alerts: missing row") and "db" in p for p in problems)
    assert any(p.startswith("error_alerts: unexpected row") and "10:06" in p for p in problems)


@pytest.mark.parametrize("value", [Decimal("100.00"), 100, 100.0])
def test_compare_treats_equal_numbers_of_any_type_as_equal(value):
    row = {"step_order": 1, "step": "visit", "sessions": 100, "conversion_from_previous": None,
           "conversion_from_start": 1.0, "drop_off": None}
    assert compare("funnel_conversion", [row], [dict(row, sessions=value)]) == []


def test_the_marts_do_not_depend_on_arrival_order():
    """Late and out-of-order delivery: any order of the same messages gives the same marts."""
    opts = RunOptions(seed=5, events=3000, rate=1, users=500, scenario="mixed",
                      faults=FaultConfig(0.1, 1_800_000, 0.05, 0.03),
                      start_ms=1_795_000_000_000, via=None)
    sent = [(topic, value) for topic, _, value, _ in itertools.islice(messages(opts), 3000)]
    shuffled = sent.copy()
    random.Random(1).shuffle(shuffled)
    in_order, reordered = marts(receive(sent)), marts(receive(shuffled))
    assert len(in_order["user_sessions"]) > 100 and in_order["account_takeover_alerts"]
    for name, rows in in_order.items():
        assert compare(name, rows, reordered[name]) == []
