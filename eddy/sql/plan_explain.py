"""EXPLAIN text of an operator tree: each node once; a node that feeds several parents (a CTE
or view read twice, the input of count(DISTINCT) and min/max branches) is printed at its first
place and referred to by its state name elsewhere."""

from __future__ import annotations

from eddy.dataflow.operators import Node


def explain_lines(root: Node) -> list[str]:
    parents: dict[int, int] = {}
    for node in root.walk():
        for child in node.children:
            parents[id(child)] = parents.get(id(child), 0) + 1
    lines: list[str] = []
    seen: set[int] = set()

    def visit(node: Node, depth: int) -> None:
        pad = "  " * depth
        if id(node) in seen:
            lines.append(f"{pad}(shared) {node.describe()}: see above")
            return
        seen.add(id(node))
        shared = f"[shared by {parents[id(node)]}] " if parents.get(id(node), 0) > 1 else ""
        lines.append(f"{pad}{shared}{node.describe()}")
        for child in node.children:
            visit(child, depth + 1)
    visit(root, 0)
    return lines
