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
from dataclasses import dataclass

from sqlglot import exp, parse_one

from eddy.dataflow.runtime import W
from eddy.storage.state import q

PREFIX = "__jp"
CARRY = "__jc"     # the columns a shared filter's rows carry (eddy.dataflow.operators.Map)
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


def _reads(tree: exp.Expression, alias: str):
    """The extractions with a literal path (no wildcard) from a column of `alias` in `tree`
    that no other extraction contains."""
    for n in tree.find_all(*KINDS):
        col, path = n.this, _path(n)
        if not (isinstance(col, exp.Column) and col.table == alias) or path is None \
                or "*" in path or n.find_ancestor(exp.JSONExtract, exp.JSONExtractScalar):
            continue
        yield n, col.name, path


@dataclass(frozen=True)
class Carried:
    """A shared filter's extractions (see `carried`)."""

    items: tuple[str, ...]       # `<call> AS <name>` computed below the filter
    unpacked: tuple[str, ...]    # `<name>[i] AS <name>_i`, above them: elements read twice
    names: tuple[str, ...]       # the columns the kept rows carry
    where: str                   # the filter reading them
    # (column, kind) -> (name, paths) of the carried values
    values: tuple[tuple[tuple[str, type], tuple[str, tuple[str, ...]]], ...]


@functools.lru_cache(maxsize=1024)
def carried(where: str, alias: str = "__in") -> Carried | None:
    """What a filter that several maps apply to the same rows (a topic's contract check, in its
    staging view and in stg_expired_events) extracts once for all of them: per column and
    function it calls, one call over every path it reads from that column; None when it
    extracts nothing. The kept rows carry the values (`->>`, `->`; not the types, which
    projections seldom read and which cost as much to carry as to parse again), and a
    projection of the same paths (the staging view's typed columns, an event's time) reads
    them (`reuse`) instead of parsing each document again: 2 parses per row instead of 4.
    Carrying the values costs most of what the staging projection's parse did (DuckDB parses
    a click event in ~0.45 us, about what writing its 9 strings to a temp table costs);
    stg_* filter and projection statements of a replayed 20k-event tick: 85.8 -> 80.4 ms.
    A json_transform struct would read cheaper, but casts a JSON double to text otherwise
    than json_extract_string (1e-05 for 0.00001)."""
    try:
        tree = parse_one(where, read="duckdb")
    except Exception:  # noqa: BLE001 - an expression sqlglot cannot read stays as it is
        return None
    reads = list(_reads(tree, alias))
    if not reads:
        return None
    paths: dict[str, list[str]] = {}
    for _n, col, path in reads:
        if path not in paths.setdefault(col, []):
            paths[col].append(path)
    made: dict[tuple[str, type], tuple[str, tuple[str, ...]]] = {}
    items = []
    for n, col, _ in reads:
        if (col, type(n)) not in made:
            name = f"{PREFIX if type(n) is exp.JSONType else CARRY}{len(made)}"
            made[col, type(n)] = (name, tuple(paths[col]))
            items.append(f"{FUNCTIONS[type(n)]}({alias}.{q(col)}, [{', '.join(paths[col])}]) "
                         f"AS {name}")
    uses: dict[tuple[str, str], int] = {}
    for n, col, path in reads:
        key = (made[col, type(n)][0], path)
        uses[key] = uses.get(key, 0) + 1
    unpacked: dict[str, str] = {}
    for n, col, path in reads:
        name, ps = made[col, type(n)]
        new = _element(made[col, type(n)], path, alias)
        if uses[name, path] > 1:
            # an element the filter reads several times (the event time, by the calendar
            # check: 10 times) taken out of its list once: stg_clicks' filter 24 -> 22 ms
            single = f"{name}_{ps.index(path) + 1}"
            unpacked.setdefault(single, f"{new.sql('duckdb')} AS {single}")
            new = exp.column(single, table=alias, quoted=True)
        tree = new if n is tree else tree
        n.replace(new)
    values = tuple((k, v) for k, v in made.items() if k[1] is not exp.JSONType)
    names = tuple(name for name, _ in dict(values).values())
    return Carried(tuple(items), tuple(unpacked.values()), names, tree.sql("duckdb"), values)


def _element(made: tuple[str, tuple[str, ...]], path: str, alias: str) -> exp.Expression:
    """The value of `path` in a carried list (1-based, as share() writes them)."""
    name, paths = made
    return exp.Bracket(this=exp.column(name, table=alias, quoted=True),
                       expressions=[exp.Literal.number(paths.index(path) + 1)], offset=1)


def filter_rows(rel: str, cols: tuple[str, ...], where: str, alias: str = "__in") -> str:
    """SQL of the rows of `rel` (columns `cols` and the weight) that meet `where`, carrying
    the values the filter extracts (`carried`) as extra columns."""
    got = carried(where, alias)
    keep = "".join(f"{alias}.{q(c)} AS {q(c)}, " for c in cols)
    if got is None:
        return f"SELECT {keep}{alias}.{W} FROM ({rel}) AS {alias} WHERE {where}"
    names = "".join(f"{alias}.{n}, " for n in got.names)
    rows = f"SELECT *, {', '.join(got.items)} FROM ({rel}) AS {alias}"
    if got.unpacked:
        rows = f"SELECT *, {', '.join(got.unpacked)} FROM ({rows}) AS {alias}"
    return f"SELECT {keep}{names}{alias}.{W} FROM ({rows}) AS {alias} WHERE {got.where}"


@functools.lru_cache(maxsize=4096)
def columns_read(exprs: tuple[str, ...], cols: tuple[str, ...]) -> frozenset[str]:
    """The columns among `cols` that `exprs` read (all of them when one cannot be parsed or
    reads `*`)."""
    out: set[str] = set()
    for e in exprs:
        try:
            tree = parse_one(e, read="duckdb")
        except Exception:  # noqa: BLE001 - unknown: it may read any
            return frozenset(cols)
        if tree.find(exp.Star) is not None:
            return frozenset(cols)
        out |= {c.name for c in tree.find_all(exp.Column) if c.name in cols}
    return frozenset(out)


@functools.lru_cache(maxsize=4096)
def reuse(exprs: tuple[str, ...], where: str, alias: str = "__in") -> tuple[str, ...]:
    """`exprs` over the rows `filter_rows` kept: a value the filter carries is read from its
    column (the same function over the same path and document: the same value)."""
    got = carried(where, alias)
    if got is None:
        return exprs
    index = dict(got.values)
    out = []
    for e in exprs:
        try:
            tree = parse_one(e, read="duckdb")
        except Exception:  # noqa: BLE001
            out.append(e)
            continue
        hits = [(n, index[col, type(n)], path) for n, col, path in _reads(tree, alias)
                if (col, type(n)) in index and path in index[col, type(n)][1]]
        for n, made, path in hits:
            new = _element(made, path, alias)
            tree = new if n is tree else tree
            n.replace(new)
        out.append(tree.sql("duckdb") if hits else e)
    return tuple(out)
