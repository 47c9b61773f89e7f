"""The alerting process's durable state, one SQLite file (default .stack/alerts.sqlite):

- `alerts`: every alert key ever seen, with its state (pending, sent, suppressed, failed, logged), the
  message payload, attempts and the time of the next attempt. A key is claimed exactly once,
  so after a restart the SUBSCRIBE snapshot re-delivers only what was never claimed, and
  pending alerts (claimed, not yet acknowledged by Slack) are retried.
- `cooldowns`: when each (rule, group) last accepted an alert for sending.
- `episodes`: open pipeline-health episodes per (rule, subject), so a restart does not reopen one.
- `log`: every delivery outcome (sent, failed, suppressed, logged), with a `published` flag for the
  copy in the engine the dashboard reads (app/alerts/publish.py).

Local (not in the engine) because it must keep working and commit atomically with each outcome
while the engine is unreachable. One connection, guarded by a lock, shared by the threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
create table if not exists alerts (
    key text primary key, rule text not null, state text not null, payload text not null,
    first_seen real not null, attempts integer not null default 0, next_attempt real not null,
    last_error text, done_at real);
create index if not exists alerts_due on alerts (state, next_attempt);
create table if not exists cooldowns (
    rule text not null, grp text not null, last_accepted real not null, primary key (rule, grp));
create table if not exists episodes (
    rule text not null, subject text not null, key text not null, opened real not null,
    primary key (rule, subject));
create table if not exists meta (name text primary key, value text);
create table if not exists log (
    id integer primary key autoincrement, at real not null, rule text not null,
    key text not null, status text not null, attempts integer not null, detail text,
    published integer not null default 0);
"""


@dataclass(frozen=True)
class Pending:
    key: str
    rule: str
    payload: dict
    attempts: int
    first_seen: float


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=full")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self):
        return _Tx(self._db, self._lock)

    # -- first start ---------------------------------------------------------------------

    def started_before(self, rule: str) -> bool:
        """True when `rule` has read a snapshot before; marks it as having done so."""
        with self._tx() as db:
            name = f"started:{rule}"
            seen = db.execute("select 1 from meta where name = ?", [name]).fetchone()
            if not seen:
                db.execute("insert into meta values (?, ?)", [name, str(time.time())])
            return bool(seen)

    # -- claiming --------------------------------------------------------------------------

    def claim(self, key: str, rule: str, payload: dict, cooldown_group: str | None,
              cooldown_seconds: float, now: float | None = None, skip: bool = False) -> str:
        """Record a newly seen alert once: 'duplicate' (key known), 'suppressed' (cooldown or
        `skip`), or 'pending' (to be delivered)."""
        return self.claim_many([(key, rule, payload, cooldown_group, cooldown_seconds)],
                               now, skip)[0]

    def claim_many(self, alerts: list[tuple], now: float | None = None, skip: bool = False
                   ) -> list[str]:
        """`claim` for (key, rule, payload, cooldown_group, cooldown_seconds) tuples, in one
        transaction (a snapshot of thousands of rows is one fsync, not thousands)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            return [_claim(db, now, skip, *a) for a in alerts]

    def due(self, now: float | None = None, limit: int = 100) -> list[Pending]:
        now = time.time() if now is None else now
        with self._tx() as db:
            rows = db.execute(
                "select key, rule, payload, attempts, first_seen from alerts where state = "
                "'pending' and next_attempt <= ? order by first_seen, key limit ?",
                [now, limit]).fetchall()
        return [Pending(k, r, json.loads(p), a, f) for k, r, p, a, f in rows]

    def next_due(self) -> float | None:
        with self._tx() as db:
            row = db.execute("select min(next_attempt) from alerts where state = 'pending'"
                             ).fetchone()
        return row[0] if row else None

    def sent(self, key: str, rule: str, attempts: int, detail: str) -> None:
        self._finish(key, rule, "sent", attempts, detail)

    def logged(self, key: str, rule: str, attempts: int, detail: str) -> None:
        """No webhook configured: the message went to the process log instead."""
        self._finish(key, rule, "logged", attempts, detail)

    def failed(self, key: str, rule: str, attempts: int, detail: str) -> None:
        """Gave up on `key` for good (permanent error or past give_up_after_seconds)."""
        self._finish(key, rule, "failed", attempts, detail)

    def retry(self, key: str, rule: str, attempts: int, detail: str, at: float) -> None:
        """One attempt failed; try again at `at` (logged as 'failed' with the retry plan)."""
        now = time.time()
        with self._tx() as db:
            db.execute("update alerts set attempts = ?, next_attempt = ?, last_error = ? "
                       "where key = ?", [attempts, at, detail, key])
            _log(db, now, rule, key, "failed", attempts, f"{detail}; retry in {at - now:.1f} s")

    def _finish(self, key: str, rule: str, state: str, attempts: int, detail: str) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("update alerts set state = ?, attempts = ?, done_at = ?, last_error = ? "
                       "where key = ?", [state, attempts, now, None if state == "sent" else detail,
                                         key])
            _log(db, now, rule, key, state, attempts, detail)

    # -- health episodes -----------------------------------------------------------------

    def episode(self, rule: str, subject: str) -> str | None:
        with self._tx() as db:
            row = db.execute("select key from episodes where rule = ? and subject = ?",
                             [rule, subject]).fetchone()
        return row[0] if row else None

    def open_episode(self, rule: str, subject: str, key: str) -> None:
        with self._tx() as db:
            db.execute("insert or replace into episodes values (?, ?, ?, ?)",
                       [rule, subject, key, time.time()])

    def close_episode(self, rule: str, subject: str) -> None:
        with self._tx() as db:
            db.execute("delete from episodes where rule = ? and subject = ?", [rule, subject])

    # -- the log -------------------------------------------------------------------------

    def unpublished(self, limit: int = 500) -> list[tuple]:
        """(id, at, rule, key, status, attempts, detail) not yet copied to the engine."""
        with self._tx() as db:
            return db.execute("select id, at, rule, key, status, attempts, detail from log "
                              "where published = 0 order by id limit ?", [limit]).fetchall()

    def mark_published(self, ids: list[int]) -> None:
        with self._tx() as db:
            db.executemany("update log set published = 1 where id = ?", [[i] for i in ids])

    def states(self) -> dict[str, str]:
        with self._tx() as db:
            return dict(db.execute("select key, state from alerts").fetchall())

    def log_rows(self) -> list[tuple]:
        with self._tx() as db:
            return db.execute("select rule, key, status, attempts, detail from log order by id"
                              ).fetchall()


def _claim(db, now, skip, key, rule, payload, cooldown_group, cooldown_seconds) -> str:
    if db.execute("select 1 from alerts where key = ?", [key]).fetchone():
        return "duplicate"
    state, detail = "pending", None
    if skip:
        state, detail = "suppressed", "present at the first start (first_start = skip)"
    elif cooldown_group is not None and cooldown_seconds > 0:
        row = db.execute("select last_accepted from cooldowns where rule = ? and grp = ?",
                         [rule, cooldown_group]).fetchone()
        if row and now - row[0] < cooldown_seconds:
            state = "suppressed"
            detail = (f"cooldown: {rule} sent for {cooldown_group!r} {now - row[0]:.0f} s ago "
                      f"(cooldown {cooldown_seconds:.0f} s)")
    if state == "pending" and cooldown_group is not None:
        db.execute("insert into cooldowns values (?, ?, ?) on conflict (rule, grp) do update "
                   "set last_accepted = excluded.last_accepted", [rule, cooldown_group, now])
    db.execute("insert into alerts (key, rule, state, payload, first_seen, next_attempt, done_at) "
               "values (?, ?, ?, ?, ?, ?, ?)",
               [key, rule, state, json.dumps(payload, default=str), now, now,
                now if state != "pending" else None])
    if state == "suppressed":
        _log(db, now, rule, key, "suppressed", 0, detail)
    return state


def _log(db, at, rule, key, status, attempts, detail) -> None:
    db.execute("insert into log (at, rule, key, status, attempts, detail) values "
               "(?, ?, ?, ?, ?, ?)", [at, rule, key, status, attempts, detail])


class _Tx:
    """`with`: the lock held and one SQLite transaction (committed, or rolled back on error)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock):
        self.db, self.lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        self.db.execute("begin immediate")
        return self.db

    def __exit__(self, exc_type, *_):
        try:
            self.db.execute("rollback" if exc_type else "commit")
        finally:
            self.lock.release()
