"""Memo of `dialect.to_duckdb`: translated trees by (tree, schema), and sqlglot schemas by content.

Translation is a pure function of the tree and the schema, and DDL translates the same
expressions again and again (a view's body when it is described, planned and re-planned; the
same key or filter in several operators). A tree's key is the whole tree as a flat tuple (node
classes, argument names, leaf values with their case; cheaper than printing it); trees that
already carry type annotations are not memoized, since the rules read them.
Stored trees are private copies and every hit returns a fresh copy, so callers may mutate what
they get. A schema's key is its content (table and column order included); its sqlglot
`MappingSchema` is built once per content instead of twice per translation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlglot import exp
from sqlglot.schema import MappingSchema

MAX_TREES = 2048
MAX_SCHEMAS = 64


class _Lru:
    """A bounded, thread-safe least-recently-used map."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()
        self.hits = self.misses = 0

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is None:
                self.misses += 1
                return None
            self.hits += 1
            self.items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_trees = _Lru(MAX_TREES)
_schemas = _Lru(MAX_SCHEMAS)


def schema_key(schema: dict | None) -> tuple | None:
    """Hashable content of a nested {name: {...: type}} mapping, order kept."""
    if schema is None:
        return None
    return tuple((k, schema_key(v) if isinstance(v, dict) else v) for k, v in schema.items())


def key(expression: exp.Expression, schema: dict | None) -> tuple | None:
    """Memo key of a translation, or None when the tree must be translated afresh."""
    tree = signature(expression)
    return None if tree is None else (tree, schema_key(schema))


_END = object()
_POSITIONS = frozenset({"line", "col", "start", "end"})


def signature(expression: exp.Expression) -> tuple | None:
    """The whole tree as a flat tuple (node classes, argument names, leaf values with their
    case, comments, marks in `meta`), from which the tree could be rebuilt; None if a node
    carries a type annotation."""
    out: list = []
    stack: list = [expression]
    while stack:
        node = stack.pop()
        if node is _END:
            out.append(None)
            continue
        if node._type is not None:
            return None
        out.append(node.__class__)
        if node.comments:
            out.append(tuple(node.comments))
        if node._meta:                      # the rules' own marks (not the parser's positions)
            out.extend((k, _leaf(v)) for k, v in node._meta.items() if k not in _POSITIONS)
        stack.append(_END)
        for k, v in node.args.items():
            if v is None:
                continue
            out.append(k)
            if isinstance(v, exp.Expression):
                out.append(_END)            # a child: serialized after this node's arguments
                stack.append(v)
            elif type(v) is list:
                out.append(len(v))
                for x in v:
                    if isinstance(x, exp.Expression):
                        out.append(_END)
                        stack.append(x)
                    else:
                        out.append(_leaf(x))
            else:
                out.append(_leaf(v))
    return tuple(out)


def _leaf(value):
    if value is None or type(value) is str:
        return value
    return (value.__class__, value) if isinstance(value, bool | int | float) else repr(value)


def get(memo_key: tuple) -> exp.Expression | None:
    """A fresh copy of the memoized translation, or None."""
    tree = _trees.get(memo_key)
    return None if tree is None else tree.copy()


def put(memo_key: tuple, tree: exp.Expression) -> None:
    _trees.put(memo_key, tree.copy())


def sqlglot_schema(schema: dict) -> MappingSchema:
    """sqlglot's schema object of `schema` (postgres dialect), built once per content."""
    content = schema_key(schema)
    built = _schemas.get(content)
    if built is None:
        built = MappingSchema(schema, dialect="postgres")
        _schemas.put(content, built)
    return built


def stats() -> dict[str, int]:
    """Hits and misses of the tree memo (for benchmarks and tests)."""
    return {"hits": _trees.hits, "misses": _trees.misses, "size": len(_trees.items)}
