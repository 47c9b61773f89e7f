"""Notices reach clients: a maintained view that is not incremental says so at CREATE time
(what `dbt run` shows), and DROP ... IF EXISTS of a missing object says it skipped."""

from __future__ import annotations

import psycopg2
import pytest

pytestmark = pytest.mark.integration


def test_psycopg_receives_the_not_incremental_notice(eddy, schema):
    with eddy.connect() as conn:
        got: list[str] = []
        conn.add_notice_handler(lambda d: got.append(d.message_primary))
        conn.execute(f"SET search_path = {schema}")
        conn.execute("CREATE TABLE t (a int, b int)")
        conn.execute("CREATE MATERIALIZED VIEW per_a AS SELECT a, count(*) AS n FROM t GROUP BY a")
        assert got == [], "an incremental view raised a notice"
        conn.execute("CREATE MATERIALIZED VIEW top3 AS SELECT a, b FROM t ORDER BY a LIMIT 3")
        conn.execute("DROP VIEW IF EXISTS missing_view")
    assert len(got) == 2, got
    assert '"top3" is not maintained incrementally' in got[0] and "LIMIT" in got[0]
    assert "missing_view" in got[1]


def test_psycopg2_receives_notices_as_dbt_does(eddy, schema):
    """dbt-materialize runs DDL through psycopg2 in autocommit mode."""
    conn = psycopg2.connect(host="127.0.0.1", port=eddy.port, user="materialize",
                            dbname="materialize")
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {schema}.t (a int)")
        cur.execute(f"CREATE MATERIALIZED VIEW {schema}.lim AS "
                    f"SELECT a FROM {schema}.t ORDER BY a LIMIT 2")
        assert any("not maintained incrementally" in n for n in conn.notices), conn.notices
    finally:
        conn.close()
