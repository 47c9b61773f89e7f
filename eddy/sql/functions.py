"""Functions the dialect rules call that DuckDB lacks, installed on the state connection.

``install(conn)`` runs once per DuckDB connection (its cursors share the functions): the
jsonb operators of ``eddy.sql.jsonb`` as Python functions, and SQL macros for text forms.
"""

from __future__ import annotations

from eddy.sql import jsonb

MACROS = {
    # PostgreSQL's boolean input: a unique prefix of true/false/yes/no/on/off, or 1/0, any case,
    # surrounding whitespace ignored
    "mz_text_to_bool": "(s) AS CASE "
    "WHEN lower(trim(s)) IN ('t', 'tr', 'tru', 'true', 'y', 'ye', 'yes', 'on', '1') THEN true "
    "WHEN lower(trim(s)) IN ('f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off', '0') "
    "THEN false "
    "WHEN s IS NULL THEN NULL "
    "ELSE error('invalid input syntax for type boolean: \"' || s || '\"') END",
    # bare numeric (DECIMAL(38,10)) as text without the padding zeros
    "mz_numeric_text": "(x) AS rtrim(rtrim(CAST(x AS VARCHAR), '0'), '.')",
}


def install(conn) -> None:
    """Register the functions and macros on a DuckDB connection."""
    jsonb.install(conn)
    for name, body in MACROS.items():
        conn.execute(f"CREATE OR REPLACE TEMP MACRO {name}{body}")
