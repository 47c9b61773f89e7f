"""The `account_takeover_alerts` rule in plain Python (from CONTRACTS.md): the baseline the model
is compared with (tests/scoring, bench/scoring_bench.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from app.scoring.reference import parse_time
from loadgen.model import validate

WINDOW = timedelta(minutes=10)


def flagged(records: list[dict]) -> set[str]:
    """Transaction ids the rule alerts on: >= 100.00 within [risky, risky + 10 min]."""
    seen: set[tuple[str, str]] = set()
    logins, risky, txs = defaultdict(list), defaultdict(list), []
    for r in records:
        if "malformed" in r or "value" not in r:
            continue
        topic, e = r["topic"], r["value"]
        if topic not in ("logins", "device_changes", "transactions") or validate(topic, e):
            continue
        if (topic, e["event_id"]) in seen:
            continue
        seen.add((topic, e["event_id"]))
        t = parse_time(e["event_time"])
        if topic == "logins" and e["success"]:
            logins[e["user_id"]].append((t, e["device_id"]))
        elif topic == "device_changes":
            risky[e["user_id"]].append(t)
        elif topic == "transactions":
            txs.append((e["transaction_id"], e["user_id"], Decimal(str(e["amount"])), t))
    for user, rows in logins.items():
        first: dict[str, object] = {}
        for t, device in sorted(rows):
            first.setdefault(device, t)
            if first[device] == t:
                risky[user].append(t)
    return {tid for tid, user, amount, t in txs if amount >= Decimal("100.00")
            and any(r <= t <= r + WINDOW for r in risky.get(user, ()))}
