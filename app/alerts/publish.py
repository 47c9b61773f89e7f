"""The delivery log, copied into the engine table `alert_deliveries` (created if missing) so the
dashboard shows it next to the data it is about, on any target (eddy or Materialize). Rows wait
in the local store while the engine is unreachable and are copied when it is back."""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from app.alerts.store import Store

TABLE = "alert_deliveries"
CREATE = sql.SQL("create table if not exists {} (at timestamptz, rule text, alert_key text, "
                 "status text, attempts integer, detail text)").format(sql.Identifier(TABLE))
ROW = sql.SQL("(%s, %s, %s, %s, %s, %s)")


def publish(conn: psycopg.Connection, store: Store, batch: int = 200) -> int:
    """Copy unpublished log rows in one INSERT per batch; returns how many were copied."""
    conn.execute(CREATE)
    copied = 0
    while rows := store.unpublished(batch):
        query = sql.SQL("insert into {} values {}").format(
            sql.Identifier(TABLE), sql.SQL(", ").join([ROW] * len(rows)))
        params = []
        for _id, at, rule, key, status, attempts, detail in rows:
            params += [dt.datetime.fromtimestamp(at, dt.UTC), rule, key, status, attempts, detail]
        conn.execute(query, params)
        store.mark_published([r[0] for r in rows])
        copied += len(rows)
    return copied
