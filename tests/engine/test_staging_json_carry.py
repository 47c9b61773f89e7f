"""A contract filter that several views apply to one source (a topic's staging view and
stg_expired_events) parses each document once per tick: the filter's rows carry the values it
extracted (eddy.dataflow.jsonpaths.carried) and the views' projections read them. The views
equal DuckDB's batch evaluation of their SQL over adversarial documents as the source stores
them: JSON null and missing keys, nested paths, numbers of every form as text, duplicate keys,
keys equal but for case, escapes and unicode, documents that are not objects."""

from __future__ import annotations

import json
import random

import duckdb
import pyarrow as pa
import pytest
from oracle import diff, multiset

from eddy.dataflow.jsonpaths import filter_rows
from eddy.dataflow.runtime import TickContext
from eddy.engine import Engine
from eddy.sql import dialect, jsonb
from eddy.sql.functions import install as install_sql_functions

# (no 1e400: the engine returns that jsonb number as an infinite float, 'inf' as text)
VALUES = ['null', '0', '-0', '1', '-1', '1.50', '1E2', '1.7976931348623157e308', '-0.0',
          '0.00001', '1.5e-7', '1e16',
          '123456789012345678901234567890', '18446744073709551615', '-9223372036854775809',
          'true', 'false', '""', '"x"', '"drop me"', '"bad"', '"x\\ny\\"q\\\\"', '"caf\\u00e9"',
          '"\\ud83d\\ude00 ünï"', '"\\u0000"', '"\\/"', '[]', '[1,"a",null]', '{}',
          '{"p":"bad"}', '{"p":null,"q":[1]}', '{"p":1,"p":"bad"}', '{"P":"bad"}']
KEYS = ["a", "s", "n", "o", "A", "t"]
NOT_OBJECTS = ['[1, 2]', '"str"', '1', 'null', 'true', '[]']

CHECK = ("case when not coalesce(jsonb_typeof(src.data -> 'a') in ('string', 'null'), false) "
         "then 'a' when (src.data -> 'o' ->> 'p') = 'bad' then 'p' "
         "when src.data ->> 's' like '%drop%' then 's' "
         "when src.data ->> 't' like '[%' and src.data ->> 't' <> '[]' then 't' "
         "when not coalesce(jsonb_typeof(src.data -> 'n') <> 'object', true) then 'n' end is null")
# columns qualified: DuckDB reads `f(data -> 'n')` with a bare name as a lambda
VIEWS = {
    "v1": f"select src.data ->> 'a' as a, src.data ->> 's' as s, src.data ->> 'n' as n, "
          f"src.data -> 'o' ->> 'p' as p, src.data -> 'o' as o, src.data ->> 'A' as upper_a, "
          f"src.data ->> 't' as t from src where {CHECK}",
    "v2": f"select src.data ->> 's' as s, jsonb_typeof(src.data -> 'n') as nt, "
          f"(src.data ->> 'a') || '!' as a, src.data from src where {CHECK}",
    "v3": "select src.data ->> 'a' as a, src.data ->> 'n' as n from src "
          "where jsonb_typeof(src.data -> 'a') = 'string'",
}


def _doc(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice(NOT_OBJECTS)
    parts = []
    for k in KEYS:
        if rng.random() < 0.25:
            continue                                    # missing key
        parts.append(f'"{k}":{rng.choice(VALUES)}')
        if rng.random() < 0.1:                          # a duplicate key
            parts.append(f'"{k}":{rng.choice(VALUES)}')
    rng.shuffle(parts)
    return "{" + ", ".join(parts) + "}"


def _json_normed(rows, cols: set[int], text) -> list[tuple]:
    """jsonb values compared as values: numbers as floats (the engine reads them as numeric:
    -0.0 is 0, 1E2 is 100), keys sorted."""
    def num(v):
        if isinstance(v, dict):
            return {k: num(x) for k, x in v.items()}
        if isinstance(v, list):
            return [num(x) for x in v]
        return float(v) + 0.0 if isinstance(v, int | float) and not isinstance(v, bool) else v
    return [tuple(v if v is None or i not in cols else
                  json.dumps(num(json.loads(text(v))), sort_keys=True)
                  for i, v in enumerate(row)) for row in rows]


class _Source:
    def __init__(self, ctx):
        self.ctx = ctx
        self.columns = [("data", "jsonb")]
        self.upsert_key = None
        self.subsources = {}

    def start(self):
        pass

    def stop(self):
        pass

    def status(self):
        return {}


class _Connector:
    kind = "memory"

    def __init__(self):
        self.sources = {}

    def create_connection(self, name, body):
        return {}

    def create_source(self, ctx, body):
        self.sources[ctx.name] = _Source(ctx)
        return self.sources[ctx.name]

    def create_sink(self, ctx, body):
        raise NotImplementedError


def _engine(views: dict[str, str]):
    engine = Engine(None, tick_interval=None)
    connector = _Connector()
    engine.register_connector(connector)
    s = engine.session()
    s.execute("CREATE SOURCE src FROM MEMORY (TOPIC 'e')")
    for name, sql in views.items():
        s.execute(f"create materialized view {name} as {sql}")
    return engine, s, connector.sources["src"].ctx.source_id


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_shared_contract_filter_matches_batch_evaluation(seed):
    rng = random.Random(seed)
    engine, s, source_id = _engine(VIEWS)
    ref = duckdb.connect()
    install_sql_functions(ref)
    ref.execute("CREATE TABLE src (data JSON)")
    schema = {"src": {"data": "jsonb"}}
    for name, sql in VIEWS.items():
        ref.execute(f"CREATE VIEW {name} AS {dialect.transpile(sql, schema=schema)}")
    try:
        offset = 0
        for _ in range(4):                               # ticks; repeats are duplicate rows
            docs = [_doc(rng) for _ in range(rng.randrange(20, 60))]
            docs += rng.sample(docs, 3)
            offset += len(docs)
            engine.ingest(source_id, pa.table({"data": pa.array(docs, pa.string())}),
                          {"0": offset})
            engine.tick()
            ref.executemany("INSERT INTO src VALUES (?::JSON)", [[d] for d in docs])
            for name in VIEWS:
                cursor = ref.execute(f"SELECT * FROM {name}")
                json_cols = {i for i, d in enumerate(cursor.description) if str(d[1]) == "JSON"}
                expected = multiset(_json_normed(cursor.fetchall(), json_cols, str), set())
                result = s.execute(f"select * from {name}")[0]
                mine = {i for i, c in enumerate(result.columns) if c.type_name == "jsonb"}
                got = multiset(_json_normed(result.rows, mine, jsonb.to_text), set())
                assert got == expected, f"{name}: {diff(expected, got)}"
    finally:
        engine.close()
        ref.close()


def test_the_staging_path_parses_each_document_once(monkeypatch):
    """Two views sharing a contract filter of flat paths (the staging contracts'): one
    statement per tick reads the documents (the filter); both projections read the values it
    carries. Before: three. (A nested `data -> 'o' ->> 'p'` is parsed where it is read.)"""
    parses = []
    original = TickContext.table

    def counting(rt, sql, params=None):
        if any(f in sql for f in ("json_type(", "json_extract", "json_transform(", "->>")):
            parses.append(sql)
        return original(rt, sql, params)
    check = ("coalesce(jsonb_typeof(src.data -> 'a') = 'string', false) "
             "and src.data ->> 's' <> 'drop'")
    views = {"w1": f"select src.data ->> 'a' as a, src.data ->> 's' as s from src where {check}",
             "w2": f"select (src.data ->> 's') || '!' as s, src.data ->> 'a' as a from src "
                   f"where {check}"}
    engine, s, source_id = _engine(views)
    try:
        monkeypatch.setattr(TickContext, "table", counting)
        docs = ['{"a":"x","s":"y","n":1}', '{"a":null,"s":"z"}', '{"a":"z","s":"drop"}',
                '{"a":"w","n":[2],"s":"v"}']
        engine.ingest(source_id, pa.table({"data": docs}), {"0": 4})
        engine.tick()
        assert len(parses) == 1, parses
        assert sorted(s.execute("select * from w1")[0].rows) == [("w", "v"), ("x", "y")]
        assert sorted(s.execute("select * from w2")[0].rows) == [("v!", "w"), ("y!", "x")]
    finally:
        engine.close()


@pytest.mark.parametrize("reads_document", [False, True])
def test_the_shared_filter_keeps_the_document_only_for_a_view_that_reads_it(monkeypatch,
                                                                            reads_document):
    """The rows a shared contract filter keeps carry its extracted values; the document
    itself (the largest column, copied once per tick) only when some view reads more of it."""
    kept = []
    original = TickContext.filtered

    def recording(rt, delta, where, sql):
        rel = original(rt, delta, where, sql)
        kept.append(rel.column_names)
        return rel
    check = "src.data ->> 's' <> 'drop'"
    views = {"w1": f"select src.data ->> 's' as s from src where {check}",
             "w2": f"select src.data ->> 's' as s, "
                   f"{'src.data' if reads_document else 'length(src.data ->> ' + repr('s') + ')'}"
                   f" as d from src where {check}"}
    engine, s, source_id = _engine(views)
    try:
        monkeypatch.setattr(TickContext, "filtered", recording)
        engine.ingest(source_id, pa.table({"data": ['{"s":"ab"}', '{"s":"drop"}']}), {"0": 2})
        engine.tick()
        assert kept and all(("data" in cols) == reads_document for cols in kept), kept
        assert s.execute("select * from w1")[0].rows == [("ab",)]
        assert s.execute("select s from w2")[0].rows == [("ab",)]
    finally:
        engine.close()


def test_decoded_json_is_ingested_without_a_cast(monkeypatch):
    """The Kafka decoder's jsonb column (Arrow's JSON extension type, every message checked)
    is copied as it is; plain text is still cast, which rejects invalid JSON."""
    statements = []
    original = TickContext.table

    def recording(rt, sql, params=None):
        statements.append(sql)
        return original(rt, sql, params)
    engine, s, source_id = _engine({"w": "select src.data ->> 'a' as a from src"})
    try:
        monkeypatch.setattr(TickContext, "table", recording)
        decoded = pa.ExtensionArray.from_storage(pa.json_(), pa.array(['{"a":"x"}']))
        engine.ingest(source_id, pa.table({"data": decoded}), {"0": 1})
        engine.tick()
        assert not any("CAST" in q and "_eddy_ingest_" in q for q in statements), statements
        statements.clear()
        engine.ingest(source_id, pa.table({"data": ['{"a":"y"}']}), {"0": 2})
        engine.tick()
        assert any("CAST" in q and "_eddy_ingest_" in q for q in statements), statements
        assert sorted(s.execute("select a from w")[0].rows) == [("x",), ("y",)]
        engine.ingest(source_id, pa.table({"data": ['{"a":']}), {"0": 3})
        engine.tick()
        assert source_id in engine.source_errors          # invalid text: the batch is refused
        assert sorted(s.execute("select a from w")[0].rows) == [("x",), ("y",)]
    finally:
        engine.close()


def test_a_value_the_filter_reads_twice_is_taken_out_of_its_list_once():
    t = """("__in"."data" ->> '$.t')"""
    where = f"""{t} LIKE '[%' AND {t} <> '[]' AND json_type("__in"."data", '$.a') IN ('VARCHAR')"""
    sql = filter_rows("SELECT * FROM d", ("data",), where)
    assert """json_extract_string(__in."data", ['$.a', '$.t']) AS __jc1""" in sql, sql
    assert """"__in"."__jc1"[2] AS __jc1_2""" in sql, sql
    assert sql.split(" WHERE ")[-1].count('"__in"."__jc1_2"') == 2, sql
    assert sql.startswith('SELECT __in."data" AS "data", __in.__jc1, __in.__w FROM'), sql
