"""Debian's psql against a real `eddy serve`: queries, \\d family, COPY of a SUBSCRIBE."""

from __future__ import annotations

import select
import shutil
import signal
import subprocess
import time

import pytest

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("psql") is None, reason="psql not installed")]


def psql(eddy, *args, schema=None, timeout=30) -> subprocess.CompletedProcess:
    env = {"PGOPTIONS": f"--search_path={schema}"} if schema else {}
    return subprocess.run(
        ["psql", "-X", "-h", "127.0.0.1", "-p", str(eddy.port), "-U", "materialize",
         "-d", "materialize", "-v", "ON_ERROR_STOP=1", *args],
        capture_output=True, text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin", **env})


def test_queries_and_describe_commands(eddy, schema):
    r = psql(eddy, "-c", f"CREATE TABLE {schema}.items (id int NOT NULL, name text)",
             "-c", f"INSERT INTO {schema}.items VALUES (1, 'one'), (2, 'two')",
             "-c", f"CREATE VIEW {schema}.named AS SELECT name FROM {schema}.items",
             "-c", f"CREATE MATERIALIZED VIEW {schema}.counts AS "
                   f"SELECT count(*) AS n FROM {schema}.items",
             "-c", f"SELECT id, name FROM {schema}.items ORDER BY id")
    assert r.returncode == 0, r.stderr
    assert "INSERT 0 2" in r.stdout
    assert " 1 | one" in r.stdout and " 2 | two" in r.stdout and "(2 rows)" in r.stdout

    r = psql(eddy, "-c", r"\dt", schema=schema)
    assert r.returncode == 0, r.stderr
    assert "items" in r.stdout and "table" in r.stdout and "named" not in r.stdout

    r = psql(eddy, "-c", r"\dv", schema=schema)
    assert r.returncode == 0, r.stderr
    assert "named" in r.stdout and "items" not in r.stdout

    r = psql(eddy, "-c", rf"\d {schema}.items")
    assert r.returncode == 0, r.stderr
    assert "id" in r.stdout and "integer" in r.stdout and "not null" in r.stdout
    assert "name" in r.stdout and "text" in r.stdout

    r = psql(eddy, "-c", f"CREATE INDEX counts_idx ON {schema}.counts (n)",
             "-c", f"COMMENT ON TABLE {schema}.items IS 'things we sell'")
    assert r.returncode == 0, r.stderr
    r = psql(eddy, "-c", rf"\d+ {schema}.named", "-c", rf"\d {schema}.counts",
             "-c", r"\dt+", "-c", r"\di", schema=schema)
    assert r.returncode == 0, r.stderr
    assert "View definition:" in r.stdout and "FROM" in r.stdout.upper()
    assert f'Materialized view "{schema}.counts"' in r.stdout and '"counts_idx"' in r.stdout
    assert "things we sell" in r.stdout
    assert "counts_idx" in r.stdout.split("List of relations")[-1]

    r = psql(eddy, "-c", r"\dn")
    assert r.returncode == 0, r.stderr
    assert schema in r.stdout and "public" in r.stdout


def _readline(proc: subprocess.Popen, timeout: float = 10) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail("no COPY output from psql")
    return proc.stdout.readline()


def test_copy_of_a_subscribe_streams_until_cancelled(eddy, schema):
    r = psql(eddy, "-c", f"CREATE TABLE {schema}.ev (v int)",
             "-c", f"INSERT INTO {schema}.ev VALUES (7)")
    assert r.returncode == 0, r.stderr
    # psql block-buffers COPY output into a pipe: stdbuf makes it line-buffered
    proc = subprocess.Popen(
        ["stdbuf", "-oL", "psql", "-X", "-h", "127.0.0.1", "-p", str(eddy.port),
         "-U", "materialize", "-c", f"COPY (SUBSCRIBE {schema}.ev) TO STDOUT"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = _readline(proc)
    ts, diff, value = first.rstrip("\n").split("\t")
    assert (diff, value) == ("1", "7") and int(ts) > 0
    subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(eddy.port), "-U", "materialize",
                    "-c", f"INSERT INTO {schema}.ev VALUES (8)"], check=True, capture_output=True)
    t0 = time.monotonic()
    second = _readline(proc)
    assert second.rstrip("\n").split("\t")[1:] == ["1", "8"]
    assert time.monotonic() - t0 < 2
    proc.send_signal(signal.SIGINT)          # psql sends a CancelRequest
    _, err = proc.communicate(timeout=10)
    assert "canceling statement due to user request" in err
