"""Follow a relation with SUBSCRIBE: the snapshot, then every change, delivered to a callback
per completed timestamp (rows with a positive diff). Reconnects with backoff and logs why;
each reconnect reads the snapshot again, which deduplication by key turns into "only what
appeared while disconnected"."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from app.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_MAX = 10.0


def relation_sql(name: str) -> sql.Composable:
    """`schema.name` or `name` as quoted identifiers (names come from the rules file)."""
    return sql.Identifier(*name.split("."))


def follow(settings: Settings, relation: str, on_rows: Callable[[list[dict], bool], None],
           stop: threading.Event, on_error: Callable[[str], None] | None = None) -> None:
    """Run until `stop`: `on_rows(rows, snapshot)` for the inserted rows of each timestamp
    (`snapshot` is True for the first batch after each (re)connect)."""
    backoff = 0.5
    query = sql.SQL("subscribe {} with (progress)").format(relation_sql(relation))
    while not stop.is_set():
        try:
            t0 = time.monotonic()
            with psycopg.connect(**settings.conninfo("eddy-alerts"), autocommit=True) as conn:
                _stream(conn, query, on_rows, stop, relation, t0)
        except psycopg.Error as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            msg = (f"SUBSCRIBE to {relation} at {settings.address} failed: {reason}; "
                   f"retrying in {backoff:.1f} s")
            log.warning(msg)
            if on_error:
                on_error(msg)
            stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
        else:
            backoff = 0.5


def _stream(conn, query, on_rows, stop, relation: str, t0: float) -> None:
    cur = conn.cursor()
    snapshot, inserted, names = True, [], None
    for row in cur.stream(query):
        if names is None:
            names = [c.name for c in cur.description][3:]
        _ts, progressed, diff, *values = row
        if progressed:
            if inserted or snapshot:
                on_rows(inserted, snapshot)
                if snapshot:
                    log.info("following %s: snapshot of %d rows read %.2f s after connecting",
                             relation, len(inserted), time.monotonic() - t0)
                inserted, snapshot = [], False
            if stop.is_set():
                conn.cancel_safe()
                return
        elif diff is not None and diff > 0:
            inserted.append(dict(zip(names, values, strict=True)))
    raise psycopg.OperationalError("the subscription ended")
