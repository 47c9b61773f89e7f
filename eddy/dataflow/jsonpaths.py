"""One JSON parse per row, column and function in a map: `col -> 'path'`, `col ->> 'path'` and
`json_type(col, 'path')` with literal paths become elements of `json_extract(col, [paths])`,
`json_extract_string(col, [paths])` and `json_type(col, [paths])`, computed once per row below
the map (eddy.sql.dialect_json reads `jsonb_typeof(col -> 'k') = 'string'` as the latter).

DuckDB parses a JSON document again for every extraction: the staging contract checks of the
dbt project extract some 30 fields of each event, which cost ~100 µs per row; the multi-path
forms parse it once (measured 4-6x less CPU for the staging filter). The list forms are the
same functions, so every element equals the single-path result.
"""

from __future__ import annotations

import functools

from sqlglot import exp, parse_one

PREFIX = "__jp"
KINDS = (exp.JSONExtract, exp.JSONExtractScalar, exp.JSONType)
FUNCTIONS = {exp.JSONExtract: "json_extract", exp.JSONExtractScalar: "json_extract_string",
             exp.JSONType: "json_type"}


def _path(node: exp.Expression) -> str | None:
    """The literal path of an extraction (DuckDB SQL), None when it is not a literal."""
    p = node.expression
    if p is None:
        return None
    if isinstance(p, exp.JSONPath) or (isinstance(p, exp.Literal) and p.is_string):
        return p.sql("duckdb")
    return None


@functools.lru_cache(maxsize=4096)
def share(exprs: tuple[str, ...], where: str | None, alias: str = "__in"
          ) -> tuple[tuple[str, ...], tuple[str, ...], str | None] | None:
    """Extractions over columns of `alias` in `exprs` and `where` (DuckDB SQL) shared:
    (the list items to compute below, as `<sql> AS <name>`, the rewritten exprs, where), or
    None when no column is extracted from twice (nothing to gain)."""
    try:
        trees = [parse_one(e, read="duckdb") for e in exprs]
        wtree = parse_one(where, read="duckdb") if where else None
    except Exception:  # noqa: BLE001 - an expression sqlglot cannot read stays as it is
        return None
    found: dict[tuple[str, type], list[str]] = {}
    nodes = []
    for tree in [*trees, wtree]:
        if tree is None:
            continue
        for n in tree.find_all(*KINDS):
            col = n.this
            if not (isinstance(col, exp.Column) and col.table == alias) or _path(n) is None:
                continue
            if n.find_ancestor(exp.JSONExtract, exp.JSONExtractScalar) is not None:
                continue
            paths = found.setdefault((col.name, type(n)), [])
            if _path(n) not in paths:
                paths.append(_path(n))
            nodes.append(n)
    counts: dict[str, int] = {}
    for n in nodes:
        counts[n.this.name] = counts.get(n.this.name, 0) + 1
    if not any(c > 1 for c in counts.values()):
        return None
    names = {key: f"{PREFIX}{i}" for i, key in enumerate(found)}
    touched = {id(n.root()) for n in nodes if counts[n.this.name] > 1}
    for n in nodes:
        if counts[n.this.name] < 2:
            continue
        key = (n.this.name, type(n))
        i = found[key].index(_path(n)) + 1
        new = exp.Bracket(this=exp.column(names[key], table=alias, quoted=True),
                          expressions=[exp.Literal.number(i)], offset=1)   # 1-based as given
        if n is wtree:
            wtree = new
            touched.add(id(new))
        if any(t is n for t in trees):
            trees = [new if t is n else t for t in trees]
            touched.add(id(new))
        n.replace(new)
    items = []
    for (col, kind), name in names.items():
        if counts[col] < 2:
            continue
        fn = FUNCTIONS[kind]
        col_sql = exp.column(col, table=alias, quoted=True).sql("duckdb")
        items.append(f"{fn}({col_sql}, [{', '.join(found[col, kind])}]) AS {name}")
    out = tuple(t.sql("duckdb") if id(t) in touched else e
                for t, e in zip(trees, exprs, strict=True))
    if wtree is not None and id(wtree) in touched:
        where = wtree.sql("duckdb")
    return tuple(items), out, where


@functools.lru_cache(maxsize=4096)
def renames(exprs: tuple[str, ...], names: tuple[str, ...], alias: str = "__in"
            ) -> tuple[tuple[str, str], ...] | None:
    """((output name, input column), ...) when every expression is a plain column of
    `alias` (a map that only filters and renames), else None."""
    out = []
    for e, n in zip(exprs, names, strict=True):
        try:
            tree = parse_one(e, read="duckdb")
        except Exception:  # noqa: BLE001 - not a plain column then
            return None
        if not (isinstance(tree, exp.Column) and tree.table == alias) or \
                isinstance(tree.this, exp.Star):
            return None
        out.append((n, tree.name))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def renamed(exprs: tuple[str, ...], pairs: tuple[tuple[str, str], ...], alias: str = "__in"
            ) -> tuple[str, ...] | None:
    """The expressions with each column of `alias` renamed by `pairs` (name, new name);
    None when one cannot be read or names a column not in `pairs`."""
    names = dict(pairs)
    out = []
    for e in exprs:
        try:
            tree = parse_one(e, read="duckdb")
        except Exception:  # noqa: BLE001
            return None
        cols = [c for c in tree.find_all(exp.Column) if c.table == alias]
        if any(isinstance(c.this, exp.Star) or c.name not in names for c in cols):
            return None
        if all(names[c.name] == c.name for c in cols):
            out.append(e)          # nothing renamed: the text as it was
            continue
        tree = tree.transform(lambda n: exp.column(names[n.name], table=alias, quoted=True)
                              if isinstance(n, exp.Column) and n.table == alias else n)
        out.append(tree.sql("duckdb"))
    return tuple(out)
