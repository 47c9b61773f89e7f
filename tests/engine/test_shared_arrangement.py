"""A keyed reader of a DISTINCT ON by the same key (feat_user_logins' shape: per user, the last
login, left-joined with other per-user relations) reads the first-row operator's stored winners
through a view instead of keeping its own copy of them; the view must then follow every change
of the winners (new keys, replaced winners, deletions, expiry), survive a restart and go away
with the view that made it."""

from __future__ import annotations

import random

from eddy.dataflow.runtime import TickContext
from eddy.engine import Engine

T0 = 1_800_000_000_000        # ms
VIEW = """create materialized view per_user as
with last_login as (
    select distinct on (u) u, id as login_id, dev, ts from logins where ok
    order by u, ts desc, id desc),
last_risk as (
    select distinct on (u) u, id as risk_id, why from risks order by u, ts desc, id desc),
users as (select u from last_login union select u from last_risk)
select users.u, last_login.dev, last_login.ts, last_risk.why
from users
left join last_login on users.u = last_login.u
left join last_risk on users.u = last_risk.u"""
QUERY = VIEW.split(" as\n", 1)[1]


def _setup(s) -> None:
    s.execute("create table logins (id int, u text, dev text, ts timestamptz, ok boolean)")
    s.execute("create table risks (id int, u text, why text, ts timestamptz)")
    s.execute(VIEW)


def _check(s) -> list:
    got = sorted(s.execute("select * from per_user")[0].rows, key=repr)
    want = sorted(s.execute(QUERY)[0].rows, key=repr)
    assert got == want
    return got


def _state_objects(e, kind: str) -> set[str]:
    cur = e.reader()
    try:
        return {r[0] for r in cur.execute(
            "select table_name from information_schema.tables where table_schema = '_eddy' "
            "and table_type = ?", [kind]).fetchall()}
    finally:
        cur.close()


def test_plan_reads_the_first_rows_state():
    e = Engine(None, tick_interval=None)
    try:
        s = e.session()
        _setup(s)
        plan = "\n".join(r[0] for r in s.execute("explain materialized view per_user")[0].rows)
        assert plan.count("Arrange (shared: a view") == 2, plan
    finally:
        e.close()


def _ts(ms: int) -> str:
    return f"to_timestamp({ms / 1000})"


def test_random_changes_match_the_batch_query_across_a_restart(tmp_path):
    rng = random.Random(11)
    users = [f"u{i}" for i in range(12)]
    serial = 0

    def tick(e, s, n: int) -> None:
        nonlocal serial
        for _ in range(n):
            serial += 1
            u, t = rng.choice(users), T0 + rng.randrange(0, 600_000)   # late, out of order
            if rng.random() < 0.6:
                s.execute(f"insert into logins values ({serial}, '{u}', "
                          f"'d{rng.randrange(3)}', {_ts(t)}, {rng.random() < 0.8})")
            else:
                s.execute(f"insert into risks values ({serial}, '{u}', "
                          f"'{rng.choice(['new_device', 'reset'])}', {_ts(t)})")
        if rng.random() < 0.3:    # a winner deleted: the next row of its key takes over
            s.execute(f"delete from logins where u = '{rng.choice(users)}' and ts = "
                      f"(select max(ts) from logins where ok)")
        if rng.random() < 0.2:
            s.execute(f"delete from risks where id % 5 = {rng.randrange(5)}")
        e.tick()
        _check(s)

    e = Engine(tmp_path, tick_interval=None)
    try:
        s = e.session()
        _setup(s)
        for _ in range(25):
            tick(e, s, rng.randrange(1, 30))
        assert _check(s), "no rows: the test exercised nothing"
    finally:
        e.close()
    e = Engine(tmp_path, tick_interval=None)
    try:
        s = e.session()
        _check(s)
        for _ in range(15):
            tick(e, s, rng.randrange(1, 30))
        views = _state_objects(e, "VIEW")
        s.execute("drop materialized view per_user")
        e.tick()
        left = _state_objects(e, "VIEW")
        assert sum("_n" in v for v in views - left) == 2, views   # the two shared views
        assert not any("_n" in v for v in left), left
    finally:
        e.close()


def test_counted_reads_name_the_shared_state(tmp_path, monkeypatch):
    """Under profile_scans a lookup through the view counts the state table's rows."""
    e = Engine(tmp_path, tick_interval=None)
    try:
        s = e.session()
        _setup(s)
        values = ", ".join(f"({i}, 'u{i}', 'd', {_ts(T0 + i)}, true)" for i in range(3000))
        s.execute(f"insert into logins values {values}")
        e.tick()
        monkeypatch.setattr(TickContext, "profile_scans", True)
        s.execute(f"insert into logins values (9001, 'u7', 'd2', {_ts(T0 + 99_000)}, true)")
        e.tick()
        df = e.dataflows[next(o.id for o in e.catalog if o.name == "per_user")]
        assert 0 < df.rows_scanned < 100, df.rows_scanned
        _check(s)
    finally:
        e.close()
