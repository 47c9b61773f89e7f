"""`SELECT DISTINCT ON (key) ... ORDER BY key, ...` without aggregates, windows or LIMIT
becomes a first-row-per-key operator (eddy.dataflow.operators_first) rather than a keyed
recompute: the staging views' deduplication by event_id is this shape."""

from __future__ import annotations

from sqlglot import exp

from eddy.dataflow.operators import Node
from eddy.dataflow.operators_first import RN, WAS, FirstRow
from eddy.dataflow.runtime import W

RESERVED = {WAS, RN, W}


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
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[planner.rebind(k, colmap, "__in0") for k in keys],
        order=exp.Order(expressions=[planner.rebind(o, colmap, "__in0") for o in order]))
    rank = planner.render(window, {"__in0": schema})
    # ties keep the stored winner (no churn); appended after rendering, as the schema
    # types only the input's columns
    if not rank.rstrip().endswith(")"):
        return None
    rank = rank.rstrip()[:-1] + (", " if order else " ORDER BY ") + f"__in0.{WAS} DESC)"
    proj = [planner.render(planner.rebind(e.unalias(), colmap, "__in0"), {"__in0": schema})
            for e in sel.expressions]
    keys_text = ", ".join(k.sql("postgres") for k in keys)
    out = FirstRow(node, ksql, rank, proj, [f"_c{i}" for i in range(len(names))], keys_text)
    return out, names
