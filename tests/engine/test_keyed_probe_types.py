"""A keyed recompute whose input's key type differs from the recompute's key type (an int
column joined to a count): the lookup keeps the probe's key columns for its exact match."""

from __future__ import annotations

import random

from eddy.engine import Engine

VIEW = ("SELECT a.v, a.x, b.g FROM t1 a LEFT JOIN "
        "(SELECT count(*) AS n, g FROM t2 GROUP BY g) b ON a.v = b.n")


def test_left_join_int_to_count_equals_batch_evaluation():
    e = Engine(None, tick_interval=None)
    try:
        s = e.session()
        s.execute("CREATE TABLE t1 (v int, x text); CREATE TABLE t2 (g text)")
        s.execute(f"CREATE MATERIALIZED VIEW mv AS {VIEW}")
        rnd = random.Random(5)
        for step in range(40):
            if rnd.random() < 0.5:
                s.execute("INSERT INTO t1 VALUES ($1, $2)", [rnd.randrange(0, 5), f"x{step}"])
            else:
                s.execute("INSERT INTO t2 VALUES ($1)", [rnd.choice("pqrs")])
            if step % 7 == 6:
                s.execute("DELETE FROM t2 WHERE g = $1", [rnd.choice("pqrs")])
                s.execute("DELETE FROM t1 WHERE v = $1", [rnd.randrange(0, 5)])
            got = sorted(s.execute("SELECT * FROM mv")[0].rows, key=str)
            assert got == sorted(s.execute(VIEW)[0].rows, key=str), step
    finally:
        e.close()
