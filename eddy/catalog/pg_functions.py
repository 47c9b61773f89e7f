"""The PostgreSQL functions clients call on the system relations (`format_type`,
`pg_table_is_visible`, ...), as DuckDB macros in `main` (installed by `system.refresh`)."""

from __future__ import annotations

_CLASS = '"_pg_catalog"."pg_class"'
_DESC = '"_pg_catalog"."pg_description"'
# PostgreSQL functions over the tables above, as DuckDB macros (name, overloads). Macros expand
# inline, so their subqueries use aliases (_vc, _rc, ...) no client query would use.
FUNCTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    # Visible: in the session's search path, which the engine may publish as the DuckDB
    # variable eddy_search_path (a list of schema names); without it every relation is visible.
    ("pg_table_is_visible", [("o", f"""coalesce((SELECT _vn.nspname IN ('mz_catalog',
        'pg_catalog') OR list_contains(getvariable('eddy_search_path'), _vn.nspname)
        FROM {_CLASS} _vc JOIN "_pg_catalog"."pg_namespace" _vn ON _vn.oid = _vc.relnamespace
        WHERE _vc.oid = o), true)""")]),
    ("pg_type_is_visible", [("o", "true")]),
    ("pg_get_userbyid", [("o", """coalesce((SELECT _ur.rolname FROM "_pg_catalog"."pg_roles" _ur
        WHERE _ur.oid = o), 'unknown (OID=' || CAST(o AS VARCHAR) || ')')""")]),
    ("format_type", [("o, m", """CASE
        WHEN o = 1700 AND m > 4 THEN 'numeric(' || CAST((m - 4) >> 16 AS VARCHAR) || ','
             || CAST((m - 4) & 65535 AS VARCHAR) || ')'
        WHEN o IN (1043, 1042) AND m > 4 THEN (SELECT _ft.name FROM "mz_catalog"."mz_types" _ft
             WHERE _ft.oid = o) || '(' || CAST(m - 4 AS VARCHAR) || ')'
        ELSE coalesce((SELECT _ft.name FROM "mz_catalog"."mz_types" _ft WHERE _ft.oid = o), '???') END""")]),
    ("obj_description", [("o", f"(SELECT _d.description FROM {_DESC} _d WHERE _d.objoid = o "
                               "AND _d.objsubid = 0 LIMIT 1)"),
                         ("o, c", f"(SELECT _d.description FROM {_DESC} _d WHERE _d.objoid = o "
                                  "AND _d.objsubid = 0 LIMIT 1)")]),
    ("col_description", [("o, n", f"(SELECT _d.description FROM {_DESC} _d WHERE _d.objoid = o "
                                  "AND _d.objsubid = n LIMIT 1)")]),
    ("shobj_description", [("o, c", "CAST(NULL AS VARCHAR)")]),
    ("pg_get_indexdef", [("o", '(SELECT _i.create_sql FROM "mz_catalog"."mz_indexes" _i WHERE _i.oid = o)'),
                         ("o, c, p", '(SELECT _i.create_sql FROM "mz_catalog"."mz_indexes" _i '
                                     "WHERE _i.oid = o)")]),
    ("pg_get_viewdef", [("o", """(SELECT _v.definition FROM (SELECT oid, definition FROM
        "mz_catalog"."mz_views" UNION ALL SELECT oid, definition FROM
        "mz_catalog"."mz_materialized_views") _v WHERE _v.oid = o)"""),
        ("o, p", """(SELECT _v.definition FROM (SELECT oid, definition FROM
        "mz_catalog"."mz_views" UNION ALL SELECT oid, definition FROM
        "mz_catalog"."mz_materialized_views") _v WHERE _v.oid = o)""")]),
    ("pg_get_expr", [("e, r", "CAST(NULL AS VARCHAR)"), ("e, r, p", "CAST(NULL AS VARCHAR)")]),
    ("pg_get_constraintdef", [("o", "CAST(NULL AS VARCHAR)"), ("o, p", "CAST(NULL AS VARCHAR)")]),
    ("to_regtype", [("t", """(SELECT _t.oid FROM "mz_catalog"."mz_types" _t
        WHERE _t.name = lower(trim(t)) OR _t.oid IN (SELECT _pt.oid FROM "_pg_catalog"."pg_type" _pt
        WHERE _pt.typname = lower(trim(t))) LIMIT 1)""")]),
    ("to_regclass", [("t", f"""(SELECT _rc.oid FROM {_CLASS} _rc
        JOIN "_pg_catalog"."pg_namespace" _rn ON _rn.oid = _rc.relnamespace
        WHERE _rc.relname = split_part(t, '.', -1)
        AND (NOT contains(t, '.') OR _rn.nspname = split_part(t, '.', -2)) LIMIT 1)""")]),
    ("regclass_name", [("o", f"(SELECT _c.relname FROM {_CLASS} _c WHERE _c.oid = o)")]),
    ("has_table_privilege", [("a, b", "true"), ("a, b, c", "true")]),
    ("has_schema_privilege", [("a, b", "true"), ("a, b, c", "true")]),
    ("has_database_privilege", [("a, b", "true"), ("a, b, c", "true")]),
    ("pg_has_role", [("a, b", "true"), ("a, b, c", "true")]),
    ("pg_encoding_to_char", [("e", "'UTF8'")]),
    ("pg_is_in_recovery", [("", "false")]),
    ("pg_get_serial_sequence", [("a, b", "CAST(NULL AS VARCHAR)")]),
    ("pg_relation_size", [("o", "CAST(0 AS BIGINT)"), ("o, f", "CAST(0 AS BIGINT)")]),
    ("pg_table_size", [("o", "CAST(0 AS BIGINT)")]),
    ("pg_indexes_size", [("o", "CAST(0 AS BIGINT)")]),
    ("pg_size_pretty", [("n", "format_bytes(CAST(n AS BIGINT))")]),
    ("pg_function_is_visible", [("o", "true")]),
    ("pg_get_ruledef", [("o", "CAST(NULL AS VARCHAR)"), ("o, p", "CAST(NULL AS VARCHAR)")]),
    ("pg_get_function_result", [("o", "CAST(NULL AS VARCHAR)")]),
    ("pg_get_function_arguments", [("o", "CAST(NULL AS VARCHAR)")]),
    ("pg_get_function_identity_arguments", [("o", "CAST(NULL AS VARCHAR)")]),
    ("pg_total_relation_size", [("o", "CAST(0 AS BIGINT)")]),
    ("version", [("", "'PostgreSQL 9.5.0 on x86_64-pc-linux-gnu, compiled by Materialize "
                      "v0.130.0 (eddy)'")]),
    ("mz_version", [("", "'v0.130.0 (eddy)'")]),
]


def install_functions(conn) -> None:
    """Create (or replace) the PostgreSQL-compatible macros in the `main` schema."""
    for name, overloads in FUNCTIONS:
        body = ", ".join(f"({params}) AS {expr}" for params, expr in overloads)
        conn.execute(f"CREATE OR REPLACE MACRO main.{name}{body}")
