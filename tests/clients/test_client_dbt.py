"""dbt-materialize (unmodified) against a real `eddy serve`, on tests/dbt_project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))


@pytest.fixture(scope="module")
def dbt(eddy, tmp_path_factory):
    work = tmp_path_factory.mktemp("dbt")
    schema = "dbt_" + uuid.uuid4().hex[:8]
    env = {**os.environ, "EDDY_TEST_PORT": str(eddy.port), "EDDY_TEST_SCHEMA": schema,
           "DBT_PROFILES_DIR": str(PROJECT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work / "logs")}

    def run(*args: str) -> subprocess.CompletedProcess:
        r = subprocess.run([DBT, *args, "--project-dir", str(PROJECT)],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, f"dbt {' '.join(args)} failed:\n{r.stdout[-6000:]}\n{r.stderr}"
        return r

    run.schema, run.work = schema, work
    return run


def _query(eddy, sql: str, params=()):
    with eddy.connect() as conn:
        return conn.execute(sql, params).fetchall()


def test_dbt_lifecycle(eddy, dbt):
    schema = dbt.schema
    assert "All checks passed" in dbt("debug").stdout

    dbt("seed")
    assert _query(eddy, f"SELECT count(*) FROM {schema}.raw_orders") == [(5,)]

    dbt("run")
    # Edsger's only order was returned, so the filter after the left join drops him
    expected = [(1, "Ada", 2, Decimal("30.50")), (2, "Grace", 2, Decimal("13.00"))]
    assert _query(eddy, "SELECT customer_id, customer_name, order_count, total_amount "
                        f"FROM {schema}.customer_totals ORDER BY customer_id") == expected
    kinds = dict(_query(eddy, "SELECT o.name, o.type FROM mz_objects o JOIN mz_schemas s "
                              "ON o.schema_id = s.id WHERE s.name = %s", (schema,)))
    assert kinds["stg_orders"] == "view" and kinds["customer_totals"] == "materialized-view"
    assert kinds["raw_orders"] == "table"
    indexed = _query(eddy, "SELECT r.name FROM mz_indexes i JOIN mz_relations r ON i.on_id = r.id "
                           "JOIN mz_schemas s ON r.schema_id = s.id WHERE s.name = %s "
                           "ORDER BY 1", (schema,))
    assert indexed == [("customer_totals",), ("status_counts",)]

    dbt("run")                                   # the second run replaces every model
    assert _query(eddy, f"SELECT count(*) FROM {schema}.customer_totals") == [(2,)]

    out = dbt("test").stdout
    assert "customer_totals_excludes_returns" in out and "assert_totals_not_negative" in out

    dbt("build", "--full-refresh")
    assert _query(eddy, f"SELECT sum(orders) FROM {schema}.status_counts") == [(5,)]

    shown = dbt("show", "--select", "customer_totals", "--output", "json").stdout
    assert '"customer_name": "Ada"' in shown

    dbt("docs", "generate")
    catalog = json.loads((dbt.work / "target" / "catalog.json").read_text())
    nodes = {key.split(".")[-1]: node for key, node in catalog["nodes"].items()}
    assert nodes["customer_totals"]["metadata"]["type"] == "materialized_view"
    assert list(nodes["stg_orders"]["columns"]) == ["order_id", "customer_id", "amount", "status",
                                                    "ordered_at"]
