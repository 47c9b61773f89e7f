"""Reads never wait for a tick, and still see exactly one committed tick.

A tick is held open on purpose (a table write that blocks inside the tick transaction after it
has written). While it is held, a new session opens and answers `select 1`, a catalog query,
SHOW and a read of a maintained view; none of them sees the uncommitted rows. Under ticks that
each take a while, readers always see the views agree, and `mz_now()` is the timestamp of the
tick whose data they read.
"""

from __future__ import annotations

import threading
import time

import pytest

from eddy.dataflow.runtime import W
from eddy.engine import Engine, Write
from eddy.sql import writes
from eddy.sql.resolve import parse
from eddy.storage.state import phys

HOLD_LIMIT_S = 60      # a held tick is released by then even if the test is broken


@pytest.fixture
def engine():
    eng = Engine(None, tick_interval=0.02)
    eng.start()
    yield eng
    eng.close()


def _held_insert(engine, session, sql: str, started: threading.Event,
                 release: threading.Event) -> Write:
    """A write of `sql` (an INSERT) whose tick blocks after writing until `release`."""
    fn, _box, _tag = writes.plan_insert(session.binder(), parse(sql), [])

    def held(rt):
        out = fn(rt)
        started.set()
        release.wait(HOLD_LIMIT_S)
        return out
    return Write(held)


def test_new_sessions_and_reads_answer_while_a_tick_is_held_open(engine):
    setup = engine.session()
    setup.execute("create table items (k int, n int)")
    setup.execute("insert into items values (1, 10), (2, 20)")
    setup.execute("create materialized view per_k as select k, sum(n) as s from items group by k")
    started, release = threading.Event(), threading.Event()
    write = _held_insert(engine, setup, "insert into items values (1, 5), (3, 7)", started,
                         release)
    writer = threading.Thread(target=engine.submit, args=(write,))
    writer.start()
    try:
        assert started.wait(30), "the held tick never started"
        answers: dict[str, object] = {}

        def read():
            session = engine.session()       # opening a session used to take the tick lock
            answers["one"] = session.execute("select 1")[0].rows
            answers["tables"] = session.execute(
                "select name from mz_catalog.mz_tables where name = 'items'")[0].rows
            answers["pg"] = session.execute(
                "select count(*) from pg_catalog.pg_class where relname = 'per_k'")[0].rows
            answers["show"] = session.execute("show materialized views")[0].rows
            answers["view"] = sorted(session.execute("select k, s from per_k")[0].rows)
            answers["table"] = session.execute("select count(*) from items")[0].rows
            session.execute("begin")
            answers["txn"] = session.execute("select sum(s) from per_k")[0].rows
            session.execute("commit")
            session.close()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=30)
        assert not reader.is_alive(), "a read waited for the held tick"
        assert not write.done.is_set(), "the tick was not held while the reader ran"
    finally:
        release.set()
        writer.join(timeout=30)
    assert answers["one"] == [(1,)]
    assert answers["tables"] == [("items",)]
    assert answers["pg"] == [(1,)]
    assert [r[0] for r in answers["show"]] == ["per_k"]
    # the uncommitted rows of the held tick are invisible
    assert answers["view"] == [(1, 10), (2, 20)]
    assert answers["table"] == [(2,)]
    assert answers["txn"] == [(30,)]
    # and visible once it committed
    assert sorted(setup.execute("select k, s from per_k")[0].rows) == [(1, 15), (2, 20), (3, 7)]


def test_a_read_transaction_keeps_its_tick_while_later_ticks_commit(engine):
    setup = engine.session()
    setup.execute("create table items (k int)")
    setup.execute("create materialized view c as select count(*) as n from items")
    setup.execute("insert into items values (1)")
    reader = engine.session()
    reader.execute("begin")
    before = reader.execute("select n, mz_now() from c")[0].rows[0]
    setup.execute("insert into items values (2), (3)")
    time.sleep(0.1)                         # idle ticks pass too
    assert reader.execute("select n, mz_now() from c")[0].rows[0] == before
    reader.execute("commit")
    assert reader.execute("select n from c")[0].rows == [(3,)]


def test_readers_during_slow_ticks_see_one_tick_and_its_timestamp(engine):
    """Each data tick writes its own timestamp and is held ~0.1 s inside its transaction;
    readers check that the views agree and that mz_now() is the timestamp of the tick they
    read: at least the newest timestamp they see, and short of any later data tick."""
    setup = engine.session()
    setup.execute("create table marks (ts bigint)")
    setup.execute("create materialized view n_marks as select count(*) as n from marks")
    setup.execute("create materialized view newest as select max(ts) as ts from marks")
    table_id = setup.binder().lookup(["marks"]).id
    stop = threading.Event()
    committed: list[int] = []
    errors: list[BaseException] = []
    observed: list[tuple[int, int, int]] = []   # (marks seen, newest ts seen, mz_now)

    def slow_mark(rt):
        rows = rt.table(f"SELECT {int(rt.now)}::BIGINT AS ts, 1::BIGINT AS {W}")
        rt.run(f"INSERT INTO {phys(table_id)} SELECT ts FROM {rows.name}")
        time.sleep(0.1)
        return [(table_id, rows)]

    def writer():
        try:
            while not stop.is_set():
                write = engine.submit(Write(slow_mark))
                assert write.error is None
                committed.append(setup.execute("select max(ts) from marks")[0].rows[0][0])
                time.sleep(0.03)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    def reader(in_txn: bool):
        session = engine.session()
        try:
            while not stop.is_set():
                if in_txn:
                    session.execute("begin")
                    n1 = session.execute("select n from n_marks")[0].rows[0][0]
                    time.sleep(0.05)
                    n2, ts, now = session.execute(
                        "select (select count(*) from marks), newest.ts, mz_now()::bigint "
                        "from newest")[0].rows[0]
                    session.execute("commit")
                    assert n1 == n2, f"a read transaction saw two ticks: {n1} then {n2}"
                else:
                    n1, n2, ts, now = session.execute(
                        "select v.n, (select count(*) from marks), w.ts, mz_now()::bigint "
                        "from n_marks v, newest w")[0].rows[0]
                    assert n1 == n2, f"a view and its table disagree: {n1} != {n2}"
                observed.append((n2, ts, now))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            session.close()

    threads = [threading.Thread(target=writer)]
    threads += [threading.Thread(target=reader, args=(i % 2 == 1,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (len(committed) < 8 or len(observed) < 40):
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[0]
    assert len(committed) >= 8 and len(observed) >= 40, (len(committed), len(observed))
    ticks = sorted(committed)
    for count, newest, now in observed:
        if count == 0:
            continue
        assert now >= newest, f"mz_now() {now} is before the tick {newest} the reader saw"
        later = [t for t in ticks if newest < t <= now]
        assert not later, f"mz_now() {now} is past data ticks {later} the reader did not see"
    assert len({o[0] for o in observed}) > 3, "readers never saw the ticks advance"
