"""An alert from a rule and a row: its key (what deduplication is by), its cooldown group and
its Slack message. Pure functions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app.alerts import slack
from app.alerts.config import Rule


def plain(value):
    """A row value as stable, JSON-able text/number (times in UTC, RFC 3339)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, dt.date | dt.timedelta):
        return str(value)
    return value


def key(rule: Rule, row: dict) -> str:
    return rule.name + ":" + "|".join(str(plain(row.get(k))) for k in rule.key)


def cooldown_group(rule: Rule, row: dict) -> str | None:
    if rule.cooldown_seconds <= 0:
        return None
    return "|".join(str(plain(row.get(k))) for k in rule.cooldown_by) or "*"


def payload(rule: Rule, row: dict, alert_key: str, origin: str) -> dict:
    """The Block Kit message for `row` (already `plain`)."""
    try:
        text = rule.text.format(**row) if rule.text else ""
    except (KeyError, ValueError, TypeError, IndexError):
        text = ", ".join(f"{k}={v}" for k, v in row.items())
    names = rule.fields or tuple(row)
    fields = [(n, row.get(n)) for n in names if n in row]
    return slack.message(rule.title, text, fields, f"rule `{rule.name}` · key `{alert_key}` · "
                                                   f"{origin}")
