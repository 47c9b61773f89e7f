"""Pure parts of the alerting process: the rules file, alert keys and messages, the health
metrics computed from status samples, and the Slack answer classification."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from receiver import Receiver

from app.alerts import alert, config, health, slack


def test_default_rules_file_loads_and_names_every_contract_rule():
    c = config.load(config.DEFAULT_PATH, {"SLACK_WEBHOOK_URL": "https://hooks.example/x"})
    assert c.delivery.webhook_url == "https://hooks.example/x"
    by_name = {r.name: r for r in c.rules}
    assert by_name["account_takeover"].relation == "account_takeover_alerts"
    assert by_name["error_rate"].relation == "error_alerts"
    assert {r.metric for r in c.rules if r.kind == "threshold"} == set(config.METRICS)


@pytest.mark.parametrize("raw, problem", [
    ({"rule": [{"name": "x", "kind": "nope"}]}, "kind"),
    ({"rule": [{"name": "x", "kind": "new_rows", "relation": "t"}]}, "key"),
    ({"rule": [{"name": "x", "kind": "threshold", "metric": "cpu"}]}, "metric"),
    ({"rule": [{"name": "x", "kind": "new_rows", "relation": "t", "key": ["a"], "colour": 1}]},
     "colour"),
    ({"rule": [{"name": "x", "kind": "threshold", "metric": "consumer_lag"}] * 2}, "unique"),
])
def test_bad_rules_are_rejected_with_the_rule_and_the_problem(raw, problem):
    with pytest.raises(config.ConfigError, match=problem):
        config.parse(raw, {}, "rules.toml")


def test_alert_key_and_message_are_stable_and_readable():
    rule = config.load().rules[0]
    row = {k: alert.plain(v) for k, v in {
        "transaction_id": "tx1", "user_id": "u1", "amount": Decimal("120.50"),
        "transaction_time": dt.datetime(2026, 12, 1, 10, 0, 5, tzinfo=dt.UTC),
        "trigger_event_id": "e9", "trigger_reason": "mfa_disabled",
        "trigger_time": dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "seconds_after_trigger": Decimal("5.000")}.items()}
    assert alert.key(rule, row) == "account_takeover:tx1|e9"
    assert row["trigger_time"] == "2026-12-01T09:00:00+00:00"
    msg = alert.payload(rule, row, "account_takeover:tx1|e9", "engine x")
    assert msg["blocks"][0]["type"] == "header"
    assert msg["blocks"][1]["text"]["text"] == (
        "User *u1* paid *120.5* (transaction `tx1`) 5 s after *mfa_disabled*.")
    assert {"type": "mrkdwn", "text": "*trigger_reason*\nmfa_disabled"} in msg["blocks"][2]["fields"]
    assert "account_takeover:tx1|e9" in msg["blocks"][-1]["elements"][0]["text"]


def test_health_metrics_from_samples():
    s = health.Sampler()
    m = s.metrics([("src_clicks", "running", 100, 0)], {"src_clicks": 7}, now=1000.0)
    assert m["consumer_lag"] == {"src_clicks": 7.0}
    assert m["source_not_running"] == {"src_clicks": 0.0}
    s.metrics([("src_clicks", "running", 100, 4)], {}, now=1030.0)
    m = s.metrics([("src_clicks", "stalled", 100, 25)], {}, now=1070.0)
    assert m["staleness_seconds"]["src_clicks"] == 70.0       # offsets never advanced
    # 25 dead letters between the samples at 1000 and 1070: scaled to one minute
    assert m["dead_letters_per_minute"]["src_clicks"] == pytest.approx(25 * 60 / 70)
    assert m["source_not_running"]["src_clicks"] == 1.0
    m = s.metrics([("src_clicks", "running", 150, 25)], {}, now=1080.0)
    assert m["staleness_seconds"]["src_clicks"] == 0.0


def test_slack_answers_are_classified_for_the_retry_policy():
    r = Receiver([500, 429, 404, "ok"])
    try:
        first, second, third, fourth = (slack.post(r.url, {"text": "x"}, 2) for _ in range(4))
    finally:
        r.close()
    assert (first.ok, first.retryable) == (False, True)
    assert (second.ok, second.retryable) == (False, True)
    assert (third.ok, third.retryable) == (False, False)
    assert fourth.ok
    refused = slack.post("http://127.0.0.1:9/hook", {"text": "x"}, 1)
    assert refused.retryable and "connection failed" in refused.detail
