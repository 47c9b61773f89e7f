"""`current_setting(name [, missing_ok])`: the session's variables, as PostgreSQL reads them.

Clients ask for settings in catalog queries (SQLAlchemy's table reflection reads
`current_setting('default_table_access_method')`); DuckDB's own `current_setting` knows only
DuckDB's settings. A literal name becomes its value (an unknown one is PostgreSQL's error
unless `missing_ok`); a name given as a parameter becomes a CASE over the session's settings.
"""

from __future__ import annotations

from sqlglot import exp

from eddy.errors import EddyError

# PostgreSQL settings clients read that are not session variables here
EXTRA = {"default_table_access_method": "heap", "server_encoding": "UTF8", "lc_collate": "C",
         "lc_ctype": "C", "block_size": "8192", "max_connections": "1000",
         "default_transaction_isolation": "serializable", "default_transaction_read_only": "off"}


def _text(value: str | None) -> exp.Expression:
    lit = exp.Null() if value is None else exp.Literal.string(value)
    return exp.cast(lit, exp.DataType.build("text"))


def _setting(node: exp.Anonymous, settings: dict[str, str]) -> exp.Expression:
    args = node.expressions
    name = args[0]
    missing_ok = len(args) > 1 and isinstance(args[1], exp.Boolean) and args[1].this
    if isinstance(name, exp.Literal) and name.is_string:
        value = settings.get(name.this.lower())
        if value is None and not missing_ok:
            raise EddyError("42704", f'unrecognized configuration parameter "{name.this}"')
        return _text(value)
    ifs = [exp.If(this=exp.Literal.string(k), true=exp.Literal.string(v))
           for k, v in sorted(settings.items())]
    return exp.Case(this=exp.Lower(this=name.copy()), ifs=ifs, default=_text(None))


def inline_current_setting(ast: exp.Expression, session_vars: dict[str, str]) -> exp.Expression:
    """`ast` with every current_setting(...) call replaced by the setting's value."""
    calls = [n for n in ast.find_all(exp.Anonymous)
             if n.name.lower() == "current_setting" and n.expressions]
    if not calls:
        return ast
    settings = {**EXTRA, **{k.lower(): str(v) for k, v in session_vars.items()}}
    for call in calls:
        target = call.parent if isinstance(call.parent, exp.Dot) and \
            call.parent.expression is call else call
        replacement = _setting(call, settings)
        if isinstance(target.parent, exp.Select) and target.arg_key == "expressions":
            replacement = exp.alias_(replacement, "current_setting")   # PostgreSQL's name
        if target is ast:
            return replacement
        target.replace(replacement)
    return ast
