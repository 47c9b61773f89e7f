"""Maps that extract many JSON fields parse each document once (eddy.dataflow.jsonpaths), and
give exactly what the per-field extraction gives: a maintained view equals the same SELECT run
by DuckDB as a one-off read, for documents with missing keys, nulls, numbers, nested values."""

from __future__ import annotations

import json

import pytest

from eddy.dataflow.jsonpaths import share
from eddy.dataflow.operators import Map
from eddy.engine import Engine

DOCS = [
    {"id": "a", "n": 1, "s": "x", "o": {"k": [1, 2]}, "t": "2026-01-02T03:04:05.678Z"},
    {"id": "b", "n": 1.50, "s": None, "o": [1, "two"], "t": "not a time"},
    {"id": "c", "s": "yes", "t": "2026-02-29T00:00:00.000Z"},
    {"id": 7, "n": "12", "s": "", "o": None},
    {},
    {"id": "e", "n": -0.0, "s": "ünï", "o": {"k": {"deep": True}}, "t": None},
]

VIEW = """
    select data ->> 'id' as id,
           jsonb_typeof(data -> 'n') as n_type,
           data ->> 'n' as n_text,
           data -> 'o' as o,
           data -> 'o' ->> 'k' as ok,
           data ->> 's' as s,
           case when jsonb_typeof(data -> 'id') = 'string' and data ->> 's' is not null
                then 'ok' else data ->> 't' end as verdict
    from docs
    where coalesce(jsonb_typeof(data -> 'n') <> 'string', true)
"""


@pytest.fixture
def engine():
    eng = Engine(None, tick_interval=None)
    yield eng
    eng.close()


def _rows(session, sql):
    return sorted(map(repr, session.execute(sql)[0].rows))


def test_maintained_view_equals_one_off_read(engine):
    s = engine.session()
    s.execute("create table docs (data jsonb)")
    s.execute(f"create materialized view v as {VIEW}")
    s.execute("insert into docs values " + ", ".join([f"(${i + 1}::jsonb)"
                                                       for i in range(len(DOCS))]),
              [json.dumps(d) for d in DOCS])
    got = _rows(s, "select * from v")
    assert got == _rows(s, VIEW)
    df = next(iter(engine.dataflows.values()))
    assert any("__jp0" in n.full() for n in df.root.walk() if isinstance(n, Map))
    assert len(got) == 5    # the row whose n is a string is filtered out
    s.execute("delete from docs where data ->> 'id' = 'a'")
    assert _rows(s, "select * from v") == _rows(s, VIEW)
    assert len(_rows(s, "select * from v")) == 4


def test_share_rewrites_repeated_extractions_only():
    items, exprs, where = share(('"__in"."data" ->> \'$.a\'', '"__in"."x" + 1',
                                 'CAST(("__in"."data" ->> \'$.b\') AS INT)'),
                                'JSON_TYPE("__in"."data" -> \'$.a\') = \'VARCHAR\'')
    assert items == ('json_extract_string("__in"."data", [\'$.a\', \'$.b\']) AS __jp0',
                     'json_extract("__in"."data", [\'$.a\']) AS __jp1')
    assert exprs == ('"__in"."__jp0"[1]', '"__in"."x" + 1',
                     'CAST(("__in"."__jp0"[2]) AS INT)')
    assert where == 'JSON_TYPE("__in"."__jp1"[1]) = \'VARCHAR\''
    assert share(('"__in"."data" ->> \'$.a\'', '"__in"."y"'), None) is None
