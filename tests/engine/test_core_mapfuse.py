"""A projection over a map that only filters and renames is one SELECT (eddy.dataflow.
operators.Map._composed): the staging views' contract filter and typed projection parse each
JSON document once. The composed views equal the one-off query after inserts and deletes."""

from __future__ import annotations

from eddy.dataflow.operators import Map, Scan
from eddy.engine import Engine

VIEWS = {
    # a filter CTE, then a typed projection over it (the staging shape)
    "typed": "with ok as (select id, j from t where (j ->> 'a') ~ '^[0-9]+$' and "
             "j ->> 'b' is not null) select id, (j ->> 'a')::int as a, j ->> 'b' as b from ok",
    # renaming levels, constants, a column used as a whole expression
    "renamed": "with a as (select id as x, v as y from t where v > 0), b as (select y as z, x "
               "from a) select 1 as one, 'k' as k, z, x + z as s from b",
    # a projection over an aggregate's output (not composed below the aggregate)
    "over_aggregate": "with s as (select count(*) filter (where v > 0) as p, count(*) as n "
                      "from t) select 1 as step, p as value from s union all "
                      "select 2, n from s",
}


def _rows(s, sql):
    return sorted(s.execute(sql)[0].rows, key=repr)


def test_composed_maps_equal_the_query():
    e = Engine(None, tick_interval=None)
    try:
        s = e.session()
        s.execute("create table t (id int, v int, j jsonb)")
        for name, sql in VIEWS.items():
            s.execute(f"create materialized view {name} as {sql}")
        s.execute("insert into t values (1, 2, '{\"a\": \"12\", \"b\": \"x\"}'), "
                  "(2, -1, '{\"a\": \"zz\", \"b\": \"y\"}'), (3, 5, '{\"a\": \"7\"}'), "
                  "(4, 3, null)")
        s.execute("delete from t where id = 1")
        s.execute("insert into t values (5, 1, '{\"a\": \"3\", \"b\": null}'), "
                  "(6, 9, '{\"a\": \"40\", \"b\": \"w\"}')")
        for name, sql in VIEWS.items():
            assert _rows(s, f"select * from {name}") == _rows(s, sql), name
        typed = next(df for df in e.dataflows.values()
                     if any(o.name == "typed" and o.id == df.object_id for o in e.catalog))
        flat = typed.root._composed()
        assert isinstance(flat, Map) and isinstance(flat.children[0], Scan), typed.explain()
        assert flat.where is not None
    finally:
        e.close()
