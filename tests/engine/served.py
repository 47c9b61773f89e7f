"""Helpers of the served-output tests: how a view's output is stored, and the state an
earlier build left (its output kept in a table)."""

from __future__ import annotations

from unittest import mock

from eddy.dataflow import runtime


def relation_kind(engine, name: str) -> str:
    """'VIEW' when the view is served from its root's state, 'BASE TABLE' for an output table."""
    oid = next(o.id for o in engine.catalog if o.name == name)
    return engine.state.conn.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = '_eddy' "
        "AND table_name = ?", [oid]).fetchone()[0]


def as_earlier_build(engine, name: str) -> None:
    """Replace a served view's DuckDB view by an output table of the same rows (with the key
    hash column), as a build that kept output tables left it."""
    oid = next(o.id for o in engine.catalog if o.name == name)
    conn = engine.state.conn
    conn.execute(f'CREATE TABLE "_eddy"."{oid}_copy" AS SELECT *, 0::UBIGINT AS __h '
                 f'FROM "_eddy"."{oid}"')
    conn.execute(f'DROP VIEW "_eddy"."{oid}"')
    conn.execute(f'ALTER TABLE "_eddy"."{oid}_copy" RENAME TO "{oid}"')


def tick_statements(session, sql: str) -> list[str]:
    """The SQL statements of the tick that applies `sql` (run on `session`)."""
    seen: list[str] = []

    class Spy:
        def __init__(self, conn):
            self._conn = conn

        def execute(self, text, *a, **k):
            seen.append(text)
            return self._conn.execute(text, *a, **k)

        def __getattr__(self, name):
            return getattr(self._conn, name)

    init = runtime.TickContext.__init__
    with mock.patch.object(runtime.TickContext, "__init__",
                           lambda rt, conn, now, prev: init(rt, Spy(conn), now, prev)):
        session.execute(sql)
    return seen
