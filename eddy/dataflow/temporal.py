"""Temporal filters: rows valid for [from, until) in mz_now() time become scheduled
insertions and retractions released as ticks advance; expired rows leave the state."""

from __future__ import annotations

from eddy.dataflow.operators import Map, Node
from eddy.dataflow.runtime import Rel, W, cols_sql
from eddy.storage.state import phys

MIN, MAX = -(2 ** 62), 2 ** 62  # sentinels: never / always valid


def until_sql(untils: list[str]) -> str:
    """The end of a row's validity (epoch ms, exclusive) from `until` bounds (SQL over __in): the
    earliest; a NULL bound ends it before any time."""
    u = [f"coalesce(({e})::BIGINT, {MIN})" for e in untils] or [f"({MAX})"]
    return f"least({', '.join(u)})" if len(u) > 1 else u[0]


def input_sql(child: Node, rt) -> tuple[str | None, Rel | None]:
    """SQL of a child's delta this tick (a map is fused into it rather than run into a table
    of its own) and the delta it reads (None, None: no change)."""
    if isinstance(child, Map):
        return child.delta_sql(rt)
    delta = child.step(rt)
    return (None, None) if delta is None else (f"SELECT * FROM {rt.reg(delta)}", delta)


class TemporalFilter(Node):
    """`froms`/`untils`: DuckDB SQL over __in giving epoch-ms bounds (from inclusive,
    until exclusive); a NULL bound makes the row never valid, as the comparison is NULL."""

    label = "temporal filter"
    stateful = True

    def __init__(self, child: Node, froms: list[str], untils: list[str]):
        super().__init__([child], list(child.cols))
        self.froms, self.untils = froms, untils
        self.now = 0
        self._next: int | None = None
        # Set by the dataflow when no consumer reads this node's whole output after setup (only
        # deltas): then a row valid from some time on and never retracted (no `until`) leaves the
        # state once released. Without it `mz_now() > t + interval` kept every row it ever
        # released, and state grew with every expired event.
        self.forget_released = False
        self._pruned = False

    @property
    def table(self):
        return phys(self.key)

    def state_tables(self):
        return [self.key]

    def _bounded(self, rel: str) -> str:
        f = [f"coalesce(({e})::BIGINT, {MAX})" for e in self.froms] or [f"({MIN})"]
        fe = f"greatest({', '.join(f)})" if len(f) > 1 else f[0]
        ue = until_sql(self.untils)
        return (f"SELECT {cols_sql(self.cols, '__in')}, __in.{W}, {fe}::BIGINT AS __from, "
                f"{ue}::BIGINT AS __until FROM ({rel}) AS __in")

    @staticmethod
    def _valid(t: int) -> str:
        return f"(__from <= {int(t)} AND {int(t)} < __until)"

    def _refresh_next(self, rt) -> None:
        now = int(self.now)
        row = rt.conn.execute(
            f"SELECT min(CASE WHEN __from > {now} THEN __from END), "
            f"min(CASE WHEN __until > {now} THEN __until END) FROM {self.table}").fetchone()
        times = [t for t in row if t is not None]
        self._next = min(times) if times else None

    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        self.now = rt.now
        if fresh:
            rt.create_state(self.table, f"SELECT * FROM ({self._bounded(self.children[0].full())}) "
                                        f"WHERE __until > {int(rt.now)} AND __from < __until")
        self._refresh_next(rt)

    def full(self):
        if self._pruned:
            raise RuntimeError("temporal filter: its released rows were forgotten, so its whole "
                               "output is no longer stored (a consumer that reads it must keep "
                               "forget_released off)")
        return f"SELECT {cols_sql(self.cols)}, {W} FROM {self.table} WHERE {self._valid(self.now)}"

    def spec(self):
        return (f"SELECT {cols_sql(self.cols)}, {W} FROM ({self._bounded(self.children[0].spec())}) "
                f"WHERE {self._valid(self.now)}")

    def next_event(self):
        return self._next

    def _step(self, rt):
        sql, delta = input_sql(self.children[0], rt)
        prev, now = self.now, rt.now
        parts = []
        due = self._next is not None and now >= self._next and now > prev
        if sql is None and not due:
            self.now = now
            return None
        if due:
            parts.append(
                f"SELECT {cols_sql(self.cols)}, ({W} * ({self._valid(now)}::BIGINT - "
                f"{self._valid(prev)}::BIGINT))::BIGINT AS {W} FROM {self.table} "
                f"WHERE (__from > {prev} AND __from <= {now}) OR "
                f"(__until > {prev} AND __until <= {now})")
        if not self.froms:
            return self._step_window(rt, sql, delta, parts, now, due)
        dn = stats = None
        if sql is not None:
            quiet = not due and self._scheduled()
            stored = quiet and self._stored_later(rt, sql, now)
            dn_rel = None if stored else rt.table(self._bounded(sql))
            if stored or (quiet and not dn_rel.num_rows):
                self.now = now
                self.count(delta, None)
                return None
            dn = dn_rel.name
            # the next event among the rows kept, and whether any is valid now (none, e.g.,
            # when counting expired events: then no statement reads them out)
            stats = rt.conn.execute(
                f"SELECT min(CASE WHEN __from > {int(now)} THEN __from END), "
                f"min(CASE WHEN __until > {int(now)} THEN __until END), "
                f"bool_or({self._valid(now)}) FROM {dn} "
                f"WHERE __until > {int(now)} AND __from < __until").fetchone()
            if stats[2]:
                parts.append(f"SELECT {cols_sql(self.cols)}, {W} FROM {dn} "
                             f"WHERE {self._valid(now)}")
        self.now = now
        out = None
        if parts:
            out = rt.arrow(f"SELECT * FROM ({' UNION ALL '.join(parts)}) WHERE {W} <> 0")
        if out is not None:
            out.unit = not due and delta is not None and delta.unit
        forget = self.forget_released
        if due or (forget and not self._pruned):
            released = f" OR (__until >= {MAX} AND __from <= {int(now)})" if forget else ""
            rt.run(f"DELETE FROM {self.table} WHERE __until <= {int(now)}{released}")
            self._pruned = True
        if dn is not None:
            released = f" AND (__until < {MAX} OR __from > {int(now)})" if forget else ""
            rt.run(f"INSERT INTO {self.table} SELECT * FROM {dn} "
                   f"WHERE __until > {int(now)} AND __from < __until{released}")
        if due:
            self._refresh_next(rt)
        elif stats is not None:    # the rows kept are the old ones and dn's: min of both
            times = [t for t in (*stats[:2], self._next) if t is not None]
            self._next = min(times) if times else None
        self.count(delta, out)
        return out

    def _scheduled(self) -> bool:
        """A next event is scheduled, and no released row waits to be forgotten."""
        return self._next is not None and not (self.forget_released and not self._pruned)

    def _stored_later(self, rt, sql: str, now: int) -> bool:
        """The common tick of a filter with `from` bounds (counting expired events): every new
        row becomes valid later, no earlier than the next event already scheduled. Then one
        INSERT, reading the input itself (no tick table of it first: a statement less per
        tick), stores them all, or none: it checks that in the same statement, and nothing is
        read out or scheduled anew (needs `_scheduled()`). False, nothing stored, when some row
        breaks that or the input had no row."""
        later = f"__until > __from AND __from > {int(now)} AND __from >= {int(self._next)}"
        return bool(rt.conn.execute(
            f"INSERT INTO {self.table} WITH __dn AS MATERIALIZED ({self._bounded(sql)}) "
            f"SELECT * FROM __dn WHERE NOT EXISTS "
            f"(SELECT 1 FROM __dn WHERE NOT coalesce({later}, false))").fetchone()[0])

    def _step_window(self, rt, sql, delta, parts, now, due):
        """Only `until` bounds (a retention window): a row is kept exactly while it is valid,
        so the new rows valid now, copied once as the output, are also the rows to keep (their
        bounds computed again from it). The rows released now (`parts`) all end by now."""
        if sql is not None:
            parts.append(f"SELECT {cols_sql(self.cols)}, {W} FROM ({self._bounded(sql)}) "
                         f"WHERE {self._valid(now)}")
        out = rt.arrow(f"SELECT * FROM ({' UNION ALL '.join(parts)}) WHERE {W} <> 0")
        self.now = now
        if out is not None:
            out.unit = not due and delta is not None and delta.unit
        if due:
            rt.run(f"DELETE FROM {self.table} WHERE __until <= {int(now)}")
        if sql is not None and out is not None:
            kept = (f"SELECT * FROM ({self._bounded(f'SELECT * FROM {out.name}')}) "
                    f"WHERE __until > {int(now)}")
            # the rows kept end no earlier than the next event already scheduled (the common
            # case: events arrive about in order): one INSERT, which checks that, and no
            # statement for their minimum; else all stored with their minimum read first
            stored = not due and self._next is not None and rt.conn.execute(
                f"INSERT INTO {self.table} {kept} AND NOT EXISTS (SELECT 1 FROM ({kept}) "
                f"WHERE __until < {int(self._next)})").fetchone()[0]
            if not stored:
                first = rt.conn.execute(f"SELECT min(__until) FROM ({kept})").fetchone()[0]
                rt.run(f"INSERT INTO {self.table} {kept}")
                if not due and first is not None:
                    self._next = first if self._next is None else min(self._next, first)
        if due:
            self._refresh_next(rt)
        self.count(delta, out)
        return out

    def describe(self):
        bounds = [f"from {e}" for e in self.froms] + [f"until {e}" for e in self.untils]
        return f"Temporal filter (scheduled insert/retract, state {self.key}): " + "; ".join(bounds)
