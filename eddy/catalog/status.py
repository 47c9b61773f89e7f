"""Live connector relations: source and sink statuses and statistics, current as of each query.

These relations are DuckDB views over one Python function, `eddy_live_status(relation)`, which
asks the running drivers (`engine.drivers[...].status()`) at the moment a query reads them, so
`SELECT * FROM mz_internal.mz_source_statuses` shows a stall while it lasts and costs nothing
when nobody looks. `install(conn)` (from `system.refresh`) creates the function and the views;
a driver calls `attach(engine)` when it starts so the function finds the engine's drivers.
Without an attached engine (or with no drivers) the relations are empty.

Relations (Materialize's columns where Materialize has the relation):

- `mz_internal.mz_source_statuses`, `mz_internal.mz_sink_statuses`: id, name, type,
  last_status_change_at, status (starting | running | stalled | dropped), error, details (JSON).
- `mz_internal.mz_source_status_history`, `mz_internal.mz_sink_status_history`: occurred_at,
  source_id / sink_id, status, error, details, replica_id (the last 100 changes per object).
- `mz_internal.mz_source_statistics`: Materialize's columns plus eddy's dead-letter counts
  `dead_letters_received` (staged) and `dead_letters_committed`.
- `mz_internal.mz_source_partition_statistics` (eddy's own; Materialize has no per-partition
  relation): source_id, partition, offset_known (high watermark), offset_consumed,
  offset_committed (next offset in the last committed tick), lag (known - committed).
- `mz_internal.mz_sink_statistics`: id, replica_id, messages_staged, messages_committed,
  bytes_staged, bytes_committed, transactions_committed.
"""

from __future__ import annotations

import json
import logging
import weakref

from eddy.catalog import lag

log = logging.getLogger(__name__)

FUNCTION = "eddy_live_status"
REPLICA = "r1"

# (schema, name) -> "column:kind ..." (kinds as in eddy.catalog.system._K)
LIVE_RELATIONS: dict[tuple[str, str], str] = {
    ("mz_internal", "mz_source_statuses"):
        "id:t name:t type:t last_status_change_at:z status:t error:t details:t",
    ("mz_internal", "mz_source_status_history"):
        "occurred_at:z source_id:t status:t error:t details:t replica_id:t",
    ("mz_internal", "mz_source_statistics"):
        "id:t replica_id:t messages_received:i bytes_received:i updates_staged:i "
        "updates_committed:i records_indexed:i bytes_indexed:i rehydration_latency:t "
        "snapshot_records_known:i snapshot_records_staged:i snapshot_committed:b offset_known:i "
        "offset_committed:i dead_letters_received:i dead_letters_committed:i",
    ("mz_internal", "mz_source_partition_statistics"):
        "source_id:t partition:i offset_known:i offset_consumed:i offset_committed:i lag:i",
    ("mz_internal", "mz_sink_statuses"):
        "id:t name:t type:t last_status_change_at:z status:t error:t details:t",
    ("mz_internal", "mz_sink_status_history"):
        "occurred_at:z sink_id:t status:t error:t details:t replica_id:t",
    ("mz_internal", "mz_sink_statistics"):
        "id:t replica_id:t messages_staged:i messages_committed:i bytes_staged:i "
        "bytes_committed:i transactions_committed:i",
}
LIVE_RELATIONS.update(lag.RELATIONS)     # wallclock lag and engine statistics (eddy.catalog.lag)
_JSON_TYPE = {"t": "VARCHAR", "i": "BIGINT", "b": "BOOLEAN", "z": "BIGINT", "v": "BIGINT",
              "d": "DOUBLE"}
_CAST = {"z": 'to_timestamp("{}" / 1000.0)', "v": 'to_milliseconds("{}")'}  # from epoch / ms

_ENGINES: dict[int, weakref.ref] = {}  # id(state connection) -> engine


def attach(engine) -> None:
    """Let the status relations of `engine`'s state database read its drivers."""
    _ENGINES[id(engine.state.conn)] = weakref.ref(engine)


def view_sql(schema_sql: str, name: str, spec: str) -> str:
    cols = [c.split(":") for c in spec.split()]
    struct = json.dumps({c: _JSON_TYPE[k] for c, k in cols})
    items = ", ".join(f'{_CAST[k].format(c)} AS "{c}"' if k in _CAST else f'"{c}"'
                      for c, k in cols)
    return (f'CREATE OR REPLACE VIEW {schema_sql}."{name}" AS SELECT {items} FROM '
            f"(SELECT unnest(from_json({FUNCTION}('{name}'), '[{struct}]'), recursive := true))")


def install(conn, physical_schema) -> None:
    """Create the function on `conn` and the views (replacing older tables of those names);
    what already exists in its current form is left alone."""
    key = id(conn)
    if not conn.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = ?",
                        [FUNCTION]).fetchone()[0]:
        conn.create_function(FUNCTION, lambda name: _rows_json(key, name), ["VARCHAR"],
                             "VARCHAR", side_effects=True)
    found = {(s, t): (kind, cols) for s, t, kind, cols in conn.execute(
        "SELECT c.schema_name, c.table_name, CASE WHEN v.view_name IS NULL THEN 'table' ELSE "
        "'view' END, list(c.column_name ORDER BY c.column_index) FROM duckdb_columns() c "
        "LEFT JOIN duckdb_views() v ON v.schema_name = c.schema_name AND v.view_name = "
        "c.table_name WHERE c.table_name IN (SELECT unnest(?)) GROUP BY ALL",
        [[name for _, name in LIVE_RELATIONS]]).fetchall()}
    for (schema, name), spec in LIVE_RELATIONS.items():
        phys = physical_schema(schema)
        kind, cols = found.get((phys.strip('"'), name), (None, None))
        if kind == "view" and cols == [c.split(":")[0] for c in spec.split()]:
            continue
        if kind == "table":
            conn.execute(f'DROP TABLE {phys}."{name}"')
        conn.execute(view_sql(phys, name, spec))


def _rows_json(key: int, name: str) -> str:
    ref = _ENGINES.get(key)
    engine = ref() if ref is not None else None
    if engine is None:
        return "[]"
    try:
        return json.dumps(rows(engine, name))
    except Exception:  # noqa: BLE001 - a status bug must not fail the query
        log.exception("status relation %s", name)
        return "[]"


def _statuses(engine, kind: str):
    for object_id, driver in list(engine.drivers.items()):
        obj = engine.catalog.get(object_id)
        if obj is None or obj.kind != kind or not callable(getattr(driver, "status", None)):
            continue
        yield obj, driver.status()


def _details(st: dict, keys: tuple[str, ...]) -> str | None:
    found = {k: st[k] for k in keys if st.get(k) is not None}
    details = st.get("details")
    if isinstance(details, dict):
        found.update(details)
    return json.dumps(found) if found else None


def rows(engine, name: str) -> list[dict]:
    """The rows of live relation `name` now (dicts keyed by column; times in epoch ms)."""
    if ("mz_internal", name) in lag.RELATIONS:
        return lag.rows(engine, name)
    kind = "sink" if "_sink_" in name else "source"
    out: list[dict] = []
    for obj, st in _statuses(engine, kind):
        if name.endswith("_statuses"):
            out.append({"id": obj.id, "name": obj.name, "type": st.get("type", "kafka"),
                        "last_status_change_at": st.get("last_status_change_at"),
                        "status": st.get("status"), "error": st.get("error"),
                        "details": _details(st, ("topic",))})
        elif name.endswith("_status_history"):
            for h in st.get("history", []):
                out.append({"occurred_at": h["occurred_at"], f"{kind}_id": obj.id,
                            "status": h["status"], "error": h.get("error"),
                            "details": None, "replica_id": REPLICA})
        elif name == "mz_source_statistics":
            parts = st.get("partitions", [])
            out.append({"id": obj.id, "replica_id": REPLICA,
                        "messages_received": st.get("messages_received", 0),
                        "bytes_received": st.get("bytes_received", 0),
                        "updates_staged": st.get("updates_staged", 0),
                        "updates_committed": st.get("updates_committed", 0),
                        "records_indexed": None, "bytes_indexed": None, "rehydration_latency": None,
                        "snapshot_records_known": st.get("snapshot_records_known"),
                        "snapshot_records_staged": st.get("snapshot_records_staged"),
                        "snapshot_committed": st.get("snapshot_committed", False),
                        "offset_known": st.get("offset_known") if parts else None,
                        "offset_committed": st.get("offset_committed") if parts else None,
                        "dead_letters_received": st.get("dead_letters", 0),
                        "dead_letters_committed": st.get("dead_letters_committed", 0)})
        elif name == "mz_source_partition_statistics":
            for p in st.get("partitions", []):
                out.append({"source_id": obj.id, "partition": p["partition"],
                            "offset_known": p.get("offset_known"),
                            "offset_consumed": p.get("offset_consumed"),
                            "offset_committed": p.get("offset_committed"), "lag": p.get("lag")})
        elif name == "mz_sink_statistics":
            out.append({"id": obj.id, "replica_id": REPLICA,
                        "messages_staged": st.get("messages_staged", st.get("messages_produced", 0)),
                        "messages_committed": st.get("messages_produced", 0),
                        "bytes_staged": st.get("bytes_staged", st.get("bytes_produced")),
                        "bytes_committed": st.get("bytes_produced"),
                        "transactions_committed": st.get("transactions_committed", 0)})
    return out
