"""Gap sessions maintained by merging (the shape of eddy.sql.plan_sessions).

A keyed recompute whose output rows are a key's sessions: maximal runs of its rows whose
successive times are at most a constant gap apart, with mergeable aggregates (count, sum,
coalesce(sum, 0), min, max) among the output columns, min(t) and max(t) included.

A key whose change only inserts rows with non-NULL times takes the merge path, which never
reads the key's input rows: its stored sessions within the gap of the new rows' time range
[lo, hi] (start - gap <= hi and end + gap >= lo; the sessions between them come along) are
taken out, new rows are grouped per (key, time), and both, as elements (start, end,
aggregates), are re-grouped by the same rule (an element opens a session when its start is
more than the gap after the latest end before it); each group's aggregates merge (counts and
sums add, min and max of min and max) and the projections above the aggregate give the rows.
Sessions outside the range cannot change: the rows just outside it are more than the gap away.

Other keys (a retraction, a NULL time now or in the key's history: a NULL-time row joins the
last session or forms one of its own, which merging cannot tell) are recomputed whole, as
KeyedRecompute does. The keys with NULL-time rows are kept, with their count, in a side table.
"""

from __future__ import annotations

from eddy.dataflow import keyed_state
from eddy.dataflow.operators import Node
from eddy.dataflow.operators_keyed import KeyedRecompute
from eddy.dataflow.runtime import W, cols_sql, consolidate_sql, expand_sql, nullsafe
from eddy.storage.state import phys, q


class SessionMerge(KeyedRecompute):
    """Keyed recompute of gap sessions with an incremental merge path (module docstring).

    `tsql`: the time over an input row (alias __in); `rows_sql`: per (key, time) of __in0
    the key _k0 and the atoms __a0..; `merge_sql`: the output (_k0, _c..) over __m (_k0,
    __a0..), one row per session; `atypes`: the atoms' DuckDB types; `merges`: each atom's
    merging aggregate; `start`/`end`: the atoms min(t)/max(t), and `atom_out` the output
    column holding each atom; `gap_els`: SQL true when element start `__s` is more than the
    gap after `__p`; `gap_lo`/`gap_hi`: the same for (t.__lo, s.<end>) and (s.<start>,
    t.__hi); `gap`: the gap's constant (SQL)."""

    label = "session merge"

    def __init__(self, inputs: list[Node], keys: list[list[str]], body: str, names: list[str],
                 what: str, *, tsql: str, rows_sql: str, merge_sql: str, atypes: list[str],
                 merges: list[str], atom_out: list[str], start: int, end: int, gap_els: str,
                 gap_lo: str, gap_hi: str, gap: str):
        super().__init__(inputs, keys, body, names, what)
        self.tsql, self.rows_sql, self.merge_sql = tsql, rows_sql, merge_sql
        self.atypes, self.merges, self.atom_out = atypes, merges, atom_out
        self.start, self.end = start, end
        self.gap_els, self.gap_lo, self.gap_hi, self.gap = gap_els, gap_lo, gap_hi, gap
        self._in_types: list[str] | None = None

    @property
    def nulls(self):
        return phys(self.key + "_nulls")

    def state_tables(self):
        return [self.key, self.key + "_nulls"]

    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        child = self.children[0]
        k, t = self.keys[0][0], self.tsql
        self._in_types = keyed_state.key_types(rt.conn, child.spec(), [k])
        if fresh:
            rt.run(f"CREATE OR REPLACE TABLE {self.nulls} AS SELECT {k} AS _k0, "
                   f"sum({W})::BIGINT AS __n FROM ({child.full()}) AS __in "
                   f"WHERE ({t}) IS NULL GROUP BY 1 HAVING sum({W}) <> 0")

    def _step(self, rt):
        delta = self.children[0].step(rt)
        if delta is None:
            return None
        k, t = self.keys[0][0], self.tsql
        key = keyed_state.hash_sql(["c._k0"], keyed_state.probe_types(self._in_types,
                                                                       self.ktypes))
        cls = rt.table(
            f"SELECT c.*, {key} AS __h, c.__ok AND n.__n IS NULL AS __fast FROM ("
            f"SELECT {k} AS _k0, bool_and(__in.{W} > 0 AND ({t}) IS NOT NULL) AS __ok, "
            f"min({t}) AS __lo, max({t}) AS __hi, "
            f"sum(CASE WHEN ({t}) IS NULL THEN __in.{W} ELSE 0 END) AS __nn "
            f"FROM {delta.name} AS __in GROUP BY 1) c "
            f"LEFT JOIN {self.nulls} n ON c._k0 IS NOT DISTINCT FROM n._k0")
        slow, fast, nulls = rt.conn.execute(
            f"SELECT count(*) FILTER (NOT __fast), count(*) FILTER (__fast), "
            f"count(*) FILTER (__nn <> 0) FROM {cls.name}").fetchone()
        if nulls:
            rt.run(f"CREATE OR REPLACE TABLE {self.nulls} AS SELECT _k0, sum(__n)::BIGINT AS "
                   f"__n FROM (SELECT _k0, __n FROM {self.nulls} UNION ALL SELECT _k0, __nn "
                   f"FROM {cls.name} WHERE __nn <> 0) GROUP BY 1 HAVING sum(__n) <> 0")
        news, olds = [], []
        if slow:
            self._whole(rt, cls, news, olds)
        if fast:
            self._merge(rt, delta, cls, news, olds, every=not slow)
        self.count(delta, None)
        if not news:
            return None
        out = rt.arrow(consolidate_sql("(" + " UNION ALL ".join(
            [f"SELECT {cols_sql(self.cols)}, {W} FROM {n.name}" for n in news] +
            [f"SELECT {cols_sql(self.cols)}, -{W} FROM {o.name}" for o in olds]) + ")",
            self.cols))
        for o in olds:
            self.count(o, None)
        self.count(None, out)
        return out

    def _replace(self, rt, touched, exact: str, new_sql, news: list, olds: list,
                 near: str | None = None, distinct: bool = False, params: dict | None = None):
        """Take the stored rows of `touched` meeting `exact` (and `near`, with `params`) out,
        put those of `new_sql(old rows)` in (`distinct`: rows known distinct, not
        consolidated)."""
        old = self.sizes.lookup(rt, self.table, self.kcols + self.cols + [W], touched, exact,
                                residual=near, params=params, rowids=True)
        self.sizes.delete_found(rt, self.table, old, touched,
                                f"{exact} AND {near}" if near else exact, params)
        if not rt.profile_scans:
            rt.scanned += old.num_rows
        rows = f"(SELECT *, 1::BIGINT AS {W} FROM ({new_sql(old)}))"
        new = rt.table(f"SELECT * FROM {rows}" if distinct else
                       consolidate_sql(rows, self.kcols + self.cols))
        if new.num_rows:
            keyed_state.insert(rt, self.table, f"SELECT * FROM {new.name}", self.hash)
            self.sizes.moved(self.table, new.num_rows)
        self.rows_read += new.num_rows
        self.rows_written += new.num_rows
        news.append(new)
        olds.append(old)

    def _whole(self, rt, cls, news: list, olds: list) -> None:
        """Recompute the slow keys whole, from all their input rows."""
        child = self.children[0]
        tn = rt.table(f"SELECT _k0, __h FROM {cls.name} WHERE NOT __fast")
        cond = f"({self.keys[0][0]}) IS NOT DISTINCT FROM t._k0"
        part = child.rows_for(rt, tn, ["__in._k0"], self._in_types, cond,
                              hashed=child.types(rt.conn) == self.ktypes)
        self.rows_read += part.num_rows
        self._replace(rt, tn, nullsafe("s", "t", self.kcols),
                      lambda _old: self._eval([f"SELECT * FROM {part.name}"]), news, olds)

    def _merge(self, rt, delta, cls, news: list, olds: list, every: bool) -> None:
        """Merge the fast keys' new rows into their sessions near them (`every`: all the
        delta's keys are fast: its rows as they are, the classes as the touched keys)."""
        near = f"NOT ({self.gap_lo}) AND NOT ({self.gap_hi})"
        child = self.children[0]
        if every:
            fk, rows = cls, f"SELECT * FROM {delta.name}"
        else:
            fk = rt.table(f"SELECT _k0, __h, __lo, __hi FROM {cls.name} WHERE __fast")
            rows = (f"SELECT __in.* FROM {delta.name} AS __in SEMI JOIN {fk.name} AS __f "
                    f"ON ({self.keys[0][0]}) IS NOT DISTINCT FROM __f._k0")
        params = None
        if self.sizes.estimate(rt, self.table) >= keyed_state.BOUND_MIN_ROWS:
            # every session near a new row ends at or after the earliest new time less the
            # gap (twice the gap: a margin for calendar intervals); stored by when they were
            # last written, older sessions sit in row groups DuckDB then skips (TimeBound)
            since = rt.conn.execute(f"SELECT min(__lo) - ({self.gap}) - ({self.gap}) "
                                    f"FROM {fk.name}").fetchone()[0]
            if since is not None:
                near += f" AND s.{q(self.atom_out[self.end])} >= $__since"
                params = {"__since": since}
        atoms = [f"__a{i}" for i in range(len(self.atypes))]
        s, e = atoms[self.start], atoms[self.end]

        # weights of 1 (an insert-only batch) need no expansion
        plain = f"SELECT {cols_sql(child.cols)} FROM ({rows})" if delta.unit else \
            expand_sql(f"({rows})", child.cols)

        def sql(old) -> str:
            stored = ", ".join(f"{q(c)} AS {a}" for c, a in zip(self.atom_out, atoms, strict=True))
            merged = ", ".join(f"CAST({m}({a}) AS {ty}) AS {a}" for m, a, ty in
                               zip(self.merges, atoms, self.atypes, strict=True))
            # Both windows order the elements by (start, __o): a new element and a stored
            # session can start at the same instant, and DuckDB's two sorts may put such
            # ties in different orders; the second then counts a session start before the
            # element it belongs to, and splits one session in two (seen in the marts bench).
            # New elements are one per (key, time) and stored sessions of a key start at
            # distinct times, so (start, __o) orders a key's elements totally.
            return (f"WITH __in0 AS ({plain}), "
                    f"__el AS (SELECT _k0, {', '.join(atoms)}, 0 AS __o FROM ({self.rows_sql}) "
                    f"UNION ALL SELECT _k0, {stored}, 1 AS __o FROM {old.name}), "
                    f"__x AS (SELECT *, {s} AS __s, max({e}) OVER (PARTITION BY _k0 ORDER BY {s}, "
                    f"__o ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS __p FROM __el), "
                    f"__g AS (SELECT *, sum(CASE WHEN __p IS NULL OR ({self.gap_els}) THEN 1 "
                    f"ELSE 0 END) OVER (PARTITION BY _k0 ORDER BY __s, __o ROWS UNBOUNDED "
                    f"PRECEDING) AS __i FROM __x), "
                    f"__m AS (SELECT _k0, {merged} FROM __g GROUP BY _k0, __i) "
                    f"{self.merge_sql}")

        # a key's merged sessions start at distinct times: rows distinct, no consolidation
        # (a GROUP BY of all columns, 8 of the statement's 25 ms at 20k-event ticks)
        self._replace(rt, fk, nullsafe("s", "t", self.kcols), sql, news, olds, near,
                      distinct=True, params=params)

    def describe(self):
        key = ", ".join(" | ".join(k) for k in zip(*self.keys, strict=False))
        return (f"Session merge of {self.what} (key: {key}; inserts merge into the sessions "
                f"within the gap, other changes recompute the key; state {self.key})")
