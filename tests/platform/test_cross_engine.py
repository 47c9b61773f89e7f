"""The same dbt project for Materialize and RisingWave, checked without either server.

For each target, with the profile pointing at a closed port, `tests/platform/dbt_offline.py`
runs `dbt compile --no-introspect` (it must not need a server), then records what a first
`dbt run` sends (the on-run-start hook, CREATE SOURCE / VIEW / MATERIALIZED VIEW / INDEX from the
adapter's real materializations) over a connection that answers like an empty server. Every statement is then checked:

- sqlglot (the pinned version) parses it in the engine's dialect into a real statement, not its
  catch-all `Command`. sqlglot cannot parse Materialize's CREATE CONNECTION ... TO KAFKA,
  CREATE SOURCE ... FROM KAFKA, nor `IN CLUSTER` in CREATE MATERIALIZED VIEW / INDEX: those
  are split by the embedded engine's recognizer of Materialize syntax (`eddy.sql.preparser`),
  their Kafka bodies parsed by its Kafka DDL parser (`eddy.sources.ddl`, Materialize's grammar),
  and the query or index keys inside them by sqlglot.
- Engine rules sqlglot does not know: RisingWave has no mz_now(), its numeric and varchar take
  no modifiers, and now() may appear only in a WHERE/HAVING comparison (a temporal filter);
  Materialize cannot use now() in a view, and mz_now() only in WHERE/HAVING comparisons joined
  by AND. `test_checks_reject_mistakes` shows each check failing on such a mistake.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp

from eddy.sources.ddl import parse_connection, parse_source
from eddy.sql import preparser
from eddy.sql.sqltext import split_statements, strip_comments

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TARGETS = ("materialize", "risingwave")
# The broker each build is given: Materialize's by the name the load generator and the stack use
# (the only one set), RisingWave's by the dbt project's own name, which wins over the other.
BROKER_ENV = {"materialize": {"KAFKA_BOOTSTRAP_SERVERS": "kafka-a.internal:9092"},
              "risingwave": {"KAFKA_BOOTSTRAP": "kafka-b.internal:9092",
                             "KAFKA_BOOTSTRAP_SERVERS": "not-this-one:9092"}}
EXPECTED_BROKER = {"materialize": "kafka-a.internal:9092", "risingwave": "kafka-b.internal:9092"}
COMPARISONS = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build(target: str, workdir: Path, env: dict) -> dict:
    """`dbt compile --no-introspect`, then the recorded `dbt run`, on one parse of the project."""
    target_path, out = workdir / "target", workdir / "statements.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests/platform/dbt_offline.py"), "--target", target,
         "--compile-first", "--target-path", str(target_path), "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    manifest = target_path / "compiled_manifest.json"
    return {"proc": proc, "log": (proc.stdout + proc.stderr)[-6000:],
            "manifest": json.loads(manifest.read_text()) if manifest.exists() else None,
            "statements": json.loads(out.read_text()) if proc.returncode == 0 else None}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, dict]:
    """Both targets built side by side, against ports where nothing listens."""
    port = str(_closed_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_BOOTSTRAP")}
    env |= {"MZ_HOST": "127.0.0.1", "MZ_PORT": port, "RW_HOST": "127.0.0.1",
            "RW_PORT": port, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    with ThreadPoolExecutor(len(TARGETS)) as pool:
        futures = {t: pool.submit(_build, t, tmp_path_factory.mktemp(t), env | BROKER_ENV[t])
                   for t in TARGETS}
        return {t: f.result() for t, f in futures.items()}


def _models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["package_name"] == "eddy_platform"]


# --- checks ----------------------------------------------------------------------------------


def parse_strict(sql: str, dialect: str) -> exp.Expr:
    """One statement, parsed by sqlglot into a real node (its `Command` fallback means it could
    not read the statement)."""
    trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    assert len(trees) == 1, f"expected one statement, got {len(trees)}: {sql[:200]}"
    assert not isinstance(trees[0], exp.Command), f"sqlglot ({dialect}) cannot parse: {sql[:200]}"
    return trees[0]


def _function_calls(tree: exp.Expr, name: str) -> list[exp.Expr]:
    if name == "now":
        return list(tree.find_all(exp.CurrentTimestamp))
    return [f for f in tree.find_all(exp.Anonymous) if f.name.lower() == name]


def _assert_filter_comparison(call: exp.Expr, name: str, allow_or: bool) -> None:
    """`call` (of function `name`) sits in a comparison in a WHERE/HAVING, joined to it by AND
    (and OR when allowed) only; its side calls `name` exactly once, the other side never."""
    what = f"{name}()"
    comparison = call.find_ancestor(*COMPARISONS)
    assert comparison is not None, f"{what} outside a comparison: {call.parent.sql()}"
    counts = [len(_function_calls(side, name)) for side in comparison.iter_expressions()]
    assert sorted(counts)[-1] == 1 and sum(counts) == 1, \
        f"{what} must appear once, on one side: {comparison.sql()}"
    joins = (exp.And, exp.Paren, exp.Or) if allow_or else (exp.And, exp.Paren)
    node = comparison.parent
    while not isinstance(node, (exp.Where, exp.Having)):
        assert isinstance(node, joins), \
            f"{what} comparison under {type(node).__name__}: {comparison.sql()}"
        node = node.parent


def check_risingwave(sql: str) -> str:
    """Check one statement for RisingWave; returns how it was checked."""
    tree = parse_strict(sql, "risingwave")
    assert not _function_calls(tree, "mz_now"), f"mz_now() on RisingWave: {sql[:200]}"
    for dt in tree.find_all(exp.DataType):
        if dt.this in (exp.DType.DECIMAL, exp.DType.VARCHAR) and dt.expressions:
            raise AssertionError(f"RisingWave's {dt.this.value.lower()} takes no modifiers: "
                                 f"{dt.sql('risingwave')}")
    if isinstance(tree, exp.Create) and tree.kind in ("VIEW", "MATERIALIZED VIEW"):
        for call in _function_calls(tree, "now"):
            _assert_filter_comparison(call, "now", allow_or=True)
    return "sqlglot"


def check_materialize(sql: str) -> str:
    """Check one statement for Materialize; returns how it was checked."""
    stmt = preparser.classify(strip_comments(sql).strip())
    parts = stmt.parts
    if stmt.kind == "create_connection":
        assert parts["connector"] == "kafka", parts
        parse_connection(parts["body"])
        return "eddy"
    if stmt.kind == "create_source":
        assert parts["connector"] == "kafka", parts
        parse_source(parts["body"])
        return "eddy"
    if stmt.kind == "create_index":
        for key in parts["keys"] or []:
            parse_strict(f"select {key}", "materialize")
        return "eddy+sqlglot"
    if stmt.kind == "create_view":
        query = parse_strict(parts["query"], "materialize")
        assert isinstance(query, exp.Query), f"not a query: {parts['query'][:200]}"
        assert not _function_calls(query, "now"), \
            f"now() in a Materialize view (use mz_now() in a temporal filter): {sql[:200]}"
        for call in _function_calls(query, "mz_now"):
            _assert_filter_comparison(call, "mz_now", allow_or=False)
        return "eddy+sqlglot" if parts["cluster"] else "sqlglot"
    tree = parse_strict(sql, "materialize")
    assert not _function_calls(tree, "now") or not isinstance(tree, exp.Create), sql[:200]
    return "sqlglot"


CHECKS = {"materialize": check_materialize, "risingwave": check_risingwave}


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_compile_needs_no_server(builds, target):
    build = builds[target]
    assert build["manifest"] is not None, build["log"]
    models = _models(build["manifest"])
    assert len(models) >= 20
    assert all(m["compiled_code"].strip() for m in models)


@pytest.mark.parametrize("target", TARGETS)
def test_sources_use_the_configured_broker(builds, target):
    """The Kafka address comes from KAFKA_BOOTSTRAP, else KAFKA_BOOTSTRAP_SERVERS: a user who
    moved Kafka and exported either name gets sources on that broker, not on 127.0.0.1:9092."""
    build = builds[target]
    assert build["statements"] is not None, build["log"]
    sent = "\n".join(item["sql"] for item in build["statements"])
    assert EXPECTED_BROKER[target] in sent
    assert "not-this-one" not in sent and "127.0.0.1:9092" not in sent


@pytest.mark.parametrize("target", TARGETS)
def test_compiled_models_parse(builds, target):
    """Each model's compiled SQL: a query in the engine's dialect; a source model, the DDL
    fragment its materialization wraps."""
    manifest = builds[target]["manifest"]
    assert manifest is not None, builds[target]["log"]
    for model in _models(manifest):
        code = model["compiled_code"]
        if model["config"]["materialized"] == "source":
            if target == "materialize":  # the text after `CREATE SOURCE <name> [IN CLUSTER c]`
                assert parse_source(re.sub(r"(?is)^\s*from\s+kafka\s+", "", code)).columns \
                    == [("data", "jsonb")]
            else:
                assert isinstance(parse_strict(code, "risingwave"), exp.Create)
            continue
        tree = parse_strict(code, target)
        assert isinstance(tree, exp.Query), model["name"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_statement_sent_passes(builds, target):
    build = builds[target]
    assert build["statements"] is not None, build["log"]
    checked: dict[str, int] = {}
    for item in build["statements"]:
        for stmt in split_statements(item["sql"]):
            if not strip_comments(stmt).strip():
                continue
            try:
                how = CHECKS[target](stmt)
            except Exception as e:
                raise AssertionError(f"{item['connection']}: {e}\n{stmt}") from e
            checked[how] = checked.get(how, 0) + 1
    # every model of the project is created by some statement; every view's query went
    # through sqlglot
    models = _models(build["manifest"])
    created = " ".join(strip_comments(i["sql"]).lower() for i in build["statements"])
    for model in models:
        assert f'"{model["alias"]}"' in created, f"nothing creates {model['name']}"
    views = [m for m in models if m["config"]["materialized"] != "source"]
    assert checked.get("sqlglot", 0) + checked.get("eddy+sqlglot", 0) >= len(views), checked
    # and every configured index (where the dashboard and the alerting look up)
    indexes = sum(len(m["config"].get("indexes") or []) for m in models)
    assert len(re.findall(r"\bcreate\s+index\b", created)) == indexes


def test_each_engine_takes_its_own_path(builds):
    """The dispatched macros differ where the engines do: the Kafka connection, the source DDL
    and the retention filter."""
    sent = {t: [strip_comments(i["sql"]) for i in builds[t]["statements"]] for t in TARGETS}
    mz, rw = (" ".join(sent[t]).lower() for t in TARGETS)
    assert "create connection if not exists public.kafka_connection to kafka" in mz
    assert "from kafka connection public.kafka_connection (topic 'clicks')" in mz
    assert "mz_now() <= event_time + interval '24 hours'" in mz
    assert "mz_now" not in rw and "create connection" not in rw
    assert "event_time >= now() - interval '24 hours'" in rw
    assert "event_time < now() - interval '24 hours'" in rw  # expired events, counted
    source = parse_strict(next(s for s in sent["risingwave"] if "src_clicks" in s
                               and "create source" in s.lower()), "risingwave")
    include = source.find(exp.IncludeProperty)
    assert include.name.lower() == "payload" and include.alias == "data"
    assert "format plain encode json" in source.sql("risingwave").lower()


BAD = [  # (target, statement, what the check says)
    ("risingwave", "create materialized view v as select * from t where mz_now() <= t.ts",
     "mz_now"),
    ("risingwave", "create materialized view v as select a::numeric(12, 2) from t", "modifiers"),
    ("risingwave", "create view v as select a::varchar(3) from t", "modifiers"),
    ("risingwave", "create materialized view v as select now() as at from t",
     "outside a comparison"),
    ("risingwave", "create materialized view v as select * from t where ts >= now() - now()",
     "appear once"),
    ("risingwave", "create materialized view v as select * from t wher ts > 1", "cannot parse"),
    ("materialize", "create materialized view v in cluster c as select now() as at from t",
     "now\\(\\) in a Materialize view"),
    ("materialize", "create view v as select * from t where mz_now() <= ts or a = 1", "under Or"),
    ("materialize", "create materialized view v as select mz_now() as at from t",
     "outside a comparison"),
    ("materialize", "create source s from kafka connection c (topic 't') format jsn",
     "after FORMAT"),
    ("materialize", "create connection c to kafka (brokers 'a')", "expected '\\('"),
    ("materialize", "create view v as selec 1", "Invalid expression|cannot parse"),
]


@pytest.mark.parametrize("target,sql,message", BAD)
def test_checks_reject_mistakes(target, sql, message):
    with pytest.raises(Exception, match=message):  # AssertionError, ParseError or EddyError
        CHECKS[target](sql)


@pytest.mark.parametrize("target,sql", [
    ("risingwave", "create materialized view v as select * from t "
                   "where ts >= now() - interval '1 hour' and a::numeric > 1"),
    ("materialize", "create materialized view v in cluster c as select * from t "
                    "where mz_now() <= ts + interval '1 hour' and a > 1"),
    ("materialize", "create source s in cluster c from kafka connection c (topic 't') format json"),
])
def test_checks_accept_good_statements(target, sql):
    CHECKS[target](sql)


@pytest.mark.parametrize("target,service,port_var,default", [
    ("materialize", "materialized", "MZ_PORT", 6875),
    ("risingwave", "risingwave", "RW_PORT", 4566),
])
def test_compose_matches_profile(target, service, port_var, default):
    """The compose file publishes the engine on 127.0.0.1 at the port the profile's target
    connects to (one variable sets both), and Kafka for the host on 127.0.0.1."""
    compose = yaml.safe_load((REPO / "deploy" / target / "docker-compose.yml").read_text())
    profile = yaml.safe_load((REPO / "profiles.yml").read_text())["eddy_platform"]["outputs"]
    assert profile[target]["type"] == target
    assert f"env_var('{port_var}', '{default}')" in profile[target]["port"]
    assert "'127.0.0.1'" in profile[target]["host"]
    services = compose["services"]
    assert {service, "redpanda", "topics"} <= set(services)
    assert f"127.0.0.1:${{{port_var}:-{default}}}:{default}" in services[service]["ports"]
    for svc in services.values():
        assert all(str(p).startswith("127.0.0.1:") for p in svc.get("ports", []))
    assert "internal://redpanda:9092" in " ".join(services["redpanda"]["command"])
    topics = services["topics"]["entrypoint"]
    for topic in ("clicks", "cart_events", "purchases", "logins", "device_changes",
                  "transactions", "app_logs"):
        assert topic in topics
