"""Applying source batches inside a tick: append (ENVELOPE NONE) or upsert by key.

All batches of a source that arrived since the last tick are applied as one: concatenated in
arrival order (upserts keep the last row per key), so a tick's cost does not grow with how
many pieces the data came in, and a busy tick is followed by a bigger, cheaper-per-row one.
"""

from __future__ import annotations

import itertools
import logging

import pyarrow as pa

from eddy.dataflow.runtime import Rel, W, nullsafe, union_all
from eddy.sql import types
from eddy.storage.state import phys, q

log = logging.getLogger(__name__)
_names = itertools.count(1)
_JSON = pa.json_()


def _typed(rt, obj, rel: str, extra: str = "", ready: frozenset = frozenset()) -> Rel:
    """`rel` cast to the relation's column types; the columns in `ready` are taken as they are."""
    items = ", ".join(q(c) if c in ready else f"CAST({q(c)} AS {types.duckdb_type(t)}) AS {q(c)}"
                      for c, t, _n in obj.columns)
    return rt.table(f"SELECT {items}{extra} FROM {rel}")


def _typed_arrow(rt, obj, rows: pa.Table, extra: str = "") -> Rel:
    """The Arrow rows cast to the relation's types, copied once into a tick-local table. A jsonb
    column of Arrow's JSON extension type (the Kafka decoder's, which checked every message)
    is read by DuckDB as JSON already: no cast (it would not validate either)."""
    view = f"_eddy_ingest_{next(_names)}"
    ready = frozenset(c for c, t, _n in obj.columns if t == "jsonb" and c in rows.column_names
                      and rows.schema.field(c).type == _JSON)
    rt.conn.register(view, rows)
    try:
        return _typed(rt, obj, view, extra, ready)
    finally:
        rt.conn.unregister(view)


def _append(rt, obj, rows: pa.Table) -> Rel | None:
    if rows.num_rows == 0:
        return None
    typed = _typed_arrow(rt, obj, rows, f", 1::BIGINT AS {W}")
    cols = ", ".join(q(c[0]) for c in obj.columns)
    rt.run(f"INSERT INTO {phys(obj.id)} SELECT {cols} FROM {typed.name}")
    typed.unit = True
    return typed


def _upsert(rt, obj, rows: pa.Table, key: list[str]) -> Rel | None:
    if rows.num_rows == 0:
        return None
    if "__tombstone" not in rows.column_names:
        rows = rows.append_column("__tombstone", pa.array([False] * rows.num_rows))
    rows = rows.append_column("__pos", pa.array(range(rows.num_rows), pa.int64()))
    cols = ", ".join(q(c[0]) for c in obj.columns)
    keys = ", ".join(q(k) for k in key)
    latest = rt.reg(rt.table(
        f"SELECT * FROM {rt.reg(rows)} QUALIFY row_number() OVER (PARTITION BY {keys} "
        f"ORDER BY __pos DESC) = 1"))
    old = rt.table(f"SELECT s.*, -1::BIGINT AS {W} FROM {phys(obj.id)} s SEMI JOIN {latest} d "
                   f"ON {nullsafe('s', 'd', key)}")
    rt.run(f"DELETE FROM {phys(obj.id)} s USING {latest} d WHERE {nullsafe('s', 'd', key)}")
    new = _typed(rt, obj, f"(SELECT * FROM {latest} WHERE NOT coalesce(__tombstone, false))",
                 f", 1::BIGINT AS {W}")
    rt.run(f"INSERT INTO {phys(obj.id)} SELECT {cols} FROM {new.name}")
    out = rt.table(f"SELECT {cols}, {W} FROM {old.name} UNION ALL "
                   f"SELECT {cols}, {W} FROM {new.name}")
    return out if out.num_rows else None


def _concat(tables: list[pa.Table]) -> pa.Table | None:
    """Tables of one relation as one (columns matched by name, types unified); None if empty."""
    tables = [t for t in tables if t is not None and t.num_rows]
    if len(tables) <= 1:
        return tables[0] if tables else None
    return pa.concat_tables(tables, promote_options="permissive")


def _merged(obj, batches) -> tuple[pa.Table | None, dict[str, pa.Table | None]] | None:
    """All batches' rows and subsource rows as one table each; None if they do not concat."""
    names = [c[0] for c in obj.columns]
    key = obj.internal.get("upsert_key")
    try:
        rows = _concat([b.rows if key else b.rows.select(names) for b in batches])
        extra_names = {n for b in batches for n in (b.extra or {})}
        extra = {n: _concat([(b.extra or {}).get(n) for b in batches]) for n in extra_names}
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as e:
        log.debug("source %s: batches applied one by one (%s)", obj.id, e)
        return None
    return rows, extra


def add_delta(rt, object_id: str, delta) -> None:
    """Add `delta` to the tick's pending changes of `object_id`."""
    delta = rt.rel(delta)
    if object_id in rt.deltas:
        rt.deltas[object_id] = union_all(rt, [rt.deltas[object_id], delta])
    else:
        rt.deltas[object_id] = delta


def apply_ingest(engine, rt, source_id: str, batches) -> dict | None:
    """Apply queued batches of one source inside the tick; returns its offsets after them
    (None if the source is gone), which the tick writes with all sources' in one statement."""
    obj = engine.catalog.get(source_id)
    if obj is None:
        return None
    offsets = engine.state.tick_offsets(source_id, rt.conn)
    key = obj.internal.get("upsert_key")
    merged = _merged(obj, batches) if len(batches) > 1 else None
    parts = [merged] if merged is not None else [(b.rows, b.extra or {}) for b in batches]
    for rows, extras in parts:
        if rows is not None:
            delta = _upsert(rt, obj, rows, key) if key else _append(
                rt, obj, rows.select([c[0] for c in obj.columns]))
            if delta is not None:
                add_delta(rt, obj.id, delta)
        for name, extra in extras.items():
            sub = engine.catalog.get(obj.internal.get("subsources", {}).get(name, ""))
            if sub is None or extra is None:
                continue
            d = _append(rt, sub, extra.select([c[0] for c in sub.columns]))
            if d is not None:
                add_delta(rt, sub.id, d)
    for batch in batches:
        offsets.update(batch.offsets or {})
    return offsets
