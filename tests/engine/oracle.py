"""The oracle: maintained views must equal the batch evaluation of their SQL at every tick.

A *system* is anything with the engine's public face (``session()``, ``tick(now_ms)``); the
reference is DuckDB running each view's SQL, transpiled by ``eddy.sql.dialect``, over the same
table contents, compared as multisets (floats to 10 significant digits). ``BatchSystem`` is a
system made of plain DuckDB views: the harness is validated against it (and against a broken
variant of it) independently of the engine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb
import sqlglot
from hypothesis import strategies as st
from sqlglot import exp

from eddy.sql import dialect
from eddy.sql.functions import install as install_sql_functions

TABLES: dict[str, list[tuple[str, str]]] = {
    "t1": [("id", "integer"), ("g", "text"), ("v", "integer"), ("f", "double precision"),
           ("b", "boolean"), ("ts", "timestamp with time zone"), ("j", "jsonb")],
    "t2": [("id", "integer"), ("g", "text"), ("w", "integer")],
}
DUCK_TYPES = {"integer": "INTEGER", "text": "VARCHAR", "double precision": "DOUBLE",
              "boolean": "BOOLEAN", "timestamp with time zone": "TIMESTAMPTZ", "jsonb": "JSON"}
SCHEMA = {t: {c: ty for c, ty in cols} for t, cols in TABLES.items()}
STEP_MS = 20_000  # how far time advances per tick step
# How the engine is sent jsonb values: compactly or loosely (spaces, keys in reverse order), and
# "cast" as '...'::jsonb or "text" as a bare string assigned to the jsonb column. The reference
# always gets the canonical value.
JSON_FORMS = ("cast", "text")


@dataclass(frozen=True)
class Shape:
    """A query shape: views created in order (later ones may read earlier ones); all checked."""

    name: str
    views: tuple[tuple[str, str], ...]
    temporal: bool = False
    tables: tuple[str, ...] = ("t1", "t2")


# --- generated inputs -------------------------------------------------------------------------

ids = st.integers(0, 9)
groups = st.sampled_from(["a", "b", "c", None])
small = st.one_of(st.none(), st.integers(-3, 6))
quarters = st.one_of(st.none(), st.integers(-16, 16).map(lambda n: n / 4))
offsets = st.one_of(st.none(), st.integers(-20, 20))  # ts = base + offset * 15 s
docs = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"n": st.integers(-2, 5)},
        optional={"k": st.sampled_from(["x", "y", "z"]),
                  "o": st.fixed_dictionaries({"p": st.sampled_from(["q", "r"])})}),
)
t1_rows = st.tuples(ids, groups, small, quarters, st.one_of(st.none(), st.booleans()), offsets, docs)
t2_rows = st.tuples(ids, groups, small)


@st.composite
def insert(draw, table: str | None = None):
    table = table or draw(st.sampled_from(["t1", "t2"]))
    rows = draw(st.lists(t1_rows if table == "t1" else t2_rows, min_size=1, max_size=5))
    if draw(st.booleans()):
        rows.append(rows[0])  # an exact duplicate row
    return ("insert", table, rows, draw(st.sampled_from(JSON_FORMS)), draw(st.booleans()))


@st.composite
def late_insert(draw):
    row = list(draw(t1_rows))
    row[5] = -draw(st.integers(200, 600))  # an hour or two in the past
    return ("insert", "t1", [tuple(row)], "cast", True)


@st.composite
def delete(draw):
    return ("delete", draw(st.sampled_from(["t1", "t2"])), draw(ids))


@st.composite
def update(draw):
    table = draw(st.sampled_from(["t1", "t2"]))
    column, values = draw(st.sampled_from(
        [("v", small), ("g", groups), ("ts", offsets)] if table == "t1"
        else [("w", small), ("g", groups)]))
    return ("update", table, draw(ids), column, draw(values))


def steps(temporal: bool = False, max_size: int = 6):
    """A stream of steps: a write statement, a transaction of several writes (committed in one
    tick), or a tick that advances time."""
    write = st.one_of(insert(), insert(), delete(), update(), late_insert())
    txn = st.lists(write, min_size=2, max_size=3).map(lambda ws: ("txn", ws))
    step = st.one_of(write, write, txn)
    step = st.one_of(step, st.just(("advance",))) if temporal else step
    return st.lists(step, min_size=1, max_size=max_size)


# --- SQL of the steps (literals rendered by sqlglot, never by string formatting) --------------


def _loose_json(value, loose: bool) -> str:
    """The jsonb value written compactly with sorted keys, or loosely: spaces, keys reversed."""
    if not loose:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def reorder(v):
        if isinstance(v, dict):
            return {k: reorder(v[k]) for k in sorted(v, reverse=True)}
        return [reorder(x) for x in v] if isinstance(v, list) else v
    return json.dumps(reorder(value), separators=(" , ", " :  "))


def _literal(value, column_type: str, base_ms: int, json_form: tuple | None = None) -> exp.Expression:
    if value is None:
        return exp.Null()
    if column_type == "timestamp with time zone":
        ts = dt.datetime.fromtimestamp((base_ms + value * 15_000) / 1000, tz=dt.UTC)
        return exp.cast(exp.Literal.string(ts.isoformat()), "timestamptz", dialect="postgres")
    if column_type == "jsonb":
        if json_form is None:  # the reference: canonical
            text = json.dumps(value, sort_keys=True, separators=(",", ":"))
            return exp.cast(exp.Literal.string(text), "jsonb", dialect="postgres")
        text = exp.Literal.string(_loose_json(value, json_form[1]))
        return text if json_form[0] == "text" else exp.cast(text, "jsonb", dialect="postgres")
    return exp.convert(value)


def statement(step, base_ms: int, engine: bool = False) -> str:
    """PostgreSQL text of a write step (``engine``: jsonb written loosely, see JSON_FORMS)."""
    kind, table = step[0], step[1]
    types = dict(TABLES[table])
    if kind == "insert":
        names = [c for c, _ in TABLES[table]]
        form = step[3:5] if engine else None
        rows = [exp.tuple_(*[_literal(v, types[c], base_ms, form)
                             for c, v in zip(names, row, strict=True)])
                for row in step[2]]
        node = exp.insert(exp.Values(expressions=rows), table, columns=names)
    elif kind == "delete":
        node = exp.delete(table, where=exp.column("id").eq(exp.convert(step[2])))
    else:
        _, _, key, column, value = step
        node = exp.update(table, {column: _literal(value, types[column], base_ms)},
                          where=exp.column("id").eq(exp.convert(key)))
    return node.sql(dialect="postgres")


def create_table_sql(table: str) -> str:
    cols = ", ".join(f"{c} {t}" for c, t in TABLES[table])
    return f"create table {table} ({cols})"


def explain_view(sql: str) -> str:
    """EXPLAIN of `sql` maintained as `v1` over the oracle's tables, on a fresh engine."""
    from eddy.engine import Engine
    engine = Engine(None, tick_interval=None)
    try:
        session = engine.session()
        for table in TABLES:
            session.execute(create_table_sql(table))
        session.execute(f"create materialized view v1 as {sql}")
        return session.execute("explain materialized view v1")[0].rows[0][0]
    finally:
        engine.close()


# --- multiset comparison ----------------------------------------------------------------------


def norm(value, json_column: bool = False):
    """A comparable form of one value (numbers to 10 significant digits, UTC timestamps)."""
    if value is None:
        return None
    if json_column:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            return str(number)
        return float(f"{number:.10g}") + 0.0
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def multiset(rows, json_columns: set[int]) -> Counter:
    return Counter(tuple(norm(v, i in json_columns) for i, v in enumerate(row)) for row in rows)


def diff(expected: Counter, actual: Counter) -> str:
    missing, extra = expected - actual, actual - expected
    return (f"missing {sorted(missing.items(), key=repr)[:8]}, "
            f"extra {sorted(extra.items(), key=repr)[:8]}")


# --- the harness ------------------------------------------------------------------------------


@dataclass
class Run:
    """One system under test plus the DuckDB reference, fed the same steps."""

    system: object
    shape: Shape
    base_ms: int
    now_ms: int = 0
    ref: duckdb.DuckDBPyConnection = field(init=False)
    checks: int = 0

    prefill: tuple = ()

    def __post_init__(self):
        self.session = self.system.session()
        self.ref = duckdb.connect()
        self.ref.execute("SET TimeZone = 'UTC'")
        install_sql_functions(self.ref)   # the translated SQL may call the engine's macros
        for table in self.shape.tables:
            self.session.execute(create_table_sql(table))
            cols = ", ".join(f"{c} {DUCK_TYPES[t]}" for c, t in TABLES[table])
            self.ref.execute(f"CREATE TABLE {table} ({cols})")
        self.now_ms = self.system.tick(self.base_ms)
        for step in self.prefill:  # history written before the views exist (their snapshot)
            self._write(step)
        for name, sql in self.shape.views:
            kind = "view" if name.startswith("pv_") else "materialized view"
            self.session.execute(f"create {kind} {name} as {sql}")
            self.ref.execute(f"CREATE VIEW {name} AS {dialect.transpile(sql, schema=self._schema())}")
        self.check()

    def _schema(self) -> dict:
        return {t: SCHEMA[t] for t in self.shape.tables}

    def _write(self, step) -> None:
        if step[0] == "advance":
            self.now_ms = self.system.tick(self.now_ms + STEP_MS)
        elif step[0] == "txn":
            body = "; ".join(statement(w, self.base_ms, engine=True) for w in step[1])
            self.session.execute(f"begin; {body}; commit")
            for w in step[1]:
                self.ref.execute(dialect.transpile(statement(w, self.base_ms)))
            if self.shape.temporal:
                self.now_ms = self.system.tick(self.now_ms + 1)
        else:
            self.session.execute(statement(step, self.base_ms, engine=True))
            self.ref.execute(dialect.transpile(statement(step, self.base_ms)))
            if self.shape.temporal:  # implicit write ticks may use another clock: tick explicitly
                self.now_ms = self.system.tick(self.now_ms + 1)

    def apply(self, step) -> None:
        self._write(step)
        self.check()

    def check(self) -> None:
        self.ref.execute(f"SET VARIABLE {dialect.MZ_NOW_VARIABLE} = {int(self.now_ms)}")
        for name, _ in self.shape.views:
            cursor = self.ref.execute(f"SELECT * FROM {name}")
            json_cols = {i for i, d in enumerate(cursor.description) if str(d[1]) == "JSON"}
            expected = multiset(cursor.fetchall(), json_cols)
            result = self.session.execute(f"select * from {name}")[0]
            engine_json = {i for i, c in enumerate(result.columns or [])
                           if getattr(c, "type_name", "") in ("jsonb", "json")}
            actual = multiset(result.rows, json_cols | engine_json)
            assert actual == expected, (
                f"view {name} of shape {self.shape.name} at mz_now={self.now_ms}: "
                f"{diff(expected, actual)}")
            self.checks += 1
            # the same SQL as a one-off query (mz_now() is the last tick's time there too)
            oneoff = self.session.execute(dict(self.shape.views)[name])[0]
            actual = multiset(oneoff.rows, json_cols | engine_json)
            assert actual == expected, (
                f"one-off query of {name} in shape {self.shape.name}: {diff(expected, actual)}")

    def close(self) -> None:
        self.ref.close()
        close = getattr(self.session, "close", None)
        if close:
            close()


def run_stream(system, shape: Shape, stream, base_ms: int, prefill=()) -> int:
    """Write `prefill`, create the views, then feed `stream`, checking every view after every
    step; returns the number of checks made."""
    run = Run(system, shape, base_ms, prefill=tuple(prefill))
    try:
        for step in stream:
            run.apply(step)
        return run.checks
    finally:
        run.close()


# --- a reference system made of DuckDB views, to validate the harness -------------------------


@dataclass
class _Result:
    tag: str
    columns: list | None
    rows: list


class _BatchSession:
    def __init__(self, system: BatchSystem):
        self.system = system

    def execute(self, sql: str, params=None) -> list[_Result]:
        out = []
        for tree in sqlglot.parse(sql, read="postgres"):
            if isinstance(tree, exp.Create):
                tree.set("properties", None)  # MATERIALIZED: a plain view, evaluated per read
            text = dialect.render(dialect.to_duckdb(tree))
            if self.system.broken and isinstance(tree, exp.Delete):
                continue  # the broken variant loses deletes: the oracle must notice
            self.system.conn.execute(f"SET VARIABLE {dialect.MZ_NOW_VARIABLE} = {self.system.now}")
            cursor = self.system.conn.execute(text)
            rows = cursor.fetchall() if cursor.description else []
            out.append(_Result("OK", None, rows))
        return out

    def close(self):
        pass


class BatchSystem:
    """Views evaluated by DuckDB on every read: correct by construction (``broken`` loses deletes)."""

    def __init__(self, broken: bool = False):
        self.conn = duckdb.connect()
        self.conn.execute("SET TimeZone = 'UTC'")
        install_sql_functions(self.conn)
        self.now = 0
        self.broken = broken

    def session(self):
        return _BatchSession(self)

    def tick(self, now_ms: int | None = None) -> int:
        self.now = max(self.now, now_ms or 0)
        return self.now


def base_ms() -> int:
    """The next whole minute in epoch ms: time zero of a stream."""
    return (int(time.time()) // 60 + 1) * 60_000


def check_drawn_stream(shape: Shape, data) -> None:
    """Draw a prefill and a stream of steps for `shape` (hypothesis `data`) and run them on a
    fresh in-process engine against the batch evaluation (`run_stream`)."""
    from eddy.engine import Engine

    prefill = data.draw(steps(shape.temporal, max_size=4) | st.just([]), label="before")
    stream = data.draw(steps(shape.temporal, max_size=8), label="after")
    engine = Engine(None, tick_interval=None)
    try:
        run_stream(engine, shape, stream, base_ms(), prefill)
    finally:
        engine.close()
