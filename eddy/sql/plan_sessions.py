"""Recognising gap sessionization in a fused keyed chain (eddy.sql.plan_fuse).

The shape, over rows with key k and time t (levels of one chain, bottom to top):

    lag(t) over (partition by k order by t [, ...]) as prev
    case when prev is null then 1 when t - prev > C then 1 else 0 end as flag  (or `>=`,
        or one WHEN with `prev is null or t - prev > C`)
    sum(flag) over (partition by k order by t) as sn  (the same ORDER BY as lag's, or t alone
        with a RANGE frame)
    select k, <expressions of count/sum/min/max(...) and coalesce(sum(...), 0)>
        group by k, sn          (min(t) and max(t) among them)
    projections above it, where every aggregate is an output column of its own

A session is then a maximal run of a key's rows whose successive times are at most C apart
(rows at one instant never split), and its aggregates merge: the sessions near inserted rows
and those rows, re-grouped by the same gap rule, give the new sessions
(eddy.dataflow.operators_sessions). `recognize` is pure: it reads the fused body that
plan_fuse built (top items _k0, _c0.., bottom FROM __in0) and says where the parts are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

BASE = "base"
MERGE = {"count": "sum", "sum": "sum", "sum0": "sum", "min": "min", "max": "max"}


@dataclass
class Sessions:
    """Where the parts of a recognised body are (levels counted from the top, 0)."""

    agg_level: int                       # the level grouped by (k, sn)
    time_col: str                        # the base column (of __in0) that is t
    gap: exp.Expression                  # the comparison `t - prev OP C` (t and prev columns)
    gap_t: exp.Column                    # its t column
    gap_prev: exp.Column                 # its prev column
    atoms: list[tuple[str, exp.Expression]] = field(default_factory=list)  # (kind, expression)
    atom_out: list[str] = field(default_factory=list)    # the output column (_cN) of each atom
    start: int = 0                       # the atom that is min(t)
    end: int = 0                         # the atom that is max(t)
    key_col: exp.Column | None = None    # k in the grouped level's scope
    time_at: exp.Column | None = None    # t in the grouped level's scope


def _levels(body: exp.Select) -> list[exp.Select]:
    levels = [body]
    while isinstance(levels[-1].args["from_"].this, exp.Subquery):
        levels.append(levels[-1].args["from_"].this.this)
    return levels


def _items(sel: exp.Select) -> dict[str, exp.Expression]:
    return {e.alias_or_name: e.unalias() for e in sel.expressions}


def _filtered(sel: exp.Select) -> bool:
    return any(sel.args.get(k) is not None for k in ("where", "group", "having", "distinct",
                                                     "qualify"))


class _Tracer:
    def __init__(self, levels: list[exp.Select]):
        self.levels = levels

    def origin(self, i: int, name: str):
        """(level, expression) defining output column `name` of level i, or (BASE, column of
        __in0) when it passes a base column through; None when unknown."""
        while True:
            if i >= len(self.levels):
                return (BASE, name)
            e = _items(self.levels[i]).get(name)
            if e is None:
                return None
            if not isinstance(e, exp.Column):
                return (i, e)
            name, i = e.name, i + 1

    def col(self, i: int, c: exp.Expression):
        """The origin of a column referenced at level i's scope."""
        return self.origin(i + 1, c.name) if isinstance(c, exp.Column) else None

    def row_level(self, i: int, e: exp.Expression) -> bool:
        """Every column of `e` (at level i's scope) is computed from its own row only."""
        for c in e.find_all(exp.Column):
            o = self.col(i, c)
            if o is None:
                return False
            if o[0] != BASE and (o[1].find(exp.Window, exp.AggFunc) is not None or
                                 not self.row_level(o[0], o[1])):
                return False
        return True


def _is_lit(e, value: str) -> bool:
    return isinstance(e, exp.Literal) and not e.is_string and e.this == value


def _asc(o: exp.Ordered) -> bool:
    return not o.args.get("desc")


def _atom(e: exp.Expression) -> str | None:
    if isinstance(e, exp.Coalesce) and isinstance(e.this, exp.Sum) and \
            len(e.expressions) == 1 and _is_lit(e.expressions[0], "0"):
        return "sum0"
    for kind, cls in (("count", exp.Count), ("sum", exp.Sum), ("min", exp.Min),
                      ("max", exp.Max)):
        if type(e) is cls:
            return None if e.find(exp.Distinct) else kind
    return None


def _gap(case: exp.Expression, tr: _Tracer, i: int, t, prev):
    """The comparison `t - prev OP C` of a start flag CASE at level i, or None."""
    if not isinstance(case, exp.Case) or not _is_lit(case.args.get("default"), "0"):
        return None
    conds = []
    for w in case.args.get("ifs") or []:
        if not _is_lit(w.args.get("true"), "1"):
            return None
        c = w.this
        conds += [c.this, c.expression] if isinstance(c, exp.Or) else [c]
    conds = [c.unnest() if isinstance(c, exp.Paren) else c for c in conds]
    nulls = [c for c in conds if isinstance(c, exp.Is) and isinstance(c.expression, exp.Null)]
    gaps = [c for c in conds if isinstance(c, exp.GT | exp.GTE)]
    if len(nulls) != 1 or len(gaps) != 1 or len(conds) != 2:
        return None
    if tr.col(i, nulls[0].this) != prev:
        return None
    g = gaps[0]
    sub = g.this.unnest() if isinstance(g.this, exp.Paren) else g.this
    if not isinstance(sub, exp.Sub) or tr.col(i, sub.this) != t or \
            tr.col(i, sub.expression) != prev or g.expression.find(exp.Column) is not None:
        return None
    return g, sub.this, sub.expression


def recognize(body: exp.Select) -> Sessions | None:
    """The sessionization parts of a fused body (see the module docstring), or None."""
    levels = _levels(body)
    tr = _Tracer(levels)
    grouped = [i for i, s in enumerate(levels) if s.args.get("group") is not None]
    if len(grouped) != 1:
        return None
    j = grouped[0]
    agg = levels[j]
    if any(_filtered(s) or any(e.find(exp.Window, exp.AggFunc) for e in s.expressions)
           for s in levels[:j]):
        return None
    if any(agg.args.get(k) is not None for k in ("where", "having", "distinct", "qualify")):
        return None
    key = tr.origin(0, "_k0")
    group = agg.args["group"].expressions
    if key is None or len(group) != 2 or not all(isinstance(g, exp.Column) for g in group):
        return None
    gs = [tr.col(j, g) for g in group]
    if gs[0] == key:
        sn, key_col = gs[1], group[0]
    elif gs[1] == key:
        sn, key_col = gs[0], group[1]
    else:
        return None
    # sum(flag) over (partition by k order by t)
    if sn is None or sn[0] == BASE or not isinstance(sn[1], exp.Window) or \
            not isinstance(sn[1].this, exp.Sum):
        return None
    i_s, win_s = sn
    flag = tr.col(i_s, win_s.this.this)
    if flag is None or flag[0] == BASE:
        return None
    i_f, case = flag
    # the flag's prev is lag(t) over (partition by k order by t)
    prev = None
    for c in case.find_all(exp.Column):
        o = tr.col(i_f, c)
        if o is not None and o[0] != BASE and isinstance(o[1], exp.Window) and \
                isinstance(o[1].this, exp.Lag):
            prev = o
    if prev is None:
        return None
    i_l, win_l = prev
    lag = win_l.this
    if (lag.args.get("offset") is not None and not _is_lit(lag.args["offset"], "1")) or \
            lag.args.get("default") is not None:
        return None
    t = tr.col(i_l, lag.this)
    if t is None or t[0] != BASE:
        return None
    found = _gap(case, tr, i_f, t, prev)
    if found is None:
        return None
    for i, w in ((i_l, win_l), (i_s, win_s)):
        parts = w.args.get("partition_by") or []
        order = w.args.get("order")
        if len(parts) != 1 or tr.col(i, parts[0]) != key or order is None or \
                not order.expressions or tr.col(i, order.expressions[0].this) != t or \
                not _asc(order.expressions[0]):
            return None
    spec = win_s.args.get("spec")
    if spec is not None and not (str(spec.args.get("start")).upper() == "UNBOUNDED" and
                                 str(spec.args.get("end")).upper() == "CURRENT ROW"):
        return None
    lag_order = [(tr.col(i_l, o.this), _asc(o)) for o in win_l.args["order"].expressions]
    sum_order = [(tr.col(i_s, o.this), _asc(o)) for o in win_s.args["order"].expressions]
    range_on_t = len(sum_order) == 1 and (spec is None or
                                          str(spec.args.get("kind")).upper() == "RANGE")
    if not range_on_t and sum_order != lag_order:
        return None
    # no row filter between the lag and the grouping; the chain below is row by row
    if any(levels[i].args.get(k) is not None for i in range(j + 1, i_l)
           for k in ("where", "group", "having", "distinct", "qualify")) or \
            any(levels[i].args.get(k) is not None for i in range(i_l, len(levels))
                for k in ("group", "having", "distinct", "qualify")) or \
            any(e.find(exp.Window) for s in levels[i_l + 1:] for e in s.expressions):
        return None
    out = _aggregates(levels, tr, j, key, t)
    if out is None:
        return None
    atoms, atom_out, start, end = out
    g, gt, gp = found
    return Sessions(j, t[1], g, gt, gp, atoms, atom_out, start, end, key_col,
                    atoms[start][1].this)


def _exposed(levels: list[exp.Select], j: int) -> dict[str, str]:
    """Level j's columns passed plainly to an output column (_cN) of the top."""
    out = {}
    for name, e in _items(levels[0]).items():
        i = 0
        while i < j and isinstance(e, exp.Column):
            i += 1
            e = _items(levels[i]).get(e.name) if i < j else e
        if i == j and isinstance(e, exp.Column) and name.startswith("_c"):
            out.setdefault(e.name, name)
    return out


def _aggregates(levels, tr: _Tracer, j: int, key, t):
    """The aggregates of level j as mergeable atoms, each an output column of its own."""
    exposed = _exposed(levels, j)
    items = _items(levels[j])
    by_sql = {e.sql(): a for a, e in items.items()}
    atoms, atom_out, start, end = [], [], None, None
    for e in items.values():
        stack = [e]
        while stack:
            n = stack.pop()
            kind = _atom(n)
            if kind is not None:
                if n.sql() not in {a.sql() for _, a in atoms}:
                    alias = by_sql.get(n.sql())
                    if alias is None or alias not in exposed:
                        return None
                    arg = n.this.this if kind == "sum0" else n.this
                    if not isinstance(arg, exp.Star) and not tr.row_level(j, arg):
                        return None
                    if kind in ("min", "max") and isinstance(arg, exp.Column) and \
                            tr.col(j, arg) == t:
                        if kind == "min":
                            start = len(atoms)
                        else:
                            end = len(atoms)
                    atoms.append((kind, n))
                    atom_out.append(exposed[alias])
                continue
            if isinstance(n, exp.AggFunc | exp.Window):
                return None
            if isinstance(n, exp.Column):
                if tr.col(j, n) != key:
                    return None
                continue
            stack.extend(n.iter_expressions())
    if start is None or end is None:
        return None
    return atoms, atom_out, start, end


def _swap(e: exp.Expression, by_sql: dict[str, exp.Expression], key: exp.Column,
          tr: _Tracer, j: int) -> exp.Expression:
    """`e` (a level j item) with its atoms and key references replaced by __m's columns."""
    e = e.copy()
    stack = [e]
    while stack:
        n = stack.pop()
        if n.sql() in by_sql:
            new = by_sql[n.sql()].copy()
            if n is e:
                e = new
            else:
                n.replace(new)
            continue
        if isinstance(n, exp.Column) and tr.col(j, n) == tr.col(j, key):
            new = exp.column("_k0", table="__m", quoted=True)
            if n is e:
                e = new
            else:
                n.replace(new)
            continue
        stack.extend(n.iter_expressions())
    return e


def build(planner, body: exp.Select, node, ksql: str, schema: dict, names: list[str],
          what: str):
    """A SessionMerge over `node` for a fused body (plan_fuse), or None: not the shape."""
    from eddy.dataflow.operators_sessions import SessionMerge
    from eddy.dataflow.runtime import expand_sql
    from eddy.errors import EddyError
    from eddy.sql.types import from_duckdb
    from eddy.storage.state import q

    s = recognize(body)
    if s is None:
        return None
    levels = _levels(body)
    tr = _Tracer(levels)
    agg = levels[s.agg_level]
    rows = agg.copy()
    rows.set("expressions", [exp.alias_(s.key_col.copy(), "_k0", quoted=True)] + [
        exp.alias_(a.copy(), f"__a{i}", quoted=True) for i, (_, a) in enumerate(s.atoms)])
    rows.set("group", exp.Group(expressions=[s.key_col.copy(), s.time_at.copy()]))
    rows.set("order", None)

    def describe(sel: exp.Select):
        sql = planner.render(sel, {"__in0": schema})
        return sql, planner.conn.execute(
            f"DESCRIBE WITH __in0 AS ({expand_sql(f'({node.spec()})', node.cols)}) "
            f"{sql}").fetchall()

    # the atoms read no window: each window's argument in its place spares the per-tick sorts
    # (a window it cannot stand for fails to bind: then the windows stay)
    bare = rows.copy()
    for w in list(bare.find_all(exp.Window)):
        arg = w.this.this if isinstance(w.this, exp.Lag | exp.Sum) else None
        w.replace(arg.copy() if isinstance(arg, exp.Expression) else exp.Null())
    try:
        rows_sql, described = describe(bare)
    except (duckdb.Error, EddyError):
        rows_sql, described = describe(rows)
    types = {r[0]: r[1] for r in described}
    atypes = [types[f"__a{i}"] for i in range(len(s.atoms))]
    mschema = {n: from_duckdb(ty) for n, ty in types.items()}
    by_sql = {a.sql(): exp.column(f"__a{i}", table="__m", quoted=True)
              for i, (_, a) in enumerate(s.atoms)}
    top = body.copy()
    grouped = _levels(top)[s.agg_level]
    merged = exp.select(*[_swap(e, by_sql, s.key_col, tr, s.agg_level)
                          for e in agg.expressions]).from_(exp.to_table("__m"))
    if s.agg_level == 0:
        top = merged
    else:
        grouped.parent.set("this", merged)
    merge_sql = planner.render(top, {"__m": mschema})
    tty = schema[s.time_col]
    start, end = s.atom_out[s.start], s.atom_out[s.end]

    def gap(a: exp.Column, b: exp.Column, sch: dict) -> str:
        g = s.gap.copy()
        sub = g.this.unnest() if isinstance(g.this, exp.Paren) else g.this
        sub.set("this", a)
        sub.set("expression", b)
        return planner.render(g, sch)

    col = lambda n, t: exp.column(n, table=t, quoted=True)  # noqa: E731
    return SessionMerge(
        [planner.arranged(node)], [[ksql]], planner.render(body, {"__in0": schema}),
        [f"_c{i}" for i in range(len(names))], what, tsql=f"__in.{q(s.time_col)}",
        rows_sql=rows_sql, merge_sql=merge_sql, atypes=atypes,
        merges=[MERGE[k] for k, _ in s.atoms], atom_out=s.atom_out, start=s.start, end=s.end,
        gap_els=gap(col("__s", "__x"), col("__p", "__x"), {"__x": {"__s": tty, "__p": tty}}),
        gap_lo=gap(col("__lo", "t"), col(end, "s"), {"t": {"__lo": tty}, "s": {end: tty}}),
        gap_hi=gap(col(start, "s"), col("__hi", "t"), {"s": {start: tty}, "t": {"__hi": tty}}),
        gap=planner.render(s.gap.expression.copy(), {}))
