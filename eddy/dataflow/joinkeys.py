"""The equi-join key of a join condition: the `left.col = right.col` conjuncts of its ON."""

from __future__ import annotations

from sqlglot import exp, parse_one

from eddy.storage.state import q


def equi_keys(on: str, left: str, right: str, alias: str) -> tuple[list[str], list[str]]:
    """Column pairs compared with `=` or IS NOT DISTINCT FROM between the two aliases in the top-level conjuncts of
    `on` (DuckDB SQL), as SQL over `alias`: ([left keys], [right keys]); empty when none.
    Other conjuncts (ranges, expressions) stay a residual of the ON condition."""
    try:
        tree = parse_one(on, read="duckdb")
    except Exception:  # noqa: BLE001 - an unparsable condition just has no index key
        return [], []
    lk, rk = [], []
    tree = tree.unnest()
    for c in tree.flatten() if isinstance(tree, exp.And) else [tree]:
        c = c.unnest()
        if not isinstance(c, exp.EQ | exp.NullSafeEQ):
            continue
        a, b = c.this, c.expression
        if not (isinstance(a, exp.Column) and isinstance(b, exp.Column)):
            continue
        if a.table == right and b.table == left:
            a, b = b, a
        if a.table == left and b.table == right:
            lk.append(f"{alias}.{q(a.name)}")
            rk.append(f"{alias}.{q(b.name)}")
    return lk, rk
