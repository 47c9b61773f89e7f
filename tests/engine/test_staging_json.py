"""The staging views' cheaper plans are exact: `jsonb_typeof(j -> 'k')` compared with type
names (read as DuckDB type names, shared per document by eddy.dataflow.jsonpaths) against a
plain-Python jsonb_typeof; `(j ->> 'k')::numeric` (narrow cast first) against DuckDB's own
wide cast; first row per key with new, repeated and stored keys in one tick against the batch
query (the fast path for insert-only deltas); a retention window (temporal filter with only an
upper bound) whose rows expire one, two or more steps after they arrive, or on arrival."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import duckdb
import pytest
from oracle import Shape, base_ms, run_stream

from eddy.engine import Engine

VALUES = [0, -0.0, 1, -1, 2.5, 18446744073709551615, -9223372036854775809, 10 ** 30, "s", "",
          None, True, False, [], [1, "a"], {}, {"p": None}]
RAW_NUMBERS = ["-0", "0", "1E2", "1e400", "-0.0", "123456789012345678901234567890"]
KEYS = ["a", "b", "c"]


def _typeof(doc: dict, key: str) -> str | None:
    if key not in doc:
        return None
    v = doc[key]
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return {str: "string", type(None): "null", list: "array", dict: "object"}[type(v)]


def _docs(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for k in KEYS:
            if rng.random() < 0.2:
                continue                                  # missing key
            if rng.random() < 0.25:
                parts.append(f'"{k}":{rng.choice(RAW_NUMBERS)}')
            else:
                parts.append(f'"{k}":{json.dumps(rng.choice(VALUES))}')
        out.append("{" + ",".join(parts) + "}")
    return out


COMPARISONS = [
    ("is_string", "jsonb_typeof(j -> 'a') = 'string'", lambda t: None if t is None else t == "string"),
    ("str_or_null", "coalesce(jsonb_typeof(j -> 'a') in ('string', 'null'), false)",
     lambda t: t in ("string", "null")),
    ("is_number", "not (jsonb_typeof(j -> 'b') = 'number')",
     lambda t: None if t is None else t != "number"),
    ("flipped", "'boolean' = jsonb_typeof(j -> 'c')", lambda t: None if t is None else t == "boolean"),
    ("unknown_name", "jsonb_typeof(j -> 'b') in ('array', 'Number', 'object')",
     lambda t: None if t is None else t in ("array", "object")),
    ("plain", "jsonb_typeof(j -> 'c')", lambda t: t),
]
FIELDS = {"is_string": "a", "str_or_null": "a", "is_number": "b", "flipped": "c",
          "unknown_name": "b", "plain": "c"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_typeof_comparisons_match_python(seed):
    docs = _docs(seed, 60)
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t (id int, j jsonb)")
        cols = ", ".join(f"{sql} as {name}" for name, sql, _ in COMPARISONS)
        s.execute(f"create materialized view v as select id, {cols} from t "
                  "where coalesce(jsonb_typeof(j -> 'a') <> 'object', true)")
        plan = "\n".join(r[0] for r in s.execute("explain materialized view v")[0].rows)
        assert "CASE JSON_TYPE" not in plan.split("filter")[1], plan   # comparisons rewritten
        half = len(docs) // 2
        for part in (range(half), range(half, len(docs))):    # two ticks
            s.execute("insert into t values " + ", ".join(
                f"({i}, '{docs[i]}')" for i in part))
        expected = {}
        for i, text in enumerate(docs):
            doc = json.loads(text)
            if _typeof(doc, "a") == "object":
                continue
            expected[i] = tuple(fn(_typeof(doc, FIELDS[name])) for name, _, fn in COMPARISONS)
        got = {r[0]: tuple(r[1:]) for r in s.execute("select * from v")[0].rows}
        assert got == expected
        oneoff = {r[0]: tuple(r[1:]) for r in s.execute(f"select id, {cols} from t")[0].rows}
        assert {i: oneoff[i] for i in expected} == expected
    finally:
        engine.close()


NUMBER_TEXTS = ["0", "-0", "1", "12.5", "-3.25", "0.00000000005", "-0.00000000005",
                "0.000000000049", "99999999.99999999995", "-99999999.99999999995",
                "123456789.123456789", "1e8", "1.5e-11", "9999999999.99", "10000000000",
                "12345678901234567890", "1234567890123456789012345678", "2147483647",
                "2147483648", "1.005", "7.999999999950", "3E3"]


def test_numeric_cast_of_json_text_matches_wide_cast():
    rng = random.Random(5)
    texts = NUMBER_TEXTS + [f"{rng.uniform(-1e12, 1e12):.{rng.randint(0, 13)}f}"
                            for _ in range(200)]
    ref = duckdb.connect()
    wide = [ref.execute("select n, n <> round(n, 2) from (select cast(json_extract_string("
                        "?::json, '$.n') as decimal(38, 10)) as n)", [f'{{"n":{t}}}']).fetchone()
            for t in texts]
    engine = Engine(None, tick_interval=None)
    try:
        s = engine.session()
        s.execute("create table t (id int, j jsonb)")
        s.execute("create materialized view v as select id, (j ->> 'n')::numeric as n, "
                  "(j ->> 'n')::numeric <> round((j ->> 'n')::numeric, 2) as frac from t")
        s.execute("insert into t values " + ", ".join(
            f"({i}, '{{\"n\":{t}}}')" for i, t in enumerate(texts)))
        got = {r[0]: r[1:] for r in s.execute("select * from v")[0].rows}
        for i, (w, frac) in enumerate(wide):
            assert Decimal(got[i][0]) == w and got[i][1] == frac, (texts[i], got[i], w)
        with pytest.raises(Exception, match="DECIMAL"):     # not a number: the wide cast's error
            s.execute("select ('{\"n\": \"x\"}'::jsonb ->> 'n')::numeric")
    finally:
        engine.close()


DEDUP = Shape("staging_dedup", (("v1", "with r as (select * from t1 where mz_now() <= ts + "
                                      "interval '2 minutes') select distinct on (id) id, g, v, ts "
                                      "from r order by id, ts, g, v"),), temporal=True)
DESC = Shape("desc_nulls", (("v1", "select distinct on (g) g, id, v from t1 "
                                   "order by g, v desc nulls first, id"),))


def _row(i, g="a", v=1, ts=0):
    return (i, g, v, 0.5, True, ts, None)


def _ins(*rows):
    return ("insert", "t1", list(rows), "cast", False)


MIXED = [
    _ins(_row(1), _row(2, "b"), _row(3, "c", 5)),
    # one tick: new keys once, a new key twice, stored keys with better and worse rows
    _ins(_row(4, "d"), _row(5, "e", 2), _row(6, "f"), _row(6, "f", 0, -1), _row(1, "a", 0, -2),
         _row(2, "b", 9, 3), _row(7, None, None), _row(8, None, 3)),
    _ins(_row(9, "g"), _row(3, "c", 5), _row(3, "c", 5)),
    ("delete", "t1", 6),
    _ins(_row(6, "f", 4), _row(10, "h"), _row(11, "i")),
]


@pytest.mark.parametrize("shape", [DEDUP, DESC], ids=["staging_dedup", "desc_nulls"])
def test_first_row_mixed_tick(shape):
    engine = Engine(None, tick_interval=None)
    try:
        run_stream(engine, shape, MIXED, base_ms())
    finally:
        engine.close()


WINDOW = Shape("retention_window", (
    ("v1", "select id, g, ts from t1 where mz_now() <= ts + interval '30 seconds'"),
    ("v2", "select g, count(*) as n from t1 where mz_now() <= ts + interval '50 seconds' "
           "group by g")), temporal=True)


def test_retention_window_expiry():
    # ts = base + offset * 15 s; a step advances 20 s
    stream = [_ins(_row(1, ts=0), _row(2, "b", ts=1), _row(3, ts=-2), _row(4, ts=-5)),
              ("advance",), _ins(_row(5, ts=2), _row(6, "b", ts=-1)), ("advance",),
              ("advance",), _ins(_row(7, ts=9), _row(8, ts=3)), ("delete", "t1", 7),
              ("advance",), ("advance",), ("advance",), ("advance",)]
    engine = Engine(None, tick_interval=None)
    try:
        run_stream(engine, WINDOW, stream, base_ms())
    finally:
        engine.close()
