"""`SELECT DISTINCT ON (key) ... ORDER BY key, ...` without aggregates, windows or LIMIT
becomes a first-row-per-key operator (eddy.dataflow.operators_first) rather than a keyed
recompute: the staging views' deduplication by event_id is this shape."""

from __future__ import annotations

from sqlglot import exp

from eddy.dataflow.operators import Node
from eddy.dataflow.operators_first import RN, UNTIL, WAS, FirstRow
from eddy.dataflow.runtime import W
from eddy.dataflow.temporal import TemporalFilter

RESERVED = {WAS, RN, W, UNTIL}


def _ordinal(e: exp.Expression) -> bool:
    return isinstance(e, exp.Literal) and not e.is_string


def plan_first_row(planner, sel: exp.Select, node: Node, colmap: dict,
                   names: list[str]) -> tuple[Node, list[str]] | None:
    """(node, names) of the operator, or None when the query is not that shape (the caller
    then plans a keyed recompute). `sel` has its output aliases resolved; `node` is its
    input (FROM, joins and WHERE applied) with `colmap` mapping (alias, column) to it."""
    distinct = sel.args.get("distinct")
    on = distinct.args.get("on") if distinct is not None else None
    if on is None or sel.args.get("group") or sel.args.get("having") or \
            sel.args.get("limit") or sel.args.get("offset"):
        return None
    if any(e.find(exp.AggFunc, exp.Window) for e in sel.expressions):
        return None
    keys = list(on.expressions)
    order = list(sel.args["order"].expressions) if sel.args.get("order") else []
    if not keys or any(_ordinal(k) for k in keys) or \
            any(_ordinal(o.this) for o in order) or \
            any(c in RESERVED or c.startswith("__k") for c in node.cols):
        return None
    schema = planner.types(node)
    ksql = [planner.render(planner.rebind(k, colmap), {"__in": schema}) for k in keys]
    window = exp.Window(this=exp.RowNumber(), order=exp.Order(
        expressions=[planner.rebind(o, colmap, "__in0") for o in order])) if order else None
    rendered = planner.render(window, {"__in0": schema}).strip() if order else ""
    prefix = "ROW_NUMBER() OVER (ORDER BY "
    if order and not (rendered.startswith(prefix) and rendered.endswith(")")):
        return None
    # The rank is 1 for the first row of a key, 2 for the others: one sort by the key
    # columns (__k0.. of the pool), the query's ORDER BY, then the stored winner first (ties
    # keep it: no churn); a key's first row is the first row or one whose previous row has
    # another key. A PARTITION BY window costs ~1.7 ms even over 150 rows (DuckDB 1.4,
    # one thread), this one 0.7 ms.
    kcols = [f'__in0."__k{i}"' for i in range(len(keys))]
    items = kcols + ([rendered[len(prefix):-1]] if order else []) + [f"__in0.{WAS} DESC"]
    over = f"OVER (ORDER BY {', '.join(items)})"
    changed = " OR ".join(f"(lag({k}) {over}) IS DISTINCT FROM {k}" for k in kcols)
    rank = f"CASE WHEN ROW_NUMBER() {over} = 1 OR {changed} THEN 1 ELSE 2 END"
    proj = [planner.render(planner.rebind(e.unalias(), colmap, "__in0"), {"__in0": schema})
            for e in sel.expressions]
    keys_text = ", ".join(k.sql("postgres") for k in keys)
    untils = None
    if isinstance(node, TemporalFilter) and not node.froms and node.untils:
        # a retention window right below: kept by the first-row state itself (its rows and
        # bounds are the same), so the filter's copy of every row is not stored
        node, untils = node.children[0], node.untils
    out = FirstRow(node, ksql, rank, proj, [f"_c{i}" for i in range(len(names))], keys_text,
                   untils)
    return out, names
