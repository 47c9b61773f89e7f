"""`/metrics`, the lag relations and `eddy status` of a real `eddy serve`.

Scrapes are parsed with prometheus_client's own text parser. Under load (the load generator
into real Kafka, a source and a maintained view over it), consumer lag and freshness must rise,
and return to about zero once the engine has caught up.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from eddyproc import EddyProcess
from prometheus_client.parser import text_string_to_metric_families

from loadgen.model import TOPICS
from stack.topics import create_topics, delete_topics

BIN = Path(sys.executable).parent
GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "eddy-dashboard.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[str, list]:
    """Metric family name -> samples, parsed by prometheus_client.parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(families, name: str, **labels) -> float | None:
    for samples in families.values():
        for s in samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


@pytest.fixture
def served(tmp_path):
    port = free_port()
    eddy = EddyProcess(tmp_path / "eddy", ["--metrics-port", str(port)])
    yield eddy, port
    eddy.stop()


def test_metrics_parse_and_follow_a_view(served):
    eddy, port = served
    assert any(f"eddy metrics on http://127.0.0.1:{port}/metrics" in line for line in eddy.output)
    with eddy.connect() as conn:
        conn.execute("create table t (k int, v int)")
        conn.execute("create materialized view mv as select k, sum(v) as s from t group by k")
        conn.execute("insert into t select g % 10, g from generate_series(1, 1000) g")
        mv_id = conn.execute("select id from mz_catalog.mz_materialized_views "
                             "where name = 'mv'").fetchone()[0]
        deadline = time.monotonic() + 30
        while True:           # rows in state are sampled in the background
            fams = scrape(port)
            rows = value(fams, "eddy_view_state_rows", object_id=mv_id)
            if rows or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert rows and rows >= 10        # ten groups in the output, more in operator state
        assert value(fams, "eddy_tick_duration_seconds_count") >= 1
        assert value(fams, "eddy_tick_duration_seconds_bucket", le="+Inf") == \
            value(fams, "eddy_tick_duration_seconds_count")
        assert value(fams, "eddy_view_step_seconds_total", object_id=mv_id) > 0
        assert 0 <= value(fams, "eddy_view_freshness_seconds", object_id=mv_id) < 5
        assert value(fams, "eddy_view_errored", object_id=mv_id) == 0
        assert value(fams, "process_resident_memory_bytes") > 10 * 2**20
        _check_dashboard(fams)
        # the same figures in SQL, with Materialize's column names and types
        lag = dict(conn.execute("select object_id, lag from mz_internal.mz_wallclock_global_lag"
                                ).fetchall())
        assert set(lag) >= {mv_id} and lag[mv_id].total_seconds() < 5
        cols = conn.execute("select c.name, c.type from mz_catalog.mz_columns c join "
                            "mz_catalog.mz_objects o on o.id = c.id where o.name = "
                            "'mz_wallclock_global_lag_recent_history' order by position").fetchall()
        hist = conn.execute("select object_id, lag, occurred_at from "
                            "mz_internal.mz_wallclock_global_lag_recent_history").fetchall()
        assert mv_id in {h[0] for h in hist}
        assert all(h[2].second == 0 and h[2].microsecond == 0 for h in hist)  # per minute
        stats = conn.execute("select state_rows, last_rows_written from "
                             "mz_internal.eddy_dataflow_statistics where object_id = %s",
                             [mv_id]).fetchone()
        assert stats[0] == rows
        engine_row = conn.execute("select ticks, resident_memory_bytes, ingest_batches_waiting, "
                                  "duckdb_memory_bytes, wal_bytes, database_bytes, "
                                  "duckdb_memory_limit_bytes "
                                  "from mz_internal.eddy_engine_statistics").fetchone()
        assert engine_row[0] >= 1 and engine_row[1] > 0 and engine_row[2] == 0
        assert engine_row[4] > 0  # the ticks' commits are in the log until a checkpoint
        assert engine_row[5] is not None  # a data dir: the file's used bytes (0 before a fold)
        # EDDY_MEMORY_LIMIT's default, 2GB, as DuckDB prints it back: 1.8 GiB
        assert 1.75 * 2**30 <= engine_row[6] <= 2 * 10**9
        memory = dict(conn.execute("select tag, memory_bytes from mz_internal.eddy_memory_usage"
                                   ).fetchall())
        assert {"BASE_TABLE", "ART_INDEX"} <= set(memory) and sum(memory.values()) > 0
        assert engine_row[3] > 0
    if cols:  # mz_columns lists system relations on this build
        assert [c[1] for c in cols] == ["text", "interval", "timestamp with time zone"]
    text = _status_text(eddy)
    print(text)
    assert "materialize.public.mv" in text and "ticks" in text
    # the state's storage: a file, so no snapshot
    assert re.search(r"state\s*\n", text) and "last snapshot" in text


def _status_text(eddy) -> str:
    """`eddy status --once` of a running engine, as a user's terminal shows it."""
    out = subprocess.run([str(BIN / "eddy"), "status", "--port", str(eddy.port), "--once"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_status_and_dashboard_show_the_last_snapshot_of_a_state_in_memory(tmp_path):
    port = free_port()
    eddy = EddyProcess(tmp_path / "eddy", ["--state-storage", "memory",
                                           "--metrics-port", str(port)])
    try:
        with eddy.connect() as conn:
            conn.execute("create table t (k int, v text)")   # returns once a snapshot holds it
            conn.execute("insert into t select g, repeat('x', 100) from "
                         "generate_series(1, 20000) g")
            size = (tmp_path / "eddy" / "eddy.snapshot").stat().st_size
        lines = _status_text(eddy).splitlines()
        fams = scrape(port)
        assert value(fams, "eddy_snapshot_bytes") == size
        _check_dashboard(fams, in_memory=True)
    finally:
        eddy.stop()
    header = next(i for i, line in enumerate(lines) if "last snapshot" in line)
    row = next(line for line in lines[header + 1:] if " ago" in line)
    # "... | 0 ms ago | 35 ms | 2 MB |": its age, how long it took, its size
    age, took, mb = re.search(r"([\d,.]+ m?s) ago\D+([\d,.]+ m?s)\D+([\d,]+) MB", row).groups()
    assert int(mb.replace(",", "")) == round(size / 2**20), (row, size)
    assert age.endswith("ms") or float(age.split()[0].replace(",", "")) < 60, row


def test_metrics_port_zero_disables_and_busy_port_is_survived(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        eddy = EddyProcess(tmp_path / "a", ["--metrics-port", str(taken)])
        try:
            with eddy.connect() as conn:        # the engine serves without its endpoint
                assert conn.execute("select 1").fetchone() == (1,)
            assert not any("eddy metrics on" in line for line in eddy.output)
        finally:
            eddy.stop()
    eddy = EddyProcess(tmp_path / "b", env={"EDDY_METRICS_PORT": "0"})
    try:
        assert not any("eddy metrics on" in line for line in eddy.output)
    finally:
        eddy.stop()


@pytest.mark.integration
def test_lag_and_freshness_move_under_load_and_return(kafka_bootstrap, served):
    eddy, port = served
    prefix = f"obs{uuid.uuid4().hex[:8]}_"
    names = [prefix + t for t in TOPICS]
    create_topics(kafka_bootstrap, names, partitions=3)
    try:
        with eddy.connect() as conn:
            conn.execute(f"create connection kc to kafka (broker '{kafka_bootstrap}')")
            conn.execute(f"create source clicks from kafka connection kc (topic '{prefix}clicks') "
                         "format json")
            conn.execute("create materialized view per_page as select data->>'page_url' as page,"
                         " count(*) as n, count(distinct data->>'user_id') as users "
                         "from clicks group by 1")
            src_id, mv_id = (conn.execute("select id from mz_catalog.mz_objects where name = %s",
                                          [n]).fetchone()[0] for n in ("clicks", "per_page"))
            conn.execute("create table bulk (x bigint, y text)")
            idle = [_fresh(scrape(port), mv_id) for _ in _sleep_each(10, 0.2)]
            gen = subprocess.Popen(
                [str(BIN / "loadgen"), "run", "--events", "60000", "--seed", "5",
                 "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            # The engine now keeps up with loadgen on this one view in ticks of ~0.1 s, so
            # freshness (wall clock - last tick) would hardly move: a large write in the same
            # ticks (3 M rows, about a second) makes one tick long, as a heavy load would.
            writer = threading.Thread(target=_bulk_write, args=(eddy, 3_000_000), daemon=True)
            writer.start()
            peak_lag = peak_fresh = 0.0
            deadline = time.monotonic() + 300
            caught_up = 0
            while time.monotonic() < deadline:
                fams = scrape(port)
                lag = sum(s.value for s in fams.get("eddy_source_partition_lag_messages", [])
                          if s.labels["source_id"] == src_id)
                fresh = _fresh(fams, mv_id)
                peak_lag, peak_fresh = max(peak_lag, lag), max(peak_fresh, fresh)
                done = gen.poll() is not None
                caught_up = caught_up + 1 if done and lag == 0 and fresh < 1.0 else 0
                if caught_up >= 3:
                    break
                time.sleep(0.2)
            out = gen.communicate()[0]
            writer.join(60)
            assert gen.returncode == 0, out[-2000:]
            print(f"idle freshness max {max(idle):.3f}s; under load: peak consumer lag "
                  f"{peak_lag:.0f} messages, peak freshness {peak_fresh:.3f}s")
            assert caught_up >= 3, f"did not catch up: lag {lag}, freshness {fresh:.2f}s"
            assert peak_lag > 0
            assert peak_fresh > max(0.25, max(idle))
            # the counters agree with the view: every click counted once
            fams = scrape(port)
            total = conn.execute("select sum(n) from per_page").fetchone()[0]
            assert value(fams, "eddy_source_messages_total", source_id=src_id) == total
            assert value(fams, "eddy_source_bytes_total", source_id=src_id) > total * 50
            assert value(fams, "eddy_ingest_batches_waiting", source_id=src_id) == 0
            lag_now = dict(conn.execute("select object_id, extract(epoch from lag) from "
                                        "mz_internal.mz_wallclock_global_lag").fetchall())
            assert float(lag_now[mv_id]) < 1.0 and float(lag_now[src_id]) < 1.0
            peak_hist = conn.execute(
                "select max(extract(epoch from lag)) from "
                "mz_internal.mz_wallclock_global_lag_recent_history where object_id = %s",
                [mv_id]).fetchone()[0]
            assert float(peak_hist) > 0.25
            rows = json.dumps(conn.execute("select * from mz_internal.mz_source_statistics"
                                           ).fetchall(), default=str)
            assert src_id in rows
    finally:
        delete_topics(kafka_bootstrap, names)


def _check_dashboard(fams, in_memory: bool = False) -> None:
    """Every metric a Grafana panel queries is exposed (families are listed even when empty);
    the snapshots' panel's only with the state in memory (`in_memory`: only that panel)."""
    exposed = set(fams) | {s.name for samples in fams.values() for s in samples}
    exposed |= {f"{name}_{suffix}" for name in fams for suffix in ("total", "bucket", "sum",
                                                                     "count")}
    dash = json.loads(GRAFANA.read_text())
    assert dash["panels"]
    checked = 0
    for panel in dash["panels"]:
        exprs = [t["expr"] for t in panel["targets"]]
        names = {m for e in exprs for m in re.findall(r"\b(?:eddy|process)_[a-z_]+", e)}
        assert names, panel["title"]
        if all(n.startswith("eddy_snapshot_") for n in names) != in_memory:
            continue
        assert names <= exposed, (panel["title"], names - exposed)
        checked += 1
    assert checked


def _bulk_write(eddy, rows: int) -> None:
    with eddy.connect() as conn:
        conn.execute("insert into bulk select g, g::text from generate_series(1, %s::int) g",
                     [rows])


def _fresh(fams, object_id: str) -> float:
    return value(fams, "eddy_view_freshness_seconds", object_id=object_id) or 0.0


def _sleep_each(n: int, seconds: float):
    for i in range(n):
        time.sleep(seconds)
        yield i
