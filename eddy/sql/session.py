"""Session: executes statements for one client (simple-query semantics, one Result each)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from decimal import Decimal

import duckdb
import sqlglot
from sqlglot import exp

from eddy.errors import EddyError, as_eddy_error
from eddy.results import Column, Result, Write
from eddy.sql import allowlist, ddl, jsonb, savepoints, show, types, writes
from eddy.sql.dialect import MZ_NOW_VARIABLE
from eddy.sql.intervals import fetch_rows
from eddy.sql.preparser import Statement, classify
from eddy.sql.qualnames import unqualify_columns
from eddy.sql.resolve import Binder, parse, to_read_sql
from eddy.sql.settings import inline_current_setting
from eddy.sql.sqltext import array_literal_items, separate_parameters, split_statements

DEFAULT_VARS = {
    "application_name": "", "client_encoding": "UTF8", "client_min_messages": "notice",
    "cluster": "quickstart", "database": "materialize", "datestyle": "ISO, MDY",
    "extra_float_digits": "3", "integer_datetimes": "on", "intervalstyle": "postgres",
    "is_superuser": "off", "max_identifier_length": "255", "mz_version": "v0.130.0",
    "search_path": "public", "server_version": "9.5.0", "server_version_num": "90500",
    "standard_conforming_strings": "on", "statement_timeout": "0", "timezone": "UTC",
    "transaction_isolation": "strict serializable", "transaction_read_only": "off",
    "sql_safe_updates": "off", "emit_timestamp_notice": "off", "emit_trace_id_notice": "off",
}


_MZ_NOW = f"'{MZ_NOW_VARIABLE}'"


class Session:
    """One client's state: variables, search_path, transaction, and a reader cursor.

    The cursor is a DuckDB connection of its own: statements outside a transaction each read
    one committed tick, a read transaction reads the tick of its first query throughout, and
    neither ever waits for a tick (only writes and DDL serialize with ticks)."""

    def __init__(self, engine, user: str = "materialize", database: str = "materialize"):
        self.engine = engine
        self.user = user
        self.vars = dict(DEFAULT_VARS, database=database)
        self.cursor = engine.reader()
        self.txn: str | None = None          # None | "pending" | "read" | "write"
        self.txn_writes: list = []
        self.savepoints = savepoints.Savepoints()
        self.notices: list[str] = []

    # -- public API ----------------------------------------------------------------------
    @property
    def database(self) -> str:
        return self.vars["database"]

    @property
    def search_path(self) -> list[str]:
        return [p.strip().strip('"') for p in self.vars["search_path"].split(",") if p.strip()]

    def binder(self, catalog=None) -> Binder:
        return Binder(self.engine.catalog if catalog is None else catalog, self.database,
                      self.search_path, self.engine.system_relations, self.user)

    def execute(self, sql: str, params: Sequence | None = None) -> list[Result]:
        results = []
        for text in split_statements(sql):
            results.append(self.execute_one(classify(separate_parameters(text)), params))
        return results

    def describe(self, sql: str) -> tuple[list[int], list[Column] | None]:
        """Parameter type OIDs (0 = unspecified) and result columns; no side effects."""
        try:
            return self._describe(separate_parameters(sql))
        except sqlglot.errors.TokenError as e:
            raise EddyError("42601", f"syntax error: {str(e).splitlines()[0]}") from None

    def _describe(self, sql: str) -> tuple[list[int], list[Column] | None]:
        st = classify(sql)
        nparams = sql.count("$")
        if st.kind != "sql":
            if st.kind in ("show", "show_create"):
                return [], self.execute_one(st, None).columns
            return [], None
        ast = parse(st.text)
        allowlist.check_statement(st.text, ast)
        allowlist.check_query(ast)
        if not isinstance(ast, exp.Query | exp.Values):
            return [0] * len(list(ast.find_all(exp.Parameter, exp.Placeholder))), None
        n = len({p.sql() for p in ast.find_all(exp.Parameter, exp.Placeholder)}) or (
            nparams if "$" in sql else 0)
        sql_text = self._read_sql(ast, text=st.text)
        try:
            rel = self.cursor.execute(f"DESCRIBE {sql_text}", [None] * n) if n else \
                self.cursor.execute(f"DESCRIBE {sql_text}")
            rows = rel.fetchall()
        except duckdb.Error as e:
            raise as_eddy_error(e) from None
        cols = [Column(r[0], types.oid(types.from_duckdb(r[1])), types.from_duckdb(r[1]))
                for r in rows]
        return [0] * n, cols

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cursor.close()

    # -- dispatch ------------------------------------------------------------------------
    def execute_one(self, st: Statement, params) -> Result:
        try:
            return self._dispatch(st, params)
        except EddyError:
            raise
        except duckdb.Error as e:
            raise as_eddy_error(e) from None
        except sqlglot.errors.TokenError as e:
            raise EddyError("42601", f"syntax error: {str(e).splitlines()[0]}") from None

    def _dispatch(self, st: Statement, params) -> Result:
        kind = st.kind
        if kind in ("rollback", "sql") and (sp := savepoints.match(st.text)) is not None:
            return self._savepoint(*sp)
        if kind == "begin":
            if self.txn is None:
                self.txn = "pending"
            return Result("BEGIN")
        if kind == "commit":
            return self._end_txn(commit=True)
        if kind == "rollback":
            return self._end_txn(commit=False)
        if kind in ("set", "reset"):
            return self._set(st)
        if kind == "show":
            return show.show(self, st.parts["rest"])
        if kind == "show_create":
            return show.show_create(self, st.parts)
        if kind == "explain":
            return show.explain(self, st.parts["rest"])
        if kind == "subscribe":
            from eddy.sql.subscribe import subscribe
            return subscribe(self, st)
        if kind in ("discard", "deallocate"):
            return Result(kind.upper() + (" ALL" if kind == "discard" else ""))
        if kind in ("declare", "fetch", "close", "prepare", "execute"):
            raise EddyError("0A000", f"{kind.upper()} not supported by the engine session")
        if kind == "sql":
            return self._sql(st, params)
        if kind in ("create_view", "alter_other"):   # refusals by name come first
            allowlist.check_ddl(st, parse(st.parts["query"]) if kind == "create_view" else None)
        self._no_ddl_in_txn()
        return self.engine.ddl(lambda txn: self._ddl(txn, st))

    def _no_ddl_in_txn(self) -> None:
        if self.txn is not None:
            raise EddyError("25001", "DDL statements cannot run inside a transaction block")

    def _sql(self, st: Statement, params) -> Result:
        if (refusal := allowlist.refused_command(st.text)) is not None:
            raise refusal
        if self._cached(st.text) is not None:     # a query compiled before: skip parsing
            return self.query(None, params, st.text)
        ast = parse(st.text)
        allowlist.check_statement(st.text, ast)
        allowlist.check_query(ast)
        if isinstance(ast, exp.Query | exp.Values):
            return self.query(ast, params, st.text)
        if isinstance(ast, exp.Insert | exp.Update | exp.Delete):
            return self.write(ast, params)
        if isinstance(ast, exp.Create):
            kind = (ast.args.get("kind") or "").upper()
            if kind == "TABLE":
                self._no_ddl_in_txn()
                self.binder()
                target = self.target(self._table_parts(ast.this.this if isinstance(
                    ast.this, exp.Schema) else ast.this))
                return self.engine.ddl(
                    lambda txn: Result(ddl.create_table(txn, target, ast, st.text)))
        raise EddyError("0A000", f"{allowlist.statement_name(st.text)} is not supported")

    # -- names ---------------------------------------------------------------------------
    @staticmethod
    def _table_parts(t: exp.Table) -> list[str]:
        return [p for p in (t.catalog, t.db, t.name) if p]

    def target(self, parts: list[str]) -> tuple[str, str, str]:
        """(database, schema, name) for a new object's possibly qualified name."""
        catalog = self.engine.catalog
        if len(parts) == 3:
            database, schema, name = parts
        elif len(parts) == 2:
            database, (schema, name) = self.database, parts
        else:
            database, schema, name = self.database, (self.search_path or ["public"])[0], parts[0]
        if catalog.find(None, None, database, ("database",)) is None:
            raise EddyError("3D000", f"unknown database '{database}'")
        if catalog.find(database, None, schema, ("schema",)) is None:
            raise EddyError("3F000", f"unknown schema '{schema}'")
        return database, schema, name

    # -- queries -------------------------------------------------------------------------
    def _cache_key(self, text: str) -> tuple:
        """What a statement's compiled form depends on besides the catalog."""
        key = (text, self.database, tuple(self.search_path), self.user)
        if "current_setting" in text.lower():
            key += (tuple(sorted(self.vars.items())),)
        return key

    def _cached(self, text: str, catalog=None) -> tuple[str, list[str]] | None:
        catalog = self.engine.catalog if catalog is None else catalog
        return self.engine.read_cache.get(self._cache_key(text), catalog)

    def _read_sql(self, ast: exp.Expression | None, catalog=None, text: str | None = None) -> str:
        """DuckDB SQL of a query (compiled once per statement text and catalog)."""
        catalog = self.engine.catalog if catalog is None else catalog
        hit = self._cached(text, catalog) if text is not None else None
        if hit is not None:
            sql, deps = hit
        else:
            binder = self.binder(catalog)
            bound, deps = binder.bind(inline_current_setting(
                unqualify_columns(parse(text) if ast is None else ast), self.vars))
            sql = to_read_sql(bound, catalog)
            if text is not None:
                self.engine.read_cache.put(self._cache_key(text), catalog, sql, deps)
        for dep in deps:
            df = self.engine.dataflows.get(dep)
            if df is not None and df.error is not None:
                raise df.error
        return sql

    def query(self, ast: exp.Expression | None, params, text: str | None = None) -> Result:
        """A one-off read of the last committed tick (never waits for a tick)."""
        if self.txn == "write":
            raise EddyError("25000", "transaction in write-only mode")
        args = array_params(text, list(params)) if params else []
        if self.txn == "pending":
            self.txn = "read"
            self._begin_snapshot()
        if self.txn == "read":
            return self.result_from_cursor(self.cursor.execute(
                self._read_sql(ast, text=text), args))
        catalog = self.engine.catalog
        sql = self._read_sql(ast, catalog, text)
        try:
            return self._one_off(sql, args)
        except duckdb.Error:
            if self.engine.catalog is catalog or text is None:
                raise
        # DDL committed between binding and reading: bind against the new catalog once more
        return self._one_off(self._read_sql(None, text=text), args)

    def _begin_snapshot(self) -> None:
        """Open the cursor's read transaction: from here on it reads one committed tick,
        with mz_now() that tick's timestamp."""
        self.cursor.execute("BEGIN")
        ts = self.engine.snapshot_ts(self.cursor)
        self.cursor.execute(f"SET VARIABLE {MZ_NOW_VARIABLE} = {int(ts)}")

    def _one_off(self, sql: str, args: list) -> Result:
        """One statement is one snapshot; one that calls mz_now() reads the snapshot's tick
        timestamp in the same transaction."""
        if _MZ_NOW not in sql:
            return self.result_from_cursor(self.cursor.execute(sql, args))
        self._begin_snapshot()
        try:
            return self.result_from_cursor(self.cursor.execute(sql, args))
        finally:
            with contextlib.suppress(duckdb.Error):
                self.cursor.execute("ROLLBACK")   # read only: nothing to commit

    def result_from_cursor(self, rel) -> Result:
        desc = rel.description or []
        names = [d[0] for d in desc]
        type_names = [types.from_duckdb(d[1]) for d in desc]
        rows = fetch_rows(rel, desc)  # intervals exact (months, days, micros)
        json_cols = {i for i, t in enumerate(type_names) if t == "jsonb"}
        # bare numeric is stored as DECIMAL(38,10); print it as Materialize does (no padding)
        bare = {i for i, d in enumerate(desc) if str(d[1]).upper() == "DECIMAL(38,10)"}
        if (json_cols or bare) and rows:
            rows = [tuple(_convert(v, i in json_cols, i in bare) for i, v in enumerate(r))
                    for r in rows]
        cols = [Column(n, types.oid(t), t) for n, t in zip(names, type_names, strict=False)]
        return Result(f"SELECT {len(rows)}", cols, rows)

    # -- writes --------------------------------------------------------------------------
    def write(self, ast, params) -> Result:
        if self.txn == "read":
            raise EddyError("25006", "transaction in read-only mode")
        binder = self.binder()
        ast = unqualify_columns(ast)
        plan = {exp.Insert: writes.plan_insert, exp.Update: writes.plan_update,
                exp.Delete: writes.plan_delete}[type(ast)]
        fn, box, tag = plan(binder, ast, list(params) if params else [])
        if self.txn in ("pending", "write"):
            # applied at COMMIT; the tag counts the rows the statement would write now
            self.txn = "write"
            self.txn_writes.append(fn)
            self.cursor.execute(f"SET VARIABLE mz_now = {int(self.engine.last_ts)}")
            count = self.cursor.execute(f"SELECT count(*) FROM ({box['sql']})",
                                        list(params) if params else []).fetchone()[0]
            return Result(tag.format(count))
        self.engine.submit(Write(fn))
        return Result(tag.format(box["count"]))

    def _end_txn(self, commit: bool) -> Result:
        mode, fns = self.txn, self.txn_writes
        self.txn, self.txn_writes = None, []
        self.savepoints.clear()
        if mode == "read":
            with contextlib.suppress(duckdb.Error):   # read only; may be aborted by an error
                self.cursor.execute("ROLLBACK")
        if mode == "write" and commit and fns:
            self.engine.submit(Write(lambda rt: [d for f in fns for d in f(rt)]))
        return Result("COMMIT" if commit else "ROLLBACK")

    def _savepoint(self, verb: str, name: str) -> Result:
        if self.txn is None:
            raise savepoints.outside_block(verb)
        if verb == "savepoint":
            self.savepoints.set(name, self.txn, len(self.txn_writes))
        elif verb == "release":
            self.savepoints.release(name)
        else:
            mark = self.savepoints.rollback_to(name)
            del self.txn_writes[mark.writes:]
            if self.txn == "write" and mark.mode == "pending":
                self.txn = "pending"
            elif self.txn == "read":
                self._revive_snapshot()
        return Result(savepoints.TAGS[verb])

    def _revive_snapshot(self) -> None:
        """After ROLLBACK TO: a statement that failed while running aborted the DuckDB
        transaction; a new one starts (at the latest committed tick) so the block goes on."""
        try:
            self.cursor.execute("SELECT 1").fetchall()
        except duckdb.Error:
            with contextlib.suppress(duckdb.Error):
                self.cursor.execute("ROLLBACK")
            self._begin_snapshot()

    def _set(self, st: Statement) -> Result:
        rest = st.parts["rest"]
        if st.kind == "reset":
            name = rest.strip().lower()
            if name == "all":
                self.vars = dict(DEFAULT_VARS, database=self.vars["database"])
            else:
                self.vars[name] = DEFAULT_VARS.get(name, "")
            return Result("RESET")
        low = rest.lower()
        for prefix in ("session ", "local "):
            if low.startswith(prefix):
                rest, low = rest[len(prefix):], low[len(prefix):]
        if low.startswith("transaction") or low.startswith("session characteristics"):
            return Result("SET")
        if low.startswith("time zone"):
            name, value = "timezone", rest[len("time zone"):].strip()
        elif low.startswith("names"):
            name, value = "client_encoding", rest[len("names"):].strip()
        else:
            sep = "=" if "=" in rest.split(" to ")[0].split(" TO ")[0] else None
            if sep:
                name, value = rest.split("=", 1)
            else:
                parts = rest.split(None, 2)
                if len(parts) < 3 or parts[1].lower() != "to":
                    raise EddyError("42601", "syntax error in SET")
                name, value = parts[0], parts[2]
        name = name.strip().lower().strip('"')
        value = value.strip()
        if value.lower() == "default":
            value = DEFAULT_VARS.get(name, "")
        else:
            items = [v.strip() for v in value.split(",")]
            value = ", ".join(v[1:-1].replace("''", "'") if v.startswith("'") else v
                              for v in items)
        if name == "database" and self.engine.catalog.find(None, None, value,
                                                          ("database",)) is None:
            self.notices.append(f"database \"{value}\" does not exist")
        self.vars[name] = value
        return Result("SET")

    # -- DDL -----------------------------------------------------------------------------
    def _ddl(self, txn, st: Statement) -> Result:
        from eddy.sql import ddl_misc
        binder = Binder(txn.catalog, self.database, self.search_path,
                        self.engine.system_relations, self.user)
        kind = st.kind
        if kind == "create_view":
            target = self.target(st.parts["name"])
            result = Result(ddl.create_view(txn, binder, target, st, self.vars["cluster"]))
        elif kind == "create_index":
            result = Result(ddl.create_index(txn, binder, st, self.vars["cluster"]))
        else:
            result = ddl_misc.run(self, txn, binder, st)
        self.notices.extend(txn.notices)
        return result


_ANY_PARAM = re.compile(r"\b(?:ANY|ALL|SOME)\s*\(\s*\$(\d+)\s*\)", re.I)


def array_params(text: str | None, params: list) -> list:
    """A parameter of untyped text in `= ANY($n)` is an array literal (`{a,b}`): PostgreSQL
    infers its array type from the context, so it is read as a list here."""
    if not text or "$" not in text:
        return params
    for m in _ANY_PARAM.finditer(text):
        i = int(m.group(1)) - 1
        if 0 <= i < len(params) and isinstance(params[i], str):
            with contextlib.suppress(ValueError):
                params[i] = array_literal_items(params[i])
    return params


def _convert(value, is_json: bool, is_bare_numeric: bool):
    if value is None:
        return None
    if is_json and isinstance(value, str):
        return jsonb.from_text(value)   # a jsonb string prints quoted, null as null
    if is_bare_numeric and isinstance(value, Decimal):
        return value.to_integral_value() if value == value.to_integral_value() else \
            value.normalize()
    return value
