"""Name resolution: logical names (database.schema.object, search_path) bind to object ids;
bound queries expand into physical DuckDB relations (reads) or planner scans (dataflows)."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres

from eddy.catalog.objects import Catalog, CatalogObject
from eddy.errors import EddyError
from eddy.sql.planner import REF
from eddy.storage.state import SCHEMA

SYSTEM_SCHEMAS = ("mz_catalog", "mz_internal", "pg_catalog", "information_schema",
                  "mz_introspection")


class EddyPostgres(Postgres):
    """PostgreSQL as sqlglot reads it, minus lambdas: `f(data -> 'k')` is jsonb, not `x -> y`."""

    class Parser(Postgres.Parser):
        LAMBDAS: dict = {}

        def _parse_interval(self, require_interval: bool = True, parse_function_unit: bool = True):
            """`INTERVAL '<text>' [qualifier]` is read whole and exactly, the qualifier
            (`HOUR`, `DAY TO MINUTE`, `SECOND(5)`) included; sqlglot alone keeps only the
            text's first `<number> <unit>` and takes a unit after such a text for an alias."""
            from sqlglot.tokens import TokenType

            from eddy.sql.intervals import duckdb_literal, qualifier
            toks, i = self._tokens, self._index
            if not (require_interval and self._curr and
                    self._curr.token_type == TokenType.INTERVAL and i + 1 < len(toks) and
                    toks[i + 1].token_type == TokenType.STRING):
                return super()._parse_interval(require_interval, parse_function_unit)
            self._advance(2)
            text = self._prev.text
            first = self._interval_unit()
            if first is None:
                return exp.Interval(this=exp.Literal.string(duckdb_literal(text)))
            unit = first
            if self._curr and self._curr.text.upper() == "TO":
                self._advance()
                second = self._interval_unit()
                if second is None:
                    self.raise_error("expected an interval unit after TO")
                unit = exp.IntervalSpan(this=first, expression=second)
            leading, trailing, precision = qualifier(unit)
            return exp.Interval(this=exp.Literal.string(
                duckdb_literal(text, leading, trailing, precision)))

        def _interval_unit(self) -> exp.Expression | None:
            """One unit of an interval qualifier (`HOUR`, `SECOND(5)`), or None."""
            if not self._curr or self._curr.text.upper() not in self.dialect.VALID_INTERVAL_UNITS:
                return None
            word = self._curr.text.upper()
            self._advance()
            if self._curr and self._curr.text == "(" and word.startswith("SECOND"):
                self._advance()
                digits = self._curr.text
                self._advance()
                self._match_r_paren()
                return exp.Second(this=exp.Literal.number(digits))
            return exp.Var(this=word)


_PHYSICAL_SYSTEM_SCHEMAS = ("_pg_catalog", "_information_schema")


def _system_module():
    try:
        from eddy.catalog import system
    except ImportError:
        return None
    return system


def parse(sql: str) -> exp.Expression:
    try:
        return sqlglot.parse_one(sql, read=EddyPostgres)
    except sqlglot.errors.ParseError as e:
        raise EddyError("42601", f"syntax error: {str(e).splitlines()[0]}") from None


def cte_names(ast: exp.Expression) -> set[str]:
    return {cte.alias_or_name for cte in ast.find_all(exp.CTE)}


class Binder:
    """Resolves names against the catalog for one session's database and search_path."""

    def __init__(self, catalog: Catalog, database: str, search_path: list[str],
                 system: dict[str, str] | None = None, user: str = "materialize"):
        self.catalog, self.database, self.search_path = catalog, database, search_path
        self.system, self.user = system or {}, user

    def current_schema(self) -> str | None:
        """The first schema of search_path that exists (PostgreSQL's current_schema())."""
        for schema in self.search_path:
            if schema in SYSTEM_SCHEMAS or self.catalog.find(self.database, None, schema,
                                                             ("schema",)) is not None:
                return schema
        return None

    def session_functions(self, ast: exp.Expression) -> exp.Expression:
        """current_schema(), current_database(), current_user as the session's values."""
        names = {exp.CurrentSchema: "current_schema", exp.CurrentDatabase: "current_database",
                 exp.CurrentUser: "current_user", exp.SessionUser: "session_user"}

        def fn(node):
            if isinstance(node, exp.CurrentSchema):
                schema = self.current_schema()
                out = exp.Null() if schema is None else exp.Literal.string(schema)
            elif isinstance(node, exp.CurrentDatabase):
                out = exp.Literal.string(self.database)
            elif isinstance(node, exp.CurrentUser | exp.SessionUser) or (
                    isinstance(node, exp.Column) and not node.table and not node.this.quoted
                    and node.name in ("current_role", "user")):
                out = exp.Literal.string(self.user)
            else:
                return node
            if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
                return exp.alias_(out, names.get(type(node), node.name), quoted=True)
            return out
        return ast.transform(fn)

    def lookup(self, parts: list[str], kinds=None) -> CatalogObject | None:
        if len(parts) == 3:
            return self.catalog.find(parts[0], parts[1], parts[2], kinds)
        if len(parts) == 2:
            return self.catalog.find(self.database, parts[0], parts[1], kinds)
        for schema in self.search_path:
            obj = self.catalog.find(self.database, schema, parts[0], kinds)
            if obj is not None:
                return obj
        return None

    def require(self, parts: list[str], kinds=None) -> CatalogObject:
        obj = self.lookup(parts, kinds)
        if obj is None:
            raise EddyError("42P01", f"unknown catalog item '{'.'.join(parts)}'")
        return obj

    def bind(self, ast: exp.Expression) -> tuple[exp.Expression, list[str]]:
        """Replace relation names by `__ref.<id>` (keeping the alias); returns deps."""
        ctes = cte_names(ast)
        deps: list[str] = []
        system = _system_module()
        ast = self.session_functions(ast)
        if system is not None:
            ast = system.rewrite(ast)   # pg_catalog.pg_class, ::regclass, OPERATOR(~), ...

        def fn(node):
            if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func) and \
                    isinstance(node.this, exp.Identifier | exp.Column) and \
                    node.this.name in SYSTEM_SCHEMAS:
                return node.expression   # pg_catalog.version() -> version()
            if isinstance(node, exp.Table | exp.Unnest) and not isinstance(
                    node.this, exp.Identifier):
                # a set-returning function aliased `AS g` names its column g (PostgreSQL)
                alias = node.args.get("alias")
                if alias is not None and alias.this is not None and not alias.columns and \
                        not isinstance(node.this, exp.Subquery):
                    alias.set("columns", [alias.this.copy()])
                return node
            if not isinstance(node, exp.Table):
                return node
            parts = [p for p in (node.catalog, node.db, node.name) if p]
            if len(parts) == 1 and parts[0] in ctes:
                return node
            if node.db == REF:
                deps.append(node.name)
                return node
            if node.db in SYSTEM_SCHEMAS or node.db in _PHYSICAL_SYSTEM_SCHEMAS:
                return node
            obj = self.lookup(parts, ("table", "view", "materialized-view", "source"))
            if obj is None:
                if len(parts) == 1 and parts[0] in self.system:
                    return exp.Table(this=exp.to_identifier(parts[0], quoted=True),
                                     db=exp.to_identifier(self.system[parts[0]], quoted=True),
                                     alias=node.args.get("alias") or exp.TableAlias(
                                         this=exp.to_identifier(parts[0])))
                raise EddyError("42P01", f"unknown catalog item '{'.'.join(parts)}'")
            if obj.id not in deps:
                deps.append(obj.id)
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            return exp.Table(this=exp.to_identifier(obj.id), db=exp.to_identifier(REF),
                             alias=alias)
        return ast.transform(fn), deps


def sqlglot_type(name: str) -> str:
    """A catalog type name sqlglot can parse (postgres dialect)."""
    if name == "mz_timestamp":
        return "numeric"
    if name == "record" or name.endswith("[]"):
        return "text"
    return name


def read_schema(catalog: Catalog) -> dict:
    """Column types of the physical relations, for type-dependent dialect rules."""
    cached = getattr(catalog, "_read_schema", None)
    if cached is not None:
        return cached
    tables = {}
    for o in catalog:
        if o.is_relation:
            cols = {c[0]: sqlglot_type(c[1]) for c in o.columns}
            tables[o.id] = cols
            tables[o.id + "_r"] = cols
    schema = {SCHEMA: tables}
    catalog._read_schema = schema
    return schema


def to_read_sql(bound: exp.Expression, catalog: Catalog) -> str:
    """DuckDB SQL of a bound query over the physical relations."""
    from eddy.sql import dialect
    expanded = expand(bound.copy(), catalog, "read")
    try:
        return dialect.render(dialect.to_duckdb(expanded, schema=read_schema(catalog)))
    except EddyError:
        raise
    except Exception:  # noqa: BLE001 - typing is best effort
        return dialect.render(dialect.to_duckdb(expanded))


def expand(ast: exp.Expression, catalog: Catalog, mode: str) -> exp.Expression:
    """Bound query -> views inlined; in 'read' mode relations become physical tables."""
    def fn(node):
        if not (isinstance(node, exp.Table) and node.db == REF):
            return node
        obj = catalog.get(node.name)
        if obj is None:
            raise EddyError("42P01", f"unknown catalog item '{node.name}'")
        alias = node.args.get("alias")
        if obj.kind == "view" and not (obj.internal.get("maintained") and mode == "read") and \
                not (obj.internal.get("maintained") and mode == "plan"):
            inner = expand(parse(obj.internal["query"]), catalog, mode)
            return exp.Subquery(this=inner, alias=alias)
        if mode == "plan":
            return node
        name = obj.id + "_r" if obj.kind in ("materialized-view", "view") else obj.id
        return exp.Table(this=exp.to_identifier(name, quoted=True),
                         db=exp.to_identifier(SCHEMA, quoted=True), alias=alias)
    return ast.transform(fn)


def inline_ctes(ast: exp.Expression) -> exp.Expression:
    """WITH ... AS (...) references become subqueries (non-recursive CTEs only). Nested WITHs
    (a view's own CTEs inside a query that has CTEs) are inlined too: the loop runs until none
    is left, since inlining copies CTE bodies and with them the WITHs they hold. A CTE used
    several times becomes identical subqueries, which the planner plans once."""
    while True:
        with_ = next(iter(ast.find_all(exp.With)), None)
        if with_ is None:
            return ast
        if with_.args.get("recursive"):
            raise EddyError("0A000", "WITH RECURSIVE not supported")
        parent = with_.parent
        bodies: dict[str, exp.Expression] = {}
        for cte in with_.expressions:
            body = _replace_refs(cte.this.copy(), bodies)
            bodies[cte.alias_or_name] = body
        parent.set(with_.arg_key, None)
        _replace_refs(parent, bodies, in_place=True)


def _replace_refs(node: exp.Expression, bodies: dict, in_place: bool = False):
    def fn(n):
        if isinstance(n, exp.Table) and not n.db and n.name in bodies:
            alias = n.args.get("alias") or exp.TableAlias(this=exp.to_identifier(n.name))
            return exp.Subquery(this=bodies[n.name].copy(), alias=alias)
        return n
    out = node.transform(fn, copy=not in_place)
    return out
