"""The naive baseline of the marts benchmark, and its oracle: the dbt project's compiled SQL run
by DuckDB in full over tables of the events, as a batch `dbt run` with table materializations
would (each maintained model rebuilt in dependency order, plain views inlined)."""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa
from confluent_kafka import Consumer, TopicPartition
from sqlglot import exp

from eddy.sql import dialect
from eddy.sql.functions import install as install_sql_functions
from eddy.sql.resolve import parse


def load_events(bootstrap: str, upto: dict[tuple[str, int], int], prefix: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB database with `src_<topic>(data JSON)`: every message below the `upto` offsets."""
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    install_sql_functions(conn)   # the compiled models call the engine's SQL macros
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    try:
        for topic in sorted({t for t, _ in upto}):
            ends = {p: o for (t, p), o in upto.items() if t == topic and o > 0}
            values: list[bytes] = []
            if ends:
                c.assign([TopicPartition(topic, p, 0) for p in ends])
                left = dict(ends)
                while left:
                    for m in c.consume(num_messages=10_000, timeout=1.0):
                        if m.error() is not None or m.partition() not in left:
                            continue
                        if m.offset() < ends[m.partition()]:
                            values.append(m.value())
                        if m.offset() + 1 >= ends[m.partition()]:
                            left.pop(m.partition(), None)
                            c.incremental_unassign([TopicPartition(topic, m.partition())])
                c.unassign()
            data = pa.table({"data": pa.array([v.decode() for v in values], pa.string())})
            conn.register("incoming", data)
            conn.execute(f'CREATE TABLE "src_{topic[len(prefix):]}" AS '
                         "SELECT data::JSON AS data FROM incoming")
            conn.unregister("incoming")
    finally:
        c.close()
    return conn


def _unqualified(sql: str) -> exp.Expression:
    """The model's compiled SELECT (parsed as the engine parses it) with bare table names."""
    tree = parse(sql)
    for table in tree.find_all(exp.Table):
        table.set("catalog", None)
        table.set("db", None)
    return tree


class Project:
    """The compiled models a set of marts needs, in dependency order, as DuckDB SQL."""

    def __init__(self, manifest: dict, marts: list[str]):
        nodes = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
        by_name = {n["name"]: k for k, n in nodes.items()}
        order: list[str] = []

        def visit(key: str) -> None:
            if key in order or key not in nodes:
                return
            for dep in nodes[key]["depends_on"]["nodes"]:
                visit(dep)
            order.append(key)

        for mart in marts:
            visit(by_name[mart])
        self.models: list[tuple[str, str, str]] = []  # (name, materialized, duckdb sql)
        for key in order:
            node = nodes[key]
            kind = node["config"]["materialized"]
            if kind == "source":
                continue
            sql = dialect.render(dialect.to_duckdb(_unqualified(node["compiled_code"])))
            self.models.append((node["name"], kind, sql))

    def recompute(self, conn: duckdb.DuckDBPyConnection) -> float:
        """Rebuild every model once (views only once per connection); returns seconds."""
        conn.execute("SET VARIABLE mz_now = epoch_ms(now())")
        t0 = time.perf_counter()
        for name, kind, sql in self.models:
            if kind == "view":
                conn.execute(f'CREATE OR REPLACE VIEW "{name}" AS {sql}')
            else:
                conn.execute(f'CREATE OR REPLACE TABLE "{name}" AS {sql}')
        return time.perf_counter() - t0


def _norm(v):
    if isinstance(v, bool) or v is None or isinstance(v, str | int):
        return v
    if isinstance(v, float | Decimal):
        f = float(v)
        return None if math.isnan(f) else round(f, 6)
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()
    return str(v)


def rows_multiset(rows) -> Counter:
    return Counter(tuple(_norm(v) for v in r) for r in rows)


def compare(eddy_rows: dict[str, list[tuple]], conn: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Per mart: rows in eddy, rows by DuckDB, and whether the two multisets are equal."""
    out = {}
    for mart, rows in eddy_rows.items():
        ref = conn.execute(f'SELECT * FROM "{mart}"').fetchall()
        a, b = rows_multiset(rows), rows_multiset(ref)
        out[mart] = {"eddy_rows": len(rows), "duckdb_rows": len(ref), "equal": a == b,
                     "only_eddy": sum((a - b).values()), "only_duckdb": sum((b - a).values()),
                     # a few of the differing rows, to look into
                     "sample_only_eddy": [list(r) for r in list(a - b)[:5]],
                     "sample_only_duckdb": [list(r) for r in list(b - a)[:5]]}
    return out
