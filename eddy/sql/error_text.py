"""DuckDB's error texts in Materialize's words, with their SQLSTATE.

``materialize_error(text)`` gives ``(sqlstate, message)`` for a DuckDB error whose meaning
Materialize reports in other words (a client matching on Materialize's messages, or a user
reading its docs, sees the same text), or None. Pure: no engine imports (``eddy.errors`` uses it).
"""

from __future__ import annotations

import re

_Q = r'"([^"]+)"'
_RULES: list[tuple[re.Pattern, str, str]] = [
    (re.compile(r"more than one row returned by a subquery", re.I), "21000",
     "more than one record produced in subquery"),
    (re.compile(r'Column "?([^"\s]+)"? does not exist on (left|right) side of join'), "42703",
     'column "{0}" specified in USING clause does not exist in {1} table'),
    (re.compile(r"Ambiguous reference to column name " + _Q), "42702",
     'column reference "{0}" is ambiguous'),
    (re.compile(r"Overflow in (?:multiplication|division|addition|subtraction) of INTERVAL|"
                r"Overflow in INTERVAL", re.I), "22008", "interval out of range"),
    (re.compile(r"WHERE clause cannot contain aggregates"), "42803",
     "aggregate functions are not allowed in WHERE clause"),
    (re.compile(r"WHERE clause cannot contain window functions"), "42P20",
     "window functions are not allowed in WHERE"),
    (re.compile(r"Scalar Function with name (row_number|rank|dense_rank|lag|lead|ntile|"
                r"first_value|last_value|nth_value|percent_rank|cume_dist) does not exist"),
     "42809", "window function {0} requires an OVER clause"),
    (re.compile(r"Could not ORDER BY column " + _Q), "42703", 'column "{0}" does not exist'),
    (re.compile(r"Table " + _Q + r" does not have a column named " + _Q), "42703",
     'column "{0}.{1}" does not exist'),
    (re.compile(r'invalid (date|timestamp) field format: "([^"]*)"'), "22007",
     'invalid input syntax for type {0}: "{1}"'),
    (re.compile(r"Referenced column " + _Q + r" not found in FROM clause"), "42703",
     'column "{0}" does not exist'),
    # an output alias named before its definition: no such input column
    (re.compile(r"Column " + _Q + r" referenced that exists in the SELECT clause - but this "
                r"column cannot be referenced before it is defined"), "42703",
     'column "{0}" does not exist'),
    (re.compile(r"Table with name ([^\s!]+) does not exist"), "42P01",
     "unknown catalog item '{0}'"),
    # a CTE named inside its own definition (DuckDB 1.5; 1.4 said the table did not exist)
    (re.compile(r"Circular reference to CTE " + _Q), "42P01", "unknown catalog item '{0}'"),
]


def materialize_error(text: str) -> tuple[str, str] | None:
    """(sqlstate, message) in Materialize's words for a DuckDB error text, or None."""
    first = text.split("\n")[0]
    for pattern, sqlstate, message in _RULES:
        m = pattern.search(first)
        if m:
            # ORDER BY names a column without its table, as Materialize does
            groups = [g.rsplit(".", 1)[-1] if "ORDER BY" in pattern.pattern else g
                      for g in m.groups()]
            return sqlstate, message.format(*groups)
    return None
