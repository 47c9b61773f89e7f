"""SUBSCRIBE: a snapshot, then the changes of every tick, of a relation or a query."""

from __future__ import annotations

import itertools
import re
import threading
from collections import deque

import pyarrow as pa
import pyarrow.compute as pc

from eddy.catalog.objects import CatalogObject
from eddy.errors import EddyError
from eddy.results import Column, Result
from eddy.sql import types
from eddy.sql.preparser import NAME, Statement, parse_name

MAX_BUFFER = 200_000
_transient = itertools.count(1)


class Subscription:
    """Rows are (mz_timestamp, [mz_progressed,] mz_diff, *row); ENVELOPE UPSERT gives
    (mz_timestamp, [mz_progressed,] mz_state, *key, *values)."""

    def __init__(self, engine, object_id: str, cols: list[tuple[str, str, bool]], *,
                 progress=False, up_to=None, as_of=None, upsert_key=None, transient=False,
                 max_buffer=None):
        self.engine, self.object_id, self.transient = engine, object_id, transient
        self.progress, self.up_to, self.as_of = progress, up_to, as_of
        self.names = [c[0] for c in cols]
        self.upsert_key = upsert_key
        self.max_buffer = max_buffer or MAX_BUFFER
        head = [Column("mz_timestamp", 1700, "numeric")]
        if progress:
            head.append(Column("mz_progressed", 16, "boolean"))
        if upsert_key:
            head.append(Column("mz_state", 25, "text"))
            key_cols = [c for k in upsert_key for c in cols if c[0] == k]
            rest = [c for c in cols if c[0] not in upsert_key]
            body = key_cols + rest
            self._order = [self.names.index(c[0]) for c in body]
        else:
            head.append(Column("mz_diff", 20, "bigint"))
            body = cols
        self.columns = head + [Column(n, types.oid(t), t) for n, t, _ in body]
        self._buf: deque = deque()
        self._cond = threading.Condition()
        self._error: EddyError | None = None
        self.closed = False
        self.done = False
        self._pending: list[pa.Table] | None = None    # AS OF a future tick: held back
        self._pending_emit = True

    # engine side -------------------------------------------------------------------------
    def _emit(self, rows: list[tuple]) -> None:
        with self._cond:
            if self.closed or self._error is not None:
                return
            if len(self._buf) + len(rows) > self.max_buffer:
                self._error = EddyError("53400", "subscription fell too far behind: its buffer "
                                        f"of {self.max_buffer} rows overflowed")
                self._buf.clear()
            else:
                self._buf.extend(rows)
            self._cond.notify_all()

    def _rows(self, ts: int, table: pa.Table) -> list[tuple]:
        data = table.to_pylist()
        diff_name = table.column_names[-1]
        pre = (ts, False) if self.progress else (ts,)
        if not self.upsert_key:
            out = [pre + (r[diff_name],) + tuple(r[n] for n in self.names) for r in data]
            out.sort(key=lambda r: r[len(pre)])
            return out
        latest: dict = {}
        for r in sorted(data, key=lambda r: r[diff_name]):
            key = tuple(r[k] for k in self.upsert_key)
            if r[diff_name] > 0:
                latest[key] = r
            else:
                latest.setdefault(key, None)
        out = []
        for key, r in latest.items():
            if r is None:
                out.append(pre + ("delete",) + key + (None,) * (len(self.names) - len(key)))
            else:
                row = [r[n] for n in self.names]
                out.append(pre + ("upsert",) + tuple(row[i] for i in self._order))
        return out

    def snapshot(self, ts: int, table: pa.Table, emit: bool = True) -> None:
        """The contents at `ts`; with AS OF a later tick, held back (and brought up to date
        by the ticks up to AS OF) until that tick has committed."""
        if self.as_of is not None and self.as_of > ts:
            self._pending, self._pending_emit = [_weighted(table)], emit
            return
        if emit and table.num_rows:
            self._emit(self._rows(ts, table))

    def _release(self, ts: int, table: pa.Table | None) -> bool:
        """Fold a tick into the held-back AS OF snapshot; True while still holding back."""
        if ts <= self.as_of:
            if table is not None and table.num_rows:
                self._pending.append(_weighted(table))
            return True
        pending, self._pending = self._pending, None
        if self._pending_emit:
            snap = _consolidate(pa.concat_tables(pending, promote_options="permissive"))
            if snap.num_rows:
                self._emit(self._rows(self.as_of, snap))
        return False

    def push(self, ts: int, changes: dict[str, pa.Table]) -> None:
        if self.up_to is not None and ts >= self.up_to:
            self._finish()
            return
        table = changes.get(self.object_id)
        if self._pending is not None and self._release(ts, table):
            return
        rows = self._rows(ts, table) if table is not None and table.num_rows else []
        if self.progress:
            width = len(self.columns) - 2
            rows.append((ts + 1, True) + (None,) * width)
        if rows:
            self._emit(rows)

    def fail(self, error: EddyError) -> None:
        """End the subscription with an error its next fetch raises."""
        with self._cond:
            self._error = error
            self._cond.notify_all()
        self._detach()

    def _finish(self) -> None:
        with self._cond:
            self.done = True
            self._cond.notify_all()
        self._detach()

    # client side -------------------------------------------------------------------------
    def fetch(self, max_rows: int | None = None, timeout: float | None = None) -> list[tuple]:
        """Buffered rows (waits up to `timeout` seconds for the first; None waits forever)."""
        with self._cond:
            if not self._buf and self._error is None and not self.done and not self.closed:
                self._cond.wait_for(lambda: self._buf or self._error is not None or self.done
                                    or self.closed, timeout)
            if self._error is not None:
                error = self._error
                self.close()
                raise error
            n = len(self._buf) if max_rows is None else min(max_rows, len(self._buf))
            return [self._buf.popleft() for _ in range(n)]

    def _detach(self) -> None:
        self.engine.subscriptions.discard(self)
        if self.transient:
            with self.engine.lock:
                df = self.engine.dataflows.pop(self.object_id, None)
                if df is not None and not self.engine.closed:
                    df.drop(self.engine.state.conn)

    def close(self) -> None:
        with self._cond:
            if self.closed:
                return
            self.closed = True
            self._cond.notify_all()
        self._detach()


def _weighted(table: pa.Table) -> pa.Table:
    return table.rename_columns(table.column_names[:-1] + ["__diff"])


def _consolidate(table: pa.Table) -> pa.Table:
    """One row per distinct row with its summed weight (last column); zero weights dropped."""
    diff = table.column_names[-1]
    names = table.column_names[:-1]
    out = table.group_by(names, use_threads=False).aggregate([(diff, "sum")])
    out = out.rename_columns(names + [diff])
    return out.filter(pc.not_equal(out[diff], 0))


def _parse(rest: str) -> dict:
    rest = rest.strip()
    out: dict = {"query": None, "name": None}
    if rest.startswith("("):
        depth = 0
        for i, ch in enumerate(rest):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                out["query"], rest = rest[1:i], rest[i + 1:]
                break
    else:
        m = re.match(rf"({NAME})(.*)$", rest, re.S)
        if not m:
            raise EddyError("42601", "syntax error in SUBSCRIBE")
        out["name"], rest = parse_name(m.group(1)), m.group(2)
    if m := re.search(r"ENVELOPE\s+UPSERT\s*\(\s*KEY\s*\(([^)]*)\)\s*\)", rest, re.I):
        out["upsert_key"] = [parse_name(k.strip())[0] for k in m.group(1).split(",")]
    elif re.search(r"ENVELOPE\s+DEBEZIUM", rest, re.I):
        raise EddyError("0A000", "SUBSCRIBE ... ENVELOPE DEBEZIUM not supported")
    if re.search(r"WITHIN\s+TIMESTAMP\s+ORDER", rest, re.I):
        raise EddyError("0A000", "SUBSCRIBE ... WITHIN TIMESTAMP ORDER BY not supported")
    if m := re.search(r"WITH\s*\(([^)]*)\)", rest, re.I):
        for item in m.group(1).split(","):
            key, _, value = item.partition("=")
            key, value = key.strip().lower(), value.strip().strip("'").lower()
            if key not in ("progress", "snapshot"):
                raise EddyError("0A000", f"SUBSCRIBE option {key} not supported")
            out[key] = value in ("", "true", "on", "1")
    if m := re.search(r"AS\s+OF\s+(?:AT\s+LEAST\s+)?(\d+)", rest, re.I):
        out["as_of"] = int(m.group(1))
    if m := re.search(r"UP\s+TO\s+(\d+)", rest, re.I):
        out["up_to"] = int(m.group(1))
    return out


def subscribe(session, st: Statement) -> Result:
    from eddy.sql import ddl
    from eddy.sql.resolve import parse
    opts = _parse(st.parts["rest"])
    engine = session.engine
    binder = session.binder()
    with engine.lock:
        transient = False
        if opts["name"] is not None:
            obj = binder.require(opts["name"])
            if obj.kind == "view" and not obj.internal.get("maintained"):
                query = f"SELECT * FROM {obj.qualified}"
            else:
                query = None
        else:
            query = opts["query"]
        if query is not None:
            bound, deps = binder.bind(parse(query))
            cols = ddl.describe_query(engine.state.conn, ddl.read_sql(bound, engine.catalog))
            obj = CatalogObject(f"t{next(_transient)}", 0, None, None, "subscribe",
                                "materialized-view", cols, depends_on=deps,
                                internal={"query": bound.sql("postgres")})
            conn = engine.state.conn
            conn.execute("BEGIN")
            try:
                conn.execute(f"SET VARIABLE mz_now = {int(engine.last_ts)}")
                df = ddl.build_dataflow(engine, engine.catalog, obj, fresh=True)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            engine.dataflows[obj.id] = df
            transient = True
        for key in opts.get("upsert_key") or []:
            if key not in [c[0] for c in obj.columns]:
                raise EddyError("42703", f"unknown key column \"{key}\"")
        sub = Subscription(engine, obj.id, obj.columns, progress=opts.get("progress", False),
                           up_to=opts.get("up_to"), as_of=opts.get("as_of"),
                           upsert_key=opts.get("upsert_key"), transient=transient)
        ts, table = engine.read_snapshot(obj.id)
        as_of = opts.get("as_of")
        if as_of is not None and as_of < ts:
            sub.close()
            raise EddyError("22023", f"Timestamp ({as_of}) is not valid for all inputs: the "
                            f"earliest valid AS OF is {ts} (eddy keeps no history before the "
                            "current tick)")
        sub.snapshot(ts, table, emit=opts.get("snapshot", True))
        if sub.progress:
            sub._emit([(engine.last_ts + 1, True) + (None,) * (len(sub.columns) - 2)])
        engine.subscriptions.add(sub)
    return Result("SUBSCRIBE", sub.columns, [], subscription=sub)
