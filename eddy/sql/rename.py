"""ALTER ... RENAME: the stored CREATE statements of dependants are rewritten to name the
object by its new name (as Materialize does), so SHOW CREATE and a replay stay valid."""

from __future__ import annotations

import re

from sqlglot import exp

from eddy.catalog.objects import CatalogObject
from eddy.sql.preparser import NAME, classify, parse_name
from eddy.storage.state import q


def _refers(parts: list[str], obj: CatalogObject, old: str) -> bool:
    """Whether a written name (1-3 parts) names `obj` under its old name."""
    if not parts or parts[-1] != old:
        return False
    if len(parts) >= 2 and parts[-2] != obj.schema:
        return False
    return not (len(parts) == 3 and parts[0] != obj.database)


def _rename_parts(text: str, obj: CatalogObject, old: str, new: str) -> str:
    parts = parse_name(text)
    if not _refers(parts, obj, old):
        return text
    head = text.rsplit(".", 1)[0] + "." if len(parts) > 1 else ""
    return head + q(new)


def _rewrite_query(query: str, obj: CatalogObject, old: str, new: str) -> str:
    from eddy.sql.resolve import cte_names, parse
    ast = parse(query)
    ctes = cte_names(ast)
    changed = False

    def fn(node):
        nonlocal changed
        if not isinstance(node, exp.Table) or not node.name:
            return node
        parts = [p for p in (node.catalog, node.db, node.name) if p]
        if len(parts) == 1 and parts[0] in ctes:
            return node
        if not _refers(parts, obj, old):
            return node
        changed = True
        out = node.copy()
        out.set("this", exp.to_identifier(new, quoted=True))
        if not out.args.get("alias"):   # column qualifiers keep using the old name
            out.set("alias", exp.TableAlias(this=exp.to_identifier(old, quoted=True)))
        return out
    ast = ast.transform(fn)
    return ast.sql("postgres") if changed else query


def rewrite_create_sql(dep: CatalogObject, obj: CatalogObject, old: str, new: str) -> str:
    """`dep`'s CREATE statement with its references to `obj` (old name) renamed."""
    text = dep.create_sql
    try:
        st = classify(text)
    except Exception:  # noqa: BLE001 - not a statement we rewrite
        return text
    if st.kind == "create_view":
        query = st.parts.get("query") or ""
        at = text.rfind(query)
        if not query or at < 0:
            return text
        return text[:at] + _rewrite_query(query, obj, old, new) + text[at + len(query):]
    word = {"create_index": "ON", "create_sink": "FROM"}.get(st.kind)
    if word is None:
        return text
    m = re.search(rf"\b{word}\s+({NAME})", text[len("CREATE"):], re.I)
    if not m:
        return text
    start, end = m.start(1) + len("CREATE"), m.end(1) + len("CREATE")
    return text[:start] + _rename_parts(text[start:end], obj, old, new) + text[end:]


def rename_in_dependants(txn, obj: CatalogObject, old: str) -> None:
    """Rewrite the stored CREATE statement of every object that depends on `obj`."""
    for dep in txn.catalog:
        if obj.id in (dep.depends_on or []) and dep.create_sql:
            text = rewrite_create_sql(dep, obj, old, obj.name)
            if text != dep.create_sql:
                dep.create_sql = text
                txn.touch(dep)
