"""Wallclock lag in mz_internal on an in-process engine: a failed view falls behind (and its
dependants with it), healthy ones stay current, and the history keeps the worst per minute."""

from __future__ import annotations

import contextlib
import time

from eddy import metrics
from eddy.engine import Engine


def lags(session) -> dict[str, float]:
    res = session.execute("select object_id, extract(epoch from lag) from "
                          "mz_internal.mz_wallclock_global_lag")[0]
    return {oid: float(s) for oid, s in res.rows}


def ids(session) -> dict[str, str]:
    res = session.execute("select name, id from mz_catalog.mz_objects where id like 'u%'")[0]
    return dict(res.rows)


def test_a_failed_view_and_its_dependants_fall_behind():
    engine = Engine(None, tick_interval=0.05)
    engine.start()
    observed = metrics.start(engine, port=0)   # what `eddy serve` does; port 0: no endpoint
    try:
        s = engine.session()
        s.execute("create table t (a int)")
        s.execute("create materialized view ok as select a, count(*) as n from t group by a")
        s.execute("create materialized view bad as select 10 / (a - 1) as q from t")
        s.execute("create materialized view on_bad as select count(*) as n from bad")
        s.execute("insert into t values (2), (3)")
        objs = ids(s)
        time.sleep(0.3)
        before = lags(s)
        assert {objs["t"], objs["ok"], objs["bad"], objs["on_bad"]} <= set(before)
        assert max(before.values()) < 2.0
        # a table write that would fail a view is rejected whole (nothing falls behind); a view
        # fails when a source batch breaks it, which the engine records on its dataflow: do that
        from eddy.errors import EddyError
        with contextlib.suppress(EddyError):
            s.execute("insert into t values (1)")
        assert max(lags(s).values()) < 2.0
        engine.dataflows[objs["bad"]].error = EddyError("22012", "division by zero")
        time.sleep(1.5)
        after = lags(s)
        assert after[objs["bad"]] >= 1.0
        assert after[objs["on_bad"]] >= after[objs["bad"]] - 0.1   # never ahead of its input
        assert after[objs["ok"]] < 1.0 and after[objs["t"]] < 1.0
        stats = s.execute("select object_id, error from mz_internal.eddy_dataflow_statistics"
                          )[0].rows
        errors = {oid: err for oid, err in stats}
        assert errors[objs["bad"]] and "division by zero" in errors[objs["bad"]]
        assert errors[objs["ok"]] is None
        hist = s.execute("select object_id, max(extract(epoch from lag)) from "
                         "mz_internal.mz_wallclock_global_lag_recent_history group by 1")[0].rows
        worst = {oid: float(x) for oid, x in hist}
        assert worst[objs["bad"]] >= 1.0
    finally:
        observed.stop()
        engine.close()


def test_state_rows_fall_when_a_temporal_filter_expires_rows():
    """`state_rows` counts the rows the view's tables hold now: rows a temporal filter expired
    leave the figure (DuckDB's estimated table size kept counting them)."""
    from eddy.catalog.lag import tracker

    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        base = 1_700_000_000_000
        engine.tick(base)
        s.execute("create table ev (id text, at timestamptz)")
        s.execute("create materialized view recent as select distinct on (id) id, at from ev "
                  "where mz_now() <= at + interval '1 minute' order by id, at")
        vid = ids(s)["recent"]
        track = tracker(engine)
        sizes = []
        for minute in range(4):
            rows = ", ".join(f"('m{minute}-{i}', to_timestamp({base // 1000 + 60 * minute}))"
                             for i in range(200))
            s.execute(f"insert into ev values {rows}")
            engine.tick(base + 60_000 * minute + 1)
            sizes.append(track.refresh_state_rows(force=True)[vid])
        # each minute's rows replace the last minute's: the state holds one minute, not four
        assert sizes[0] > 0
        assert sizes[-1] == sizes[1] == sizes[2]
        engine.tick(base + 10 * 60_000)
        assert track.refresh_state_rows(force=True)[vid] == 0
    finally:
        engine.close()
