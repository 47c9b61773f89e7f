"""Functions the dialect rules call that DuckDB lacks, installed on the state connection.

``install(conn)`` runs once per DuckDB connection (its cursors share the functions): the
jsonb operators of ``eddy.sql.jsonb`` as Python functions, and SQL macros for text forms.
"""

from __future__ import annotations

import duckdb

from eddy.sql import jsonb
from eddy.sql.intervals import Interval, format_interval

MACROS = {
    # timestamptz - timestamptz from the epoch microseconds (eddy.sql.dialect_time): whole
    # 24-hour days, the rest as time (C-style // and % keep the difference's sign in both)
    "mz_tstz_minus": "(a, b) AS to_days(CAST((epoch_us(a) - epoch_us(b)) // 86400000000 AS "
    "INTEGER)) + to_microseconds((epoch_us(a) - epoch_us(b)) % 86400000000)",
    # date_trunc of a timestamptz to `s` microseconds (a unit of fixed length in UTC:
    # eddy.sql.dialect_time), floored for times before 1970 too; infinity stays itself
    "mz_tstz_trunc": "(a, s) AS CASE WHEN isfinite(a) THEN make_timestamptz(epoch_us(a) - "
    "(epoch_us(a) % s + s) % s) ELSE a END",
    # the UTC wall time of a timestamptz as a timestamp, read from its epoch microseconds
    # (eddy.sql.dialect_time); infinity through DuckDB's cast
    "mz_tstz_wall": "(a) AS CASE WHEN isfinite(a) THEN make_timestamp(epoch_us(a)) "
    "ELSE CAST(a AS TIMESTAMP) END",
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
    # an interval in PostgreSQL's style (DuckDB's cast says `2 months`, `1 year 1 month` ...)
    "mz_interval_text": "(i) AS mz_interval_format(12 * datepart('year', i) + "
    "datepart('month', i), datepart('day', i), datepart('hour', i) * 3600000000 + "
    "datepart('minute', i) * 60000000 + datepart('microseconds', i))",
    # a list or array in PostgreSQL's array text form: {a,"b c",NULL,t}
    "mz_list_text": "(l) AS CASE WHEN l IS NOT NULL THEN '{' || coalesce(array_to_string("
    "list_transform(l, x -> CASE "
    "WHEN x IS NULL THEN 'NULL' "
    "WHEN typeof(x) = 'BOOLEAN' THEN left(CAST(x AS VARCHAR), 1) "
    "WHEN CAST(x AS VARCHAR) = '' OR upper(CAST(x AS VARCHAR)) = 'NULL' "
    "OR regexp_matches(CAST(x AS VARCHAR), '[{},\"\\\\\\s]') "
    "THEN '\"' || replace(replace(CAST(x AS VARCHAR), '\\', '\\\\'), '\"', '\\\"') || '\"' "
    "ELSE CAST(x AS VARCHAR) END), ','), '') || '}' END",
    # an interval without months as microseconds
    "mz_interval_us": "(i) AS datepart('day', i) * 86400000000 + datepart('hour', i) * "
    "3600000000 + datepart('minute', i) * 60000000 + datepart('microseconds', i)",
    # how far ts is past the last bin start of a grid h_us apart from origin
    "mz_bin_offset_us": "(ts, h_us, origin) AS "
    "((epoch_us(ts) - epoch_us(origin)) % h_us + h_us) % h_us",
    # date_bin_hopping: the first and last window starts containing ts
    "mz_hop_last": "(ts, h_us, origin) AS ts - to_microseconds(mz_bin_offset_us(ts, h_us, origin))",
    "mz_hop_first": "(ts, h_us, w_us, origin) AS mz_hop_last(ts, h_us, origin) - "
    "to_microseconds(((w_us - mz_bin_offset_us(ts, h_us, origin) + h_us - 1) // h_us - 1) * h_us)",
}


def _interval_format(months: int | None, days: int | None, micros: int | None) -> str | None:
    if months is None or days is None or micros is None:
        return None
    return format_interval(Interval(months, days, micros))


def _length_in_encoding(text: str | None, encoding: str | None) -> int | None:
    """Materialize's length(text, encoding): the text's UTF-8 bytes decoded in `encoding`."""
    if text is None or encoding is None:
        return None
    try:
        return len(text.encode("utf-8").decode(encoding))
    except LookupError:
        raise ValueError(f"invalid encoding name '{encoding}'") from None
    except UnicodeDecodeError:
        raise ValueError(f"invalid byte sequence for encoding \"{encoding}\"") from None


def install(conn) -> None:
    """Register the functions and macros on a DuckDB connection."""
    jsonb.install(conn)
    if not conn.execute("SELECT count(*) FROM duckdb_functions() "
                        "WHERE function_name = 'mz_interval_format'").fetchone()[0]:
        conn.create_function("mz_interval_format", _interval_format,
                             [duckdb.sqltype("BIGINT")] * 3, duckdb.sqltype("VARCHAR"),
                             null_handling="special")
        conn.create_function("mz_length_in_encoding", _length_in_encoding,
                             [duckdb.sqltype("VARCHAR")] * 2, duckdb.sqltype("BIGINT"),
                             null_handling="special")
    for name, body in MACROS.items():
        conn.execute(f"CREATE OR REPLACE MACRO main.{name}{body}")
