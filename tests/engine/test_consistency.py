"""Consistent reads: under concurrent writers, readers never see two views disagree.

`per_key` and `total` are maintained from the same table; `total.s` (a sum over a view on a
view) must equal `everything.c` (a count straight off the table) in every committed tick, and a
reader's single query sees one committed tick across all objects. Readers during ticks that
are held open: tests/engine/test_reads_during_ticks.py.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

DURATION_S = 4.0
WRITERS, READERS = 3, 3


@pytest.fixture
def engine():
    from eddy.engine import Engine
    eng = Engine(None, tick_interval=0.05)
    eng.start()
    yield eng
    eng.close()


def test_two_views_never_disagree_under_concurrent_writes(engine):
    setup = engine.session()
    setup.execute("create table items (k int, n int)")
    setup.execute("create materialized view everything as select count(*) as c from items")
    setup.execute("create materialized view per_key as "
                  "select k, count(*) as n from items group by k")
    setup.execute("create materialized view total as select sum(n) as s from per_key")
    setup.execute("create materialized view spread as "
                  "select count(*) as keys, sum(n) as s from per_key where n > 0")
    stop = threading.Event()
    errors: list[BaseException] = []
    written = [0] * WRITERS
    reads: list[int] = [0] * READERS
    seen: list[set] = [set() for _ in range(READERS)]

    def writer(i):
        rng = random.Random(i)
        session = engine.session()
        try:
            while not stop.is_set():
                if rng.random() < 0.25 and written[i] > 0:
                    # delete one of this writer's rows (keys are per writer, so counts are known)
                    k = i * 1000 + rng.randrange(10)
                    results = session.execute("delete from items where k = $1", [k])
                    written[i] -= _affected(results[0].tag)
                else:
                    rows = rng.randrange(1, 20)
                    for _ in range(rows):
                        session.execute("insert into items values ($1, $2)",
                                        [i * 1000 + rng.randrange(10), rng.randrange(100)])
                    written[i] += rows
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            session.close()

    def reader(i):
        session = engine.session()
        try:
            while not stop.is_set():
                if i % 2 == 0:  # one query reading all three views
                    row = session.execute(
                        "select e.c, coalesce(t.s, 0), coalesce(p.s, 0) "
                        "from everything e, total t, spread p")[0].rows
                    assert len(row) == 1, row
                    count, total, spread = row[0]
                else:  # a read transaction: separate statements see the same tick
                    session.execute("begin")
                    count = session.execute("select c from everything")[0].rows[0][0]
                    time.sleep(0.02)  # let ticks commit in between
                    total = session.execute("select coalesce(s, 0) from total")[0].rows[0][0]
                    spread = session.execute("select coalesce(s, 0) from spread")[0].rows[0][0]
                    session.execute("commit")
                assert count == total == spread, f"views disagree: {(count, total, spread)}"
                seen[i].add(count)
                reads[i] += 1
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            session.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    for t in threads:
        t.start()
    time.sleep(DURATION_S)
    deadline = time.monotonic() + 60    # a loaded machine: go on until each reader read enough
    while time.monotonic() < deadline and not all(r > 10 for r in reads) and not errors:
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[0]
    assert all(r > 10 for r in reads), f"readers made too few reads: {reads}"
    assert sum(len(s) for s in seen) > 3, "readers never saw the views change"
    engine.tick()
    final = setup.execute("select e.c, t.s from everything e, total t")[0].rows[0]
    assert final[0] == final[1] == sum(written)


def _affected(tag: str) -> int:
    return int(tag.split()[-1])
