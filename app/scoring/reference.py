"""The features of a transaction in plain Python, point in time: from the events strictly before it.

Written from the feature definitions (models/features/_features.yml), sharing no SQL with the
views. It is the training set's feature source (`python -m app.scoring train` reads a load
generator's `--out`) and the oracle of the point-in-time test. Only well-formed events count,
once per `event_id`, within the retention horizon (24 h) before the transaction, as in staging.

    history = History.from_records(records)      # --out records (dicts), any order
    feats = history.features(tx)                 # tx: a transaction event (dict)
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loadgen.model import validate

RETENTION = timedelta(hours=24)
RECENT = timedelta(minutes=10)

#: The feature columns of models/features/, in order (the `features` JSON of a decision).
USER_FEATURES = (
    "tx_count_10m", "tx_sum_10m", "tx_count_24h", "tx_sum_24h", "amount_avg", "amount_stddev",
    "distinct_merchants_24h", "distinct_countries_24h", "last_transaction_time",
    "last_login_time", "last_login_device", "last_login_new_device",
    "last_risky_time", "last_risky_reason",
)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


class History:
    """Every well-formed event of the topics that features read, per user, in time order."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = defaultdict(set)
        self.tx: dict[str, list] = defaultdict(list)        # (time, event_id, amount, merchant, country)
        self.logins: dict[str, list] = defaultdict(list)    # (time, event_id, device) successful
        self.changes: dict[str, list] = defaultdict(list)   # (time, event_id, change_type)
        self._sorted = True

    @classmethod
    def from_records(cls, records: Iterable[dict]) -> History:
        history = cls()
        for record in records:
            if "malformed" in record or "value" not in record:
                continue
            history.add(record["topic"], record["value"])
        return history

    def add(self, topic: str, event: dict) -> None:
        """One event as delivered (duplicates and malformed ones are skipped)."""
        if topic not in ("transactions", "logins", "device_changes"):
            return
        if validate(topic, event) is not None or event["event_id"] in self.seen[topic]:
            return
        self.seen[topic].add(event["event_id"])
        t, eid, user = parse_time(event["event_time"]), event["event_id"], event["user_id"]
        if topic == "transactions":
            self.tx[user].append((t, eid, _money(event["amount"]), event["merchant_id"],
                                  event["country"]))
        elif topic == "logins":
            if event["success"]:
                self.logins[user].append((t, eid, event["device_id"]))
        else:
            self.changes[user].append((t, eid, event["change_type"]))
        self._sorted = False

    def add_row(self, topic: str, user: str, event_id: str, t: datetime, *rest) -> None:
        """One typed staging row (already valid and deduplicated); see features.EXACT_SQL."""
        if topic == "transactions":
            amount, merchant, country = rest
            self.tx[user].append((t, event_id, _money(amount), merchant, country))
        elif topic == "logins":
            self.logins[user].append((t, event_id, rest[0]))
        else:
            self.changes[user].append((t, event_id, rest[0]))
        self._sorted = False

    def _sort(self) -> None:
        if not self._sorted:
            for table in (self.tx, self.logins, self.changes):
                for rows in table.values():
                    rows.sort()
            self._sorted = True

    def features(self, tx: dict) -> dict:
        """The user features of transaction `tx` from the events strictly before it."""
        self._sort()
        t, user = tx["event_time"], tx["user_id"]
        if isinstance(t, str):
            t = parse_time(t)
        out: dict = dict.fromkeys(USER_FEATURES)
        rows = self.tx.get(user, [])
        day = rows[bisect_left(rows, (t - RETENTION,)):bisect_left(rows, (t,))]
        recent = [r for r in day if r[0] >= t - RECENT]
        amounts = [r[2] for r in day]
        out["tx_count_10m"] = len(recent)
        out["tx_sum_10m"] = sum((r[2] for r in recent), Decimal("0.00"))
        out["tx_count_24h"] = len(day)
        out["tx_sum_24h"] = sum(amounts, Decimal("0.00"))
        if amounts:
            n = len(amounts)
            mean = sum(amounts) / n
            out["amount_avg"] = float(mean)
            if n > 1:
                var = sum((a - mean) ** 2 for a in amounts) / (n - 1)
                out["amount_stddev"] = math.sqrt(float(var))
            out["last_transaction_time"] = day[-1][0]
        out["distinct_merchants_24h"] = len({r[3] for r in day})
        out["distinct_countries_24h"] = len({r[4] for r in day})
        logins = [r for r in self.logins.get(user, []) if t - RETENTION <= r[0] < t]
        risky = [(r[0], r[1], r[2]) for r in self.changes.get(user, [])
                 if t - RETENTION <= r[0] < t]
        first_use: dict[str, datetime] = {}
        for when, eid, device in logins:
            first_use.setdefault(device, when)  # rows are in time order
            if first_use[device] == when:
                risky.append((when, eid, "new_device_login"))
        if logins:
            when, _, device = max(logins, key=lambda r: (r[0], r[1]))
            out["last_login_time"] = when
            out["last_login_device"] = device
            out["last_login_new_device"] = first_use[device] == when
        if risky:
            when, _, reason = max(risky, key=lambda r: (r[0], r[1]))
            out["last_risky_time"] = when
            out["last_risky_reason"] = reason
        return out
