"""What eddy executes, as tables: the statement kinds a session runs, and the node types a
maintained (materialized or indexed) view may contain. Anything else is refused with SQLSTATE
0A000 and a message naming the construct as the user wrote it, never a parser class name.

- `check_statement`: a parsed statement of kind "sql" is one of `SQL_STATEMENTS`, and its
  first word agrees with what the parser made of it (misparses are refused, not run).
- `check_query`: constructs refused in every query (DuckDB-only syntax, file access).
- `check_maintained`: the node allowlist of maintained views, and the functions whose value
  changes without any input changing (Materialize: "cannot materialize call to ...")."""

from __future__ import annotations

from sqlglot import exp

from eddy.errors import EddyError
from eddy.sql.rewrites import check_temporal
from eddy.sql.sqltext import leading_words, strip_comments

# Statement kinds the session dispatches (eddy.sql.preparser kinds; "sql" is parsed by sqlglot
# and must then be one of SQL_STATEMENTS).
STATEMENT_KINDS = {
    "begin": "BEGIN / START TRANSACTION", "commit": "COMMIT / END",
    "rollback": "ROLLBACK / ABORT (and ROLLBACK TO SAVEPOINT)", "set": "SET", "reset": "RESET",
    "show": "SHOW", "show_create": "SHOW CREATE", "explain": "EXPLAIN", "subscribe": "SUBSCRIBE",
    "discard": "DISCARD", "deallocate": "DEALLOCATE", "create_view": "CREATE [MATERIALIZED] VIEW",
    "create_index": "CREATE INDEX", "create_cluster": "CREATE CLUSTER",
    "create_cluster_replica": "CREATE CLUSTER REPLICA", "create_schema": "CREATE SCHEMA",
    "create_database": "CREATE DATABASE", "create_role": "CREATE ROLE",
    "create_secret": "CREATE SECRET", "create_connection": "CREATE CONNECTION",
    "create_source": "CREATE SOURCE", "create_sink": "CREATE SINK", "drop": "DROP",
    "alter_rename": "ALTER ... RENAME TO", "alter_swap": "ALTER ... SWAP WITH",
    "alter_other": "ALTER (the forms eddy.sql.ddl_misc names)", "comment": "COMMENT ON",
    "sql": "the statements of SQL_STATEMENTS",
}
# Handled by the wire protocol (eddy.pgwire.statements), not by a session.
WIRE_KINDS = {"declare": "DECLARE", "fetch": "FETCH", "close": "CLOSE", "prepare": "PREPARE",
              "execute": "EXECUTE"}

# Parsed statements: type -> the first words it may start with
SQL_STATEMENTS: dict[type, tuple[str, ...]] = {
    exp.Select: ("SELECT", "WITH", "(", "TABLE", "VALUES"),
    exp.Union: ("SELECT", "WITH", "(", "TABLE", "VALUES"),
    exp.Intersect: ("SELECT", "WITH", "(", "TABLE", "VALUES"),
    exp.Except: ("SELECT", "WITH", "(", "TABLE", "VALUES"),
    exp.Values: ("VALUES", "("),
    exp.Subquery: ("(",),            # (SELECT ...) [ORDER BY ...], (VALUES ...)
    exp.Insert: ("INSERT", "WITH"),
    exp.Update: ("UPDATE", "WITH"),
    exp.Delete: ("DELETE", "WITH"),
    exp.Create: ("CREATE",),          # CREATE TABLE only (other CREATEs are preparser kinds)
}

_MAINTENANCE = "the engine maintains its storage itself"
# PostgreSQL and DuckDB commands, decided one by one (the README's SQL section says why)
REFUSED_COMMANDS = {
    "LISTEN": "LISTEN is not supported (SUBSCRIBE follows a relation's changes)",
    "UNLISTEN": "UNLISTEN is not supported (SUBSCRIBE follows a relation's changes)",
    "NOTIFY": "NOTIFY is not supported (SUBSCRIBE follows a relation's changes)",
    "VACUUM": f"VACUUM is not supported ({_MAINTENANCE})",
    "ANALYZE": f"ANALYZE is not supported ({_MAINTENANCE})",
    "ANALYSE": f"ANALYZE is not supported ({_MAINTENANCE})",
    "CLUSTER": f"CLUSTER is not supported ({_MAINTENANCE})",
    "REINDEX": f"REINDEX is not supported ({_MAINTENANCE})",
    "CHECKPOINT": f"CHECKPOINT is not supported ({_MAINTENANCE})",
    "LOCK": "LOCK is not supported (reads never block; writes are serialized)",
    "TRUNCATE": "TRUNCATE is not supported (use DELETE FROM the table)",
    "MERGE": "MERGE is not supported",
    "GRANT": "GRANT is not supported (eddy has no privileges)",
    "REVOKE": "REVOKE is not supported (eddy has no privileges)",
    "REASSIGN": "REASSIGN OWNED is not supported",
    "SECURITY": "SECURITY LABEL is not supported",
    "CALL": "CALL is not supported (eddy has no procedures)",
    "DO": "DO is not supported (eddy has no procedural language)",
    "LOAD": "LOAD is not supported",
    "IMPORT": "IMPORT FOREIGN SCHEMA is not supported",
    "REFRESH": "REFRESH MATERIALIZED VIEW is not supported (materialized views are always "
               "up to date)",
    "COPY": "COPY is not supported in this form (COPY (query) TO STDOUT and COPY table FROM "
            "STDIN are)",
    "SAVEPOINT": "SAVEPOINT is not supported outside a transaction block",
    "RELEASE": "RELEASE SAVEPOINT is not supported outside a transaction block",
    "ATTACH": "ATTACH is not supported", "DETACH": "DETACH is not supported",
    "INSTALL": "INSTALL is not supported", "FORCE": "FORCE INSTALL is not supported",
    "PRAGMA": "PRAGMA is not supported", "EXPORT": "EXPORT DATABASE is not supported",
    "USE": "USE is not supported (SET database, or SET search_path)",
    "SUMMARIZE": "SUMMARIZE is not supported", "DESCRIBE": "DESCRIBE is not supported (SHOW "
    "COLUMNS FROM the relation)", "PIVOT": "PIVOT is not supported",
    "UNPIVOT": "UNPIVOT is not supported", "FROM": "a statement starting with FROM is not "
    "supported (write SELECT ... FROM)",
}

_MODIFIERS = {"OR", "REPLACE", "TEMP", "TEMPORARY", "UNIQUE", "DEFAULT", "UNLOGGED", "GLOBAL",
              "LOCAL", "RECURSIVE", "IF", "NOT", "EXISTS", "CONCURRENTLY", "TRUSTED",
              "PROCEDURAL"}
_TWO_WORD_KINDS = {"MATERIALIZED", "FOREIGN", "EVENT", "ACCESS", "TEXT", "OPERATOR", "USER",
                   "DEFAULT", "CLUSTER"}


def statement_name(text: str) -> str:
    """The statement's kind in the user's words: `VACUUM`, `CREATE FUNCTION`, `ALTER SYSTEM`."""
    words = leading_words(text, 8)
    if not words:
        return "this statement"
    head, rest = words[0], words[1:]
    if head in ("CREATE", "ALTER", "DROP", "COMMENT", "IMPORT", "REFRESH") and rest:
        kind = [w for w in rest if w not in _MODIFIERS][:2]
        if head == "COMMENT" or not kind:
            return head
        return " ".join([head, kind[0]] + (kind[1:] if kind[0] in _TWO_WORD_KINDS else []))
    return head


def refused_command(text: str) -> EddyError | None:
    """The refusal of a command decided by name (before parsing: the parser would read some
    of them as an alias or a generic command)."""
    words = leading_words(text, 1)
    if words and words[0] in REFUSED_COMMANDS:
        return EddyError("0A000", REFUSED_COMMANDS[words[0]])
    return None


def check_statement(text: str, ast: exp.Expression) -> None:
    """A parsed statement runs only if its type is allowed and its first word agrees."""
    if (error := refused_command(text)) is not None:
        raise error
    words = leading_words(text, 1)
    head = words[0] if words else ""
    if strip_comments(text).startswith("("):
        head = "("
    starts = SQL_STATEMENTS.get(type(ast))
    if starts is None or head not in starts:
        raise EddyError("0A000", f"{statement_name(text)} is not supported")
    if isinstance(ast, exp.Create) and (ast.args.get("kind") or "").upper() != "TABLE":
        raise EddyError("0A000", f"{statement_name(text)} is not supported")
    if isinstance(ast, exp.Create) and ast.expression is not None:
        raise EddyError("0A000", "CREATE TABLE ... AS is not supported (CREATE TABLE, then "
                        "INSERT INTO ... SELECT)")


# ALTER actions that are accepted (and have no effect: eddy has no per-object settings or owners)
ALTER_ACTIONS = ("SET", "RESET", "OWNER TO")


def check_alter(kind: str, action: str) -> None:
    if not action.upper().startswith(ALTER_ACTIONS):
        word = action.split()[0].upper() if action.split() else ""
        raise EddyError("0A000", f"ALTER {kind.upper()} ... {word} is not supported")


def check_ddl(st, query: exp.Expression | None = None) -> None:
    """Refusals by name of a DDL statement (a preparser Statement), before it runs: the
    query of CREATE [MATERIALIZED] VIEW as the user wrote it, and ALTER's action."""
    if st.kind == "alter_other":
        check_alter(st.parts["object_kind"], st.parts["action"])
    elif st.kind == "create_view" and query is not None:
        if st.parts["materialized"]:
            check_maintained(query)
        else:
            check_query(query)


# -- constructs refused in every query ---------------------------------------------------------
# DuckDB table functions that read files or the host: never reachable through SQL
_FILE_FUNCTIONS = ("read_", "parquet_", "glob", "sniff_csv", "duckdb_", "pragma_", "iceberg_",
                   "delta_scan", "query_table", "which_secret", "load_aws_credentials",
                   "json_execute_serialized_sql", "sql_auto_complete", "summary")


def _func_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return ""


def _query_refusal(node: exp.Expression) -> tuple[str, str] | None:
    """(the construct, a hint) for what no query may contain, or None."""
    if isinstance(node, exp.Into):
        return "SELECT ... INTO", "CREATE TABLE, then INSERT INTO ... SELECT"
    if isinstance(node, exp.Lock):
        return "SELECT ... FOR UPDATE/SHARE", "reads never lock"
    if isinstance(node, exp.Pivot):
        return ("UNPIVOT" if node.args.get("unpivot") else "PIVOT"), ""
    if isinstance(node, exp.Qualify):
        return "QUALIFY", "filter on the window function in an outer query"
    if isinstance(node, exp.With) and node.args.get("recursive"):
        return "WITH RECURSIVE", ""
    if isinstance(node, exp.TableSample):     # the binder would drop it: refused, not ignored
        return "TABLESAMPLE", ""
    if isinstance(node, exp.Insert | exp.Update | exp.Delete) and node.parent is not None:
        return f"{node.key.upper()} inside a query (a data-modifying WITH)", ""
    if isinstance(node, exp.ReadCSV | exp.ReadParquet) or (
            isinstance(node, exp.Anonymous | exp.Func) and _func_name(node).startswith(
                _FILE_FUNCTIONS)):
        return f"{_func_name(node)}()", "eddy reads only its own relations"
    return None


def check_query(ast: exp.Expression, where: str = "") -> None:
    """Refuse, in any query, what is DuckDB-only, reaches outside the engine, or would be
    ignored (TABLESAMPLE)."""
    for node in ast.walk():
        if (found := _query_refusal(node)) is not None:
            name, hint = found
            raise EddyError("0A000", f"{name} is not supported{where}"
                            + (f" ({hint})" if hint else ""))


# -- maintained views ------------------------------------------------------------------------
# Functions whose result changes without any input changing: a maintained view would be wrong
# a moment after it is computed. (Materialize: "cannot materialize call to ...".)
_NOW = "its value changes as time passes; compare mz_now() in a temporal filter instead"
UNMATERIALIZABLE: dict[type, str] = {
    exp.CurrentTimestamp: "now() / current_timestamp", exp.CurrentDate: "current_date",
    exp.CurrentTime: "current_time", exp.Localtimestamp: "localtimestamp",
    exp.Localtime: "localtime", exp.CurrentUser: "current_user",
    exp.SessionUser: "session_user", exp.CurrentRole: "current_role",
    exp.CurrentDatabase: "current_database()", exp.CurrentCatalog: "current_catalog",
    exp.CurrentSchema: "current_schema", exp.CurrentSchemas: "current_schemas()",
    exp.CurrentVersion: "version()", exp.Rand: "random()", exp.Randn: "random()",
    exp.Uuid: "gen_random_uuid()",
}
UNMATERIALIZABLE_NAMES = {
    "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
    "random", "setseed", "gen_random_uuid", "uuid", "uuidv7", "nextval", "currval", "lastval",
    "setval", "txid_current", "pg_backend_pid", "pg_postmaster_start_time", "mz_version",
    "mz_version_num", "mz_uptime", "mz_session_id", "mz_environment_id", "current_setting",
    "pg_sleep", "user", "current_query", "inet_client_addr", "get_current_ts", "mz_is_superuser",
    "has_table_privilege", "has_schema_privilege", "has_database_privilege", "pg_has_role",
}
_WHY = {"random()": "it returns a different value on every evaluation",
        "gen_random_uuid()": "it returns a different value on every evaluation"}
# Named refusals of clauses (the user's words for the node)
MAINTAINED_REFUSALS: dict[type, str] = {
    exp.Rollup: "GROUP BY ROLLUP", exp.Cube: "GROUP BY CUBE",
    exp.GroupingSets: "GROUP BY GROUPING SETS", exp.Placeholder: "a query parameter",
    exp.Parameter: "a query parameter",
}
# Node types a maintained view may contain (functions are allowed unless named above)
ALLOWED_NODES: tuple[type, ...] = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.From, exp.Join,
    exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Fetch,
    exp.Distinct, exp.With, exp.CTE, exp.Table, exp.TableAlias, exp.Alias, exp.Aliases,
    exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Null, exp.Boolean, exp.Paren,
    exp.Tuple, exp.Values, exp.DataType, exp.DataTypeParam, exp.Interval, exp.IntervalSpan,
    exp.Var, exp.Case, exp.If, exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup,
    exp.Lateral, exp.Unnest, exp.Bracket, exp.Array, exp.Binary, exp.Unary, exp.Predicate,
    exp.Func, exp.PseudoType, exp.ObjectIdentifier, exp.ColumnDef, exp.Kwarg, exp.Slice,
    exp.IgnoreNulls, exp.RespectNulls, exp.LimitOptions, exp.Schema, exp.PropertyEQ,
    exp.Struct, exp.Collate, exp.AtTimeZone, exp.Dot, exp.ArrayAgg, exp.Neg, exp.Not,
    exp.JSONPath, exp.JSONPathPart, exp.Lambda,  # sqlglot reads f(x -> 'k') as a lambda
)


def _snippet(node: exp.Expression) -> str:
    text = node.sql("postgres")
    return text if len(text) <= 60 else text[:57] + "..."


def check_maintained(ast: exp.Expression, kind: str = "materialized-view") -> None:
    """Refuse what a maintained view cannot keep correct: nondeterministic or time-dependent
    functions, sampling, and any node type outside ALLOWED_NODES."""
    where = {"materialized-view": "materialized views", "view": "indexed views"}.get(
        kind, "maintained queries")
    check_query(ast, f" in {where}")
    for node in ast.walk():
        name = UNMATERIALIZABLE.get(type(node))
        if name is None and isinstance(node, exp.Anonymous) and \
                node.name.lower() in UNMATERIALIZABLE_NAMES:
            name = f"{node.name.lower()}()"
        if name is not None:
            why = _WHY.get(name, _NOW if "time" in name or "now" in name or
                           "date" in name else "its value depends on the session, not the data")
            raise EddyError("0A000", f"{name} is not supported in {where}: {why}")
        if (clause := MAINTAINED_REFUSALS.get(type(node))) is not None:
            raise EddyError("0A000", f"{clause} is not supported in {where}")
        if not isinstance(node, ALLOWED_NODES):
            raise EddyError("0A000", f"{_snippet(node)} is not supported in {where}")
    check_temporal(ast)     # mz_now() only in temporal filters (Materialize's rule)
