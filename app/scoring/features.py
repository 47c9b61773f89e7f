"""Reading a batch's user features from the engine, point in time.

The online path: one statement per batch reads both feature views (models/features/) for every
user of the batch, by `user_id` (their index), on one snapshot of the engine's last committed
tick. The scorer scores a transaction before the engine has it, so these rows count only
earlier events. A row is valid for a transaction when every event it counts is strictly earlier
(`last_transaction_time`, `last_login_time` and `last_risky_time` before the transaction's
time). When it is not (a transaction the engine already has: replayed after a restart, or
scored late), that transaction's features are computed exactly, as of just before it, from the
user's staging rows with the plain-Python definitions (app/scoring/reference.py).
"""

from __future__ import annotations

import json
from datetime import datetime

import psycopg

from app.scoring.reference import USER_FEATURES, History

# Both views in one statement: one snapshot, one round trip. The batch's user ids are one bound
# parameter, a JSON array: eddy cannot yet cast a bound text[] parameter (`= any(%s)` with a
# list fails there with "can't be cast to VARCHAR[]"), and JSON carries any id text intact.
ONLINE_SQL = """
select
    u.user_id,
    t.tx_count_10m, t.tx_sum_10m, t.tx_count_24h, t.tx_sum_24h, t.amount_avg, t.amount_stddev,
    t.distinct_merchants_24h, t.distinct_countries_24h, t.last_transaction_time,
    l.last_login_time, l.last_login_device, l.last_login_new_device,
    l.last_risky_time, l.last_risky_reason
from (select jsonb_array_elements_text(%s::jsonb) as user_id) as u
left join feat_user_transactions as t on t.user_id = u.user_id
left join feat_user_logins as l on l.user_id = u.user_id
"""

EXACT_SQL = {
    "transactions": "select user_id, event_id, event_time, amount, merchant_id, country "
                    "from stg_transactions where user_id in (select jsonb_array_elements_text(%s::jsonb))",
    "logins": "select user_id, event_id, event_time, device_id "
              "from stg_logins where success and user_id in (select jsonb_array_elements_text(%s::jsonb))",
    "device_changes": "select user_id, event_id, event_time, change_type "
                      "from stg_device_changes where user_id in (select jsonb_array_elements_text(%s::jsonb))",
}

_EMPTY = {"tx_count_10m": 0, "tx_sum_10m": 0, "tx_count_24h": 0, "tx_sum_24h": 0,
          "distinct_merchants_24h": 0, "distinct_countries_24h": 0}


def online(conn: psycopg.Connection, user_ids: list[str]) -> dict[str, dict]:
    """{user_id: features} as of the engine's last committed tick (one statement)."""
    with conn.cursor() as cur:
        cur.execute(ONLINE_SQL, (json.dumps(sorted(set(user_ids))),))
        rows = cur.fetchall()
    out = {}
    for row in rows:
        feats = dict(zip(USER_FEATURES, row[1:], strict=True))
        for name, zero in _EMPTY.items():
            if feats[name] is None:
                feats[name] = zero
        out[row[0]] = feats
    return out


def valid_for(feats: dict, t: datetime) -> bool:
    """Whether every event counted in `feats` is strictly before `t`."""
    return all(feats.get(name) is None or feats[name] < t
               for name in ("last_transaction_time", "last_login_time", "last_risky_time"))


def exact(conn: psycopg.Connection, txs: list[dict]) -> list[dict]:
    """Features of each transaction of `txs` from the user's staging rows strictly before it.

    `txs` items: {"user_id", "event_time" (datetime)}. Three statements, whatever the count.
    """
    users = sorted({tx["user_id"] for tx in txs})
    history = History()
    with conn.cursor() as cur:
        for topic, sql in EXACT_SQL.items():
            cur.execute(sql, (json.dumps(users),))
            for row in cur.fetchall():
                history.add_row(topic, *row)
    return [history.features(tx) for tx in txs]
