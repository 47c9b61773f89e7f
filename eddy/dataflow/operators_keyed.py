"""Recomputing operators: keyed recompute (only the keys a delta touches) and the
recompute-and-diff fallback for shapes without an incremental rule."""

from __future__ import annotations

from eddy.dataflow.operators import Node, arranged
from eddy.dataflow.runtime import W, cols_sql, consolidate_sql, expand_sql, nullsafe
from eddy.storage.state import phys, q


class KeyedRecompute(Node):
    """Output for a key depends only on input rows with that key: on a delta, retract the old
    output of the touched keys and recompute the body over the inputs restricted to them.

    `body` is DuckDB SQL reading CTEs __in0, __in1, ... (plain multiset rows of the inputs)
    and returning the key columns _k0.. followed by the output columns. With no key the whole
    body is recomputed (still correct, not incremental)."""

    label = "keyed recompute"
    stateful = True

    def __init__(self, inputs: list[Node], keys: list[list[str]], body: str, names: list[str],
                 what: str):
        super().__init__([arranged(i) for i in inputs], names)
        self.keys, self.body, self.what = keys, body, what
        self.kcols = [f"_k{i}" for i in range(len(keys[0]) if keys else 0)]

    @property
    def table(self):
        return phys(self.key)

    def state_tables(self):
        return [self.key]

    def _eval(self, rels: list[str]) -> str:
        ctes = ", ".join(f"__in{i} AS ({expand_sql(f'({r})', c.cols)})"
                         for i, (r, c) in enumerate(zip(rels, self.children, strict=False)))
        return f"WITH {ctes} {self.body}"

    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        if fresh:
            rels = [c.full() for c in self.children]
            body = f"SELECT *, 1::BIGINT AS {W} FROM ({self._eval(rels)})"
            rt.run(f"CREATE OR REPLACE TABLE {self.table} AS "
                   + consolidate_sql(f"({body})", self.kcols + self.cols))

    def full(self):
        return f"SELECT {cols_sql(self.cols)}, {W} FROM {self.table}"

    def spec(self):
        body = self._eval([c.spec() for c in self.children])
        return f"SELECT {cols_sql(self.cols)}, 1::BIGINT AS {W} FROM ({body})"

    def _step(self, rt):
        deltas = [c.step(rt) for c in self.children]
        if all(d is None for d in deltas):
            return None
        if not self.kcols:
            rels = [c.full() for c in self.children]
            _old_where, tn = "TRUE", None
        else:
            touched = " UNION ".join(
                f"SELECT {', '.join(f'{k} AS {q(n)}' for k, n in zip(keys, self.kcols, strict=False))} "
                f"FROM {rt.reg(d)} AS __in"
                for d, keys in zip(deltas, self.keys, strict=False) if d is not None)
            tn = rt.reg(rt.table(touched))
            rels = []
            for child, keys in zip(self.children, self.keys, strict=False):
                cond = " AND ".join(f"({k}) IS NOT DISTINCT FROM t.{q(n)}"
                                    for k, n in zip(keys, self.kcols, strict=False))
                part = rt.table(f"SELECT __in.* FROM ({child.full()}) AS __in SEMI JOIN {tn} t "
                                f"ON {cond}")
                self.rows_read += part.num_rows     # the touched keys' input rows, re-read
                rels.append(f"SELECT * FROM {part.name}")
        new = rt.table(consolidate_sql(f"(SELECT *, 1::BIGINT AS {W} FROM ({self._eval(rels)}))",
                                       self.kcols + self.cols))
        if tn is None:
            old = rt.table(f"SELECT * FROM {self.table}")
            rt.run(f"DELETE FROM {self.table}")
        else:
            old = rt.table(f"SELECT o.* FROM {self.table} o SEMI JOIN {tn} t "
                           f"ON {nullsafe('o', 't', self.kcols)}")
            rt.run(f"DELETE FROM {self.table} o USING {tn} t "
                   f"WHERE {nullsafe('o', 't', self.kcols)}")
        nn, on = rt.reg(new), rt.reg(old)
        if new.num_rows:
            rt.run(f"INSERT INTO {self.table} SELECT * FROM {nn}")
        out = rt.arrow(consolidate_sql(
            f"(SELECT {cols_sql(self.cols)}, {W} FROM {nn} UNION ALL "
            f"SELECT {cols_sql(self.cols)}, -{W} FROM {on})", self.cols))
        for d in deltas:
            self.count(d, None)
        self.count(old, out)
        self.rows_read += new.num_rows
        self.rows_written += new.num_rows
        return out

    def describe(self):
        key = ", ".join(" | ".join(k) for k in zip(*self.keys, strict=False)) if self.kcols else \
            "none: whole input"
        return f"Keyed recompute of {self.what} (key: {key}; state {self.key})"


class FullRecompute(Node):
    """Fallback without an incremental rule: on any input change, run the whole query again
    and emit the difference to the stored output. Correct, but costs the full query."""

    label = "recompute"
    stateful = True

    def __init__(self, query: str, input_ids: list[str], names: list[str], temporal: bool,
                 reason: str):
        super().__init__([], names)
        self.query, self.input_ids, self.temporal, self.reason = query, input_ids, temporal, reason

    @property
    def table(self):
        return phys(self.key)

    def state_tables(self):
        return [self.key]

    def _new(self) -> str:
        return consolidate_sql(f"(SELECT *, 1::BIGINT AS {W} FROM ({self.query}))", self.cols)

    def setup(self, rt, fresh):
        if fresh:
            rt.run(f"CREATE OR REPLACE TABLE {self.table} AS {self._new()}")

    def full(self):
        return f"SELECT * FROM {self.table}"

    def spec(self):
        return f"SELECT *, 1::BIGINT AS {W} FROM ({self.query})"

    def _step(self, rt):
        if not self.temporal and not any(i in rt.deltas for i in self.input_ids):
            return None
        new = rt.table(self._new())
        nn = rt.reg(new)
        out = rt.arrow(consolidate_sql(
            f"(SELECT * FROM {nn} UNION ALL SELECT {cols_sql(self.cols)}, -{W} FROM {self.table})",
            self.cols))
        rt.run(f"DELETE FROM {self.table}")
        rt.run(f"INSERT INTO {self.table} SELECT * FROM {nn}")
        self.count(new, out)
        return out

    def next_event(self):
        return 0 if self.temporal else None

    def describe(self):
        return f"Recompute and diff (NOT incremental: {self.reason}; state {self.key})"
