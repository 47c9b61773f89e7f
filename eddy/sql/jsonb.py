"""jsonb values as Materialize has them: text form, containment, deletion.

The text form is compact with keys sorted (``{"a":1,"b":[1,2]}``) and numbers printed as
numeric (``1.0`` is ``1``). A jsonb string read out of DuckDB becomes a ``JsonString`` (a
``str`` that prints quoted), a jsonb ``null`` the ``JSON_NULL`` marker, so that neither is
confused with text or SQL NULL. ``install(conn)`` registers the operators DuckDB lacks as
functions on a DuckDB connection (its cursors see them too).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

import duckdb


class JsonString(str):
    """A jsonb string value: equal to the Python string, printed quoted."""


class _JsonNull:
    """jsonb ``null`` (not SQL NULL)."""

    def __repr__(self) -> str:
        return "JSON_NULL"

    def __eq__(self, other) -> bool:
        return isinstance(other, _JsonNull)

    def __hash__(self) -> int:
        return 0


JSON_NULL = _JsonNull()


def from_text(text: str):
    """A DuckDB JSON text as the Python value a session returns."""
    value = json.loads(text)
    if value is None:
        return JSON_NULL
    if isinstance(value, str):
        return JsonString(value)
    return value


def _number(v) -> str:
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return json.dumps(str(v))
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, Decimal):
        return format(v.normalize(), "f")
    return str(v)


def to_text(v) -> str:
    """jsonb's text form (compact, sorted keys, numbers as numeric)."""
    if v is None or isinstance(v, _JsonNull):
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, int | float | Decimal):
        return _number(v)
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{to_text(v[k])}"
                              for k in sorted(v)) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(to_text(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def canonical(text: str) -> str:
    """The canonical text of a JSON text."""
    return to_text(json.loads(text))


def _same(a, b) -> bool:
    """Equality of jsonb values (numbers by value, 1 = 1.0; booleans are not numbers)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def contains(haystack, needle, top: bool = True) -> bool:
    """PostgreSQL's ``@>``: objects contain objects key by key, arrays contain arrays element
    by element (any order, duplicates ignored), a scalar contains an equal scalar, and a
    top-level array contains a scalar it has as an element."""
    if isinstance(haystack, dict):
        return isinstance(needle, dict) and all(
            k in haystack and contains(haystack[k], v, False) for k, v in needle.items())
    if isinstance(haystack, list):
        if isinstance(needle, list):
            return all(any(_element_contains(h, n) for h in haystack) for n in needle)
        if top and not isinstance(needle, dict):
            return any(not isinstance(h, list | dict) and _same(h, needle) for h in haystack)
        return False
    return not isinstance(needle, list | dict) and _same(haystack, needle)


def _element_contains(h, n) -> bool:
    if isinstance(n, list | dict) or isinstance(h, list | dict):
        return type(h) is type(n) and contains(h, n, False)
    return _same(h, n)


def _contains_sql(haystack: str | None, needle: str | None) -> bool | None:
    if haystack is None or needle is None:
        return None
    return contains(json.loads(haystack), json.loads(needle))


def _delete_key(doc: str | None, key: str | None) -> str | None:
    """``jsonb - text``: drop the key of an object, or the equal strings of an array; NULL on
    a scalar (as Materialize)."""
    if doc is None or key is None:
        return None
    value = json.loads(doc)
    if isinstance(value, dict):
        return to_text({k: v for k, v in value.items() if k != key})
    if isinstance(value, list):
        return to_text([v for v in value if not (isinstance(v, str) and v == key)])
    return None


def _delete_index(doc: str | None, index: int | None) -> str | None:
    """``jsonb - integer``: drop the array element at the index (negative counts from the
    end); NULL on an object or scalar (as Materialize)."""
    if doc is None or index is None:
        return None
    value = json.loads(doc)
    if not isinstance(value, list):
        return None
    if index < 0:
        index += len(value)
    return to_text([v for i, v in enumerate(value) if i != index])


def _canonical_sql(doc: str | None) -> str | None:
    return None if doc is None else canonical(doc)


FUNCTIONS = {
    # name: (python function, parameter types, return type)
    "mz_jsonb_contains": (_contains_sql, ["JSON", "JSON"], "BOOLEAN"),
    "mz_jsonb_delete_key": (_delete_key, ["JSON", "VARCHAR"], "JSON"),
    "mz_jsonb_delete_index": (_delete_index, ["JSON", "BIGINT"], "JSON"),
    "mz_jsonb_canonical": (_canonical_sql, ["JSON"], "JSON"),
}


def install(conn) -> None:
    """Register the jsonb functions on a DuckDB connection (once)."""
    present = {r[0] for r in conn.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'mz_jsonb_%'"
    ).fetchall()}
    for name, (fn, params, ret) in FUNCTIONS.items():
        if name not in present:
            conn.create_function(name, fn, [duckdb.sqltype(p) for p in params],
                                 duckdb.sqltype(ret), null_handling="special")
