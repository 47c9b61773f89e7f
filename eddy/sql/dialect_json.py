"""Dialect rules for jsonb: operators and functions onto DuckDB's json extension and the
functions of ``eddy.sql.jsonb`` (see eddy.sql.dialect for the order the rules run in).

- ``->``/``->>`` with negative indexes and an empty key; ``#>``/``#>>`` paths (a text[] literal,
  a cast of one, or an ARRAY of literals) become JSON pointers (a step is a key on objects and
  an index on arrays, as in PostgreSQL); a NULL step gives NULL.
- ``@>``/``<@`` are PostgreSQL's containment (``mz_jsonb_contains``); ``jsonb - text`` and
  ``jsonb - integer`` delete a key / string elements or an array element.
- ``?`` looks at an object's keys or an array's string elements.
"""

from __future__ import annotations

import json
import re

from sqlglot import exp

from eddy.errors import unsupported
from eddy.sql.astutil import duckdb_func, transform_in_place, type_of
from eddy.sql.astutil import literal_number as _literal_number

_JSON_FUNCTIONS = {
    "jsonb_build_object": "json_object", "json_build_object": "json_object",
    "jsonb_build_array": "json_array", "json_build_array": "json_array",
    "to_jsonb": "to_json", "to_json": "to_json",
    "jsonb_array_length": "json_array_length", "json_array_length": "json_array_length",
    "jsonb_pretty": "json_pretty",
}
_SET_RETURNING = {"jsonb_array_elements", "json_array_elements", "jsonb_array_elements_text",
                  "json_array_elements_text", "jsonb_object_keys", "json_object_keys"}
_JSON_TYPE_NAMES = {"OBJECT": "object", "ARRAY": "array", "VARCHAR": "string", "BIGINT": "number",
                    "UBIGINT": "number", "DOUBLE": "number", "BOOLEAN": "boolean", "NULL": "null"}
_JSON_TYPES = {exp.DataType.Type.JSON, exp.DataType.Type.JSONB}
_INT_TYPES = {exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT,
              exp.DataType.Type.TINYINT}

def canonical_json(text: str) -> str:
    """jsonb's text form as Materialize prints it: compact, keys sorted, last duplicate wins.

    DuckDB's JSON keeps the input text, so equal jsonb values written differently compare
    unequal there; literals are canonicalized here, and ingest paths should do the same.
    """
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _path_steps(path: exp.Expression, construct: str) -> list[str | None]:
    """The steps of a constant text[] path: ``'{a,0}'``, ``'{a}'::text[]``, ``ARRAY['a', 0]``
    (None for a NULL step)."""
    if isinstance(path, exp.Cast) and path.to.this == exp.DataType.Type.ARRAY:
        path = path.this
    if isinstance(path, exp.Array):
        steps: list[str | None] = []
        for item in path.expressions:
            if isinstance(item, exp.Null):
                steps.append(None)
            elif isinstance(item, exp.Literal):
                steps.append(str(item.this))
            else:
                raise unsupported(f"{construct} with a non-constant path")
        return steps
    if not (isinstance(path, exp.Literal) and path.is_string):
        raise unsupported(f"{construct} with a non-constant path")
    text = path.this.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise unsupported(f"{construct} path {text!r}")
    return [s.strip().strip('"') for s in text[1:-1].split(",")] if text[1:-1].strip() else []


def _pointer(path: exp.Expression, construct: str) -> exp.Expression | None:
    """A PostgreSQL text[] path as a JSON pointer ``'/a/0'``; None when a step is NULL."""
    steps = _path_steps(path, construct)
    if any(s is None for s in steps):
        return None
    if any(re.fullmatch(r"-\d+", s) for s in steps):
        raise unsupported(f"{construct} with a negative array index")
    return exp.Literal.string("".join("/" + s.replace("~", "~0").replace("/", "~1") for s in steps))


def is_json(node: exp.Expression) -> bool:
    """Whether a node is jsonb: a cast to it, an operator or function giving it, or typed so."""
    if isinstance(node, exp.Paren):
        return is_json(node.this)
    if isinstance(node, exp.Cast | exp.TryCast):
        return node.to.this in _JSON_TYPES
    if isinstance(node, exp.JSONExtract | exp.JSONBExtract | exp.ParseJSON):
        return True
    if isinstance(node, exp.Anonymous) and (node.name.lower() in ("json", "mz_jsonb_delete_key",
                                                                    "mz_jsonb_delete_index")
                                            or node.name.lower() in _JSON_FUNCTIONS):
        return True
    if isinstance(node, exp.Sub):
        return is_json(node.this)
    return type_of(node) in _JSON_TYPES


def _as_json(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Literal) and node.is_string:
        return exp.cast(node, exp.DataType.build("JSON", dialect="duckdb"))
    return node


def _contains(haystack: exp.Expression, needle: exp.Expression) -> exp.Expression:
    return duckdb_func("mz_jsonb_contains", _as_json(haystack), _as_json(needle))


def _is_json_pair(node: exp.Expression) -> bool:
    left, right = node.this, node.expression
    return is_json(left) or is_json(right) or (
        isinstance(right, exp.Literal) and right.is_string) or (
        isinstance(left, exp.Literal) and left.is_string)


def _delete(node: exp.Sub) -> exp.Expression:
    """``jsonb - integer`` deletes an array element, ``jsonb - text`` a key or strings."""
    key = node.expression
    by_index = _literal_number(key) is not None or type_of(key) in _INT_TYPES
    fn = "mz_jsonb_delete_index" if by_index else "mz_jsonb_delete_key"
    return exp.Anonymous(this=fn, expressions=[node.this, key])


def _extract_path(node: exp.Expression) -> exp.Expression:
    """``->``/``->>``: a negative index counts from the end; an empty key is a pointer."""
    path = node.expression
    op = exp.JSONExtract if isinstance(node, exp.JSONExtract) else exp.JSONExtractScalar
    value = _literal_number(path)
    if value is not None and value < 0:
        return op(this=node.this, expression=exp.Literal.string(f"$[#-{int(-value)}]"))
    if isinstance(path, exp.JSONPath) and len(path.expressions) == 2 and \
            isinstance(path.expressions[1], exp.JSONPathKey) and path.expressions[1].this == "":
        return op(this=node.this, expression=exp.Literal.string("/"))
    return node


def _narrow_first(node: exp.Cast) -> exp.Expression | None:
    """``(j ->> 'k')::numeric``: DuckDB reads text into DECIMAL(38, s) some ten times slower than
    into DECIMAL(18, s) (a hugeint per digit), and a JSON number mostly fits the narrow type.
    ``COALESCE(TRY_CAST(x AS DECIMAL(18, s)), CAST(x AS DECIMAL(38, s)))`` is the same value:
    both casts parse and round alike, so the narrow one, when it succeeds, gives the wide one's
    value; otherwise (too wide, or not a number) the wide cast gives its value or its error."""
    to = node.to
    if to.this != exp.DataType.Type.DECIMAL or len(to.expressions) != 2:
        return None
    inner = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    if not isinstance(inner, exp.JSONExtractScalar):
        return None
    try:
        precision, scale = (int(p.this.this if isinstance(p, exp.DataTypeParam) else p.this)
                            for p in to.expressions)
    except (TypeError, ValueError):
        return None
    if precision <= 18 or scale >= 18:
        return None
    text = _extract_path(inner)
    narrow = exp.DataType.build(f"DECIMAL(18, {scale})", dialect="duckdb")
    return exp.Coalesce(this=exp.TryCast(this=text.copy(), to=narrow),
                        expressions=[exp.Cast(this=text, to=to.copy())])


def json_operators(expression: exp.Expression) -> exp.Expression:
    """``->``/``->>``, ``#>``/``#>>``, ``@>``/``<@``, ``-`` and ``?`` on jsonb; numeric casts of
    ``->>`` (see _narrow_first)."""
    def rule(node):
        if isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast):
            return _narrow_first(node) or node
        if isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):
            return _extract_path(node)
        if isinstance(node, exp.JSONBExtract | exp.JSONBExtractScalar):
            scalar = isinstance(node, exp.JSONBExtractScalar)
            pointer = _pointer(node.expression, "#>>" if scalar else "#>")
            if pointer is None:
                return exp.cast(exp.null(), "VARCHAR" if scalar else "JSON", dialect="duckdb")
            op = exp.JSONExtractScalar if scalar else exp.JSONExtract
            return op(this=node.this, expression=pointer)
        if isinstance(node, exp.ArrayContainsAll) and _is_json_pair(node):
            return _contains(node.this, node.expression)
        if isinstance(node, exp.ArrayContainedBy) and _is_json_pair(node):
            return _contains(node.expression, node.this)
        if isinstance(node, exp.Sub) and is_json(node.this):
            return _delete(node)
        if isinstance(node, exp.JSONBContainsTopKey):
            keys = exp.Case(
                ifs=[exp.If(this=exp.EQ(this=duckdb_func("json_type", node.this.copy()),
                                        expression=exp.Literal.string("ARRAY")),
                            true=duckdb_func("json_extract_string", node.this.copy(),
                                     exp.Literal.string("$[*]")))],
                default=duckdb_func("json_keys", node.this))
            return duckdb_func("list_contains", keys, node.expression)
        return node
    return transform_in_place(expression, rule)


def _set_returning(name: str, args: list[exp.Expression]) -> exp.Expression:
    if name.endswith("object_keys"):
        return exp.Unnest(expressions=[duckdb_func("json_keys", *args)])
    if name.endswith("_text"):
        return exp.Unnest(expressions=[duckdb_func("json_extract_string", args[0], exp.Literal.string("$[*]"))])
    return exp.Unnest(expressions=[exp.cast(args[0], exp.DataType.build("JSON[]", dialect="duckdb"))])


def _type_path(value: exp.Expression) -> exp.Expression:
    """``json_type(x -> 'k')`` as ``json_type(x, '$.k')`` (the type read where the document is
    parsed, and shared with other reads of it by eddy.dataflow.jsonpaths); else as it is."""
    if isinstance(value, exp.JSONExtract):
        path = value.expression
        if (isinstance(path, exp.JSONPath) or (isinstance(path, exp.Literal) and path.is_string)) \
                and "*" not in path.sql("duckdb"):
            return duckdb_func("json_type", value.this.copy(), path.copy())
    return duckdb_func("json_type", value.copy())


def _typeof_compared(case: exp.Case) -> None:
    """``jsonb_typeof(x) = 'string'`` / ``<>`` / ``IN ('string', 'null')`` compare DuckDB's type
    names: ``json_type(x) IN ('VARCHAR')``. Exact: json_type gives one of the names mapped or NULL, so
    both sides are NULL together and otherwise equal; the numeric names, which a value re-read
    from its text may trade (``-0``), always go together."""
    node, parent = case, case.parent
    while isinstance(parent, exp.Paren):
        node, parent = parent, parent.parent
    if isinstance(parent, exp.EQ | exp.NEQ) and parent.this is node:
        lits = [parent.expression]
    elif isinstance(parent, exp.EQ | exp.NEQ) and parent.expression is node:
        lits = [parent.this]
    elif isinstance(parent, exp.In) and parent.this is node and not parent.args.get("query") \
            and not parent.args.get("unnest") and not parent.args.get("field"):
        lits = list(parent.expressions)
    else:
        return
    if not lits or not all(isinstance(v, exp.Literal) and v.is_string for v in lits):
        return
    names = [k for k, v in _JSON_TYPE_NAMES.items() if any(v == lit.this for lit in lits)]
    if not names:
        return
    kind = _type_path(case.this.this)
    test = exp.In(this=kind, expressions=[exp.Literal.string(k) for k in names])
    parent.replace(exp.Not(this=exp.Paren(this=test)) if isinstance(parent, exp.NEQ) else test)


def json_functions(expression: exp.Expression) -> exp.Expression:
    """jsonb functions onto DuckDB's json extension; set-returning ones become UNNEST."""
    def rule(node):
        if not isinstance(node, exp.Anonymous):
            return node
        name = node.name.lower()
        if name in _JSON_FUNCTIONS:
            return exp.Anonymous(this=_JSON_FUNCTIONS[name], expressions=node.expressions)
        if name in ("jsonb_agg", "json_agg"):  # keeps NULL elements and ORDER BY
            return duckdb_func("to_json", exp.Anonymous(this="list", expressions=node.expressions))
        if name in ("jsonb_typeof", "json_typeof"):
            kind = duckdb_func("json_type", *node.expressions)
            case = exp.Case(this=kind, ifs=[
                exp.If(this=exp.Literal.string(k), true=exp.Literal.string(v))
                for k, v in _JSON_TYPE_NAMES.items()])
            typeofs.append(case)
            return case
        if name in _SET_RETURNING:
            column = "value" if "elements" in name else name
            unnest = _set_returning(name, node.expressions)
            holder = node.parent
            if isinstance(holder, exp.Table | exp.Lateral):
                alias = holder.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
                if not alias.columns:
                    alias.set("columns", [exp.to_identifier(column)])
                holder.set("alias", alias)
            return unnest
        return node
    # FILTER belongs to the aggregate inside: to_json(list(x) FILTER (WHERE ..))
    for filt in list(expression.find_all(exp.Filter)):
        agg = filt.this
        if isinstance(agg, exp.Anonymous) and agg.name.lower() in ("jsonb_agg", "json_agg"):
            inner = exp.Filter(this=exp.Anonymous(this="list", expressions=agg.expressions),
                               expression=filt.expression)
            filt.replace(duckdb_func("to_json", inner))
    typeofs: list[exp.Case] = []
    expression = transform_in_place(expression, rule)
    for case in typeofs:
        _typeof_compared(case)
    # A table-position UNNEST must not stay wrapped in a Table node.
    for table in list(expression.find_all(exp.Table)):
        if isinstance(table.this, exp.Unnest):
            unnest = table.this
            unnest.set("alias", table.args.get("alias"))
            table.replace(unnest)
    return expression


