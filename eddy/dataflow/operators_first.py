"""First row per key: `SELECT DISTINCT ON (key) ... ORDER BY key, order` kept incrementally.

State: the winning input row of each key (`win`, weight 1, with the key's values `__k0..`) and
the key's other input rows (`lose`, a Z-set), both indexed by the key hash. The input of a key
is their sum. A delta without retractions reads only the stored winners of its keys: each key's
new winner is the first of its old winner and its delta rows (ties keep the old winner), every
other row joins `lose`; only the keys stored already (found on the key columns alone: a probe
reading whole rows scans every column of the state) or repeated in the delta are ranked, a new
key's one row (weight 1) is its winner as it is. Keys with a retraction re-rank all their
rows (winner, `lose`, delta, consolidated). Either way a tick costs a few statements over the
delta's keys, never a recompute of the DISTINCT ON over the keys' history. An insert-only
tick's output is SQL that its consumer runs in its own statement (`_Lazy`).

Over a retention window (`WHERE mz_now() <= t + interval`, a temporal filter with only
`until` bounds) the operator keeps the window itself (`untils`): each stored row carries its
`__until`, a new row already past it is dropped, and at the tick that reaches a row's
`__until` the row leaves as a retraction of its key (re-ranked as any retraction). The
filter's own state, a second copy of every row, is then not kept (eddy.sql.plan_first)."""

from __future__ import annotations

from eddy.dataflow import key_presence, keyed_state
from eddy.dataflow.key_presence import KeyHashes
from eddy.dataflow.operators import Node, column_of
from eddy.dataflow.runtime import Rel, W, cols_sql
from eddy.dataflow.temporal import input_sql, until_sql
from eddy.storage.state import phys, q

WAS = "__was"   # pool column: this row is (a copy of) the key's stored winner
RN = "__rn"     # pool column: 1 for the key's first row (its winner), 2 for the others
UNTIL = "__until"   # stored column under a retention window: the row leaves at this time


class FirstRow(Node):
    """`kexprs`: the DISTINCT ON key (SQL over __in, the input row); `rank`: SQL over __in0
    (a pool row: the key columns, the input columns, the weight and __was): 1 for the first
    row of its key in the query's ORDER BY, then __was first, 2 for the others; `proj`: the
    select list over __in0; `untils`: the `until` bounds of a retention window over the input
    (SQL over __in, epoch ms, as TemporalFilter's), kept by this operator."""

    label = "first row"
    stateful = True

    def __init__(self, child: Node, kexprs: list[str], rank: str, proj: list[str],
                 names: list[str], keys_text: str, untils: list[str] | None = None):
        super().__init__([child], names)
        self.kexprs, self.rank, self.proj, self.keys_text = kexprs, rank, proj, keys_text
        self.kcols = [f"__k{i}" for i in range(len(kexprs))]
        self.incols = list(child.cols)
        self.untils = untils or []
        # the stored input columns: the input's, then the row's end under a retention window
        self.stored = self.incols + ([UNTIL] if self.untils else [])
        self.hash = keyed_state.hash_sql([f"__in.{q(k)}" for k in self.kcols])
        self.now = 0
        self._next: int | None = None   # the earliest __until stored (retention window)
        self._first_of: str | None = None  # new rows whose earliest end is still to be read
        self.sizes = keyed_state.Sizes()   # reads of `win` by key: by index or by scan
        self.present = KeyHashes()   # the key hashes in `win`, for probes of many new keys

    @property
    def win(self) -> str:
        return phys(self.key)

    @property
    def lose(self) -> str:
        return phys(self.key + "_l")

    def state_tables(self):
        return [self.key, self.key + "_l"]

    # -- SQL pieces ----------------------------------------------------------------------
    def _with_key(self, rel: str) -> str:
        """The rows of an input relation with their key values and key hash."""
        kitems = "".join(f"{k} AS {q(n)}, " for k, n in zip(self.kexprs, self.kcols,
                                                            strict=True))
        until = f", __in.{UNTIL}" if self.untils else ""   # from `_live`, or stored
        return (f"SELECT {kitems}{cols_sql(self.incols, '__in')}{until}, __in.{W}, "
                f"{keyed_state.hash_sql(self.kexprs)} AS {keyed_state.H} FROM ({rel}) AS __in")

    def _live(self, rel: str, now: int) -> str:
        """The input rows of `rel` still inside the retention window at `now`, with their end
        `__until` (computed once a row, here); all rows, as they are, without a window."""
        if not self.untils:
            return rel
        return (f"SELECT * FROM (SELECT *, {until_sql(self.untils)} AS {UNTIL} FROM ({rel}) "
                f"AS __in) WHERE {UNTIL} > {int(now)}")

    def _ranked(self, pool: str) -> str:
        return f"SELECT __in0.*, {self.rank} AS {RN} FROM ({pool}) AS __in0"

    def _consolidated(self, pool: str) -> str:
        cols = cols_sql(self.kcols + self.stored)
        return (f"SELECT {cols}, sum({W})::BIGINT AS {W}, bool_or({WAS}) AS {WAS} "
                f"FROM ({pool}) GROUP BY ALL HAVING sum({W}) > 0")

    def _project(self, rel: str, weight: str) -> str:
        items = ", ".join(f"{e} AS {q(n)}" for e, n in zip(self.proj, self.cols, strict=True))
        sep = ", " if items else ""
        return f"SELECT {items}{sep}{weight}::BIGINT AS {W} FROM ({rel}) AS __in0"

    def _exact(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{q(k)} IS NOT DISTINCT FROM {b}.{q(k)}"
                            for k in self.kcols) or "TRUE"

    def _stored(self, table: str, ranked: str, weight: str, where: str) -> str:
        """INSERT of ranked pool rows into a state table."""
        return (f"INSERT INTO {table} SELECT {cols_sql(self.kcols + self.stored, '__in')}, "
                f"({weight})::BIGINT, {self.hash} FROM {ranked} AS __in WHERE {where}")

    # -- lifecycle -----------------------------------------------------------------------
    def setup(self, rt, fresh):
        super().setup(rt, fresh)
        self.now = rt.now
        self.present.reset()
        if not fresh:
            self._refresh_next(rt)
            return
        pool = self._consolidated(
            f"SELECT * EXCLUDE ({keyed_state.H}), FALSE AS {WAS} FROM "
            f"({self._with_key(self._live(self.children[0].full(), rt.now))})")
        ranked = rt.table(self._ranked(pool))
        cols = cols_sql(self.kcols + self.stored, "__in")
        keyed_state.create(rt, self.win, f"SELECT {cols}, 1::BIGINT AS {W} FROM {ranked.name} "
                           f"AS __in WHERE {RN} = 1", self.hash)
        keyed_state.create(rt, self.lose, f"SELECT {cols}, (CASE WHEN {RN} = 1 THEN {W} - 1 "
                           f"ELSE {W} END)::BIGINT AS {W} FROM {ranked.name} AS __in "
                           f"WHERE {RN} > 1 OR {W} > 1", self.hash)
        self._refresh_next(rt)

    def _refresh_next(self, rt) -> None:
        if self.untils:
            self._next = rt.conn.execute(
                f"SELECT min({UNTIL}) FROM (SELECT {UNTIL} FROM {self.win} UNION ALL "
                f"SELECT {UNTIL} FROM {self.lose})").fetchall()[0][0]

    def next_event(self):
        times = [t for t in (self._next, super().next_event()) if t is not None]
        return min(times) if times else None

    def full(self):
        return self._project(f"SELECT * FROM {self.win}", W)

    def keyed_rows(self, keys, src=None):
        """The stored winners, when `keys` are the output columns of the DISTINCT ON key in
        its order: `win` stores them under that hash (an arrangement for readers by key)."""
        below = [column_of(self.proj[self.cols.index(k)], "__in0") if k in self.cols else None
                 for k in keys]
        if None in below or below != [column_of(k) for k in self.kexprs]:
            return None
        items = "".join(f"{e} AS {q(n)}, " for e, n in zip(self.proj, self.cols, strict=True))
        return (f"SELECT {items}__in0.{W}, __in0.{keyed_state.H} FROM {src or self.win} "
                f"AS __in0", self.win)

    def spec(self):
        pool = self._consolidated(
            f"SELECT * EXCLUDE ({keyed_state.H}), FALSE AS {WAS} FROM "
            f"({self._with_key(self._live(self.children[0].spec(), self.now))})")
        return self._project(f"SELECT * FROM ({self._ranked(pool)}) WHERE {RN} = 1", "1")

    def _step(self, rt):
        self._first_of = None    # (a tick that failed may have left one of its tables)
        if not self.untils:
            delta = self.children[0].step(rt)
            if delta is None:
                return None
            dn, unit, rows = rt.reg(delta), delta.unit, delta.num_rows
        else:
            sql, delta = input_sql(self.children[0], rt)
            prev, now = self.now, rt.now
            self.now = now
            due = self._next is not None and now >= self._next and now > prev
            if sql is None and not due:
                return None
            dn, unit, rows = self._windowed(rt, sql, delta, due, now)
            if dn is None:
                if due:
                    self._refresh_next(rt)
                self.count(delta, None)
                return None
        neg = not unit and bool(rt.conn.execute(
            f"SELECT bool_or({W} < 0) FROM {dn}").fetchone()[0])
        out = self._retracting(rt, dn) if neg else self._inserting(rt, dn, rows)
        if self._first_of is not None:     # not read with the ranked rows' counts
            self._note_next(rt.conn.execute(
                f"SELECT min({UNTIL}) FROM {self._first_of}").fetchall()[0][0])
        if self.untils and due:
            self._refresh_next(rt)
        self.count(delta, out)
        return out

    def _windowed(self, rt, sql: str | None, delta: Rel | None, due: bool, now: int):
        """(tick relation of input rows, whether it holds only insertions) under a retention
        window: the rows of the input's change `sql` (a map below fused in) still inside it,
        and when due, the stored rows whose `__until` has come as retractions; each with its
        `__until`, and its rows. (None, ...): nothing to do."""
        parts = []
        if sql is not None:
            parts.append(self._live(f"SELECT {cols_sql(self.incols)}, {W} FROM ({sql})", now))
        if due:
            parts += [f"SELECT {cols_sql(self.incols)}, (-{W})::BIGINT AS {W}, {UNTIL} "
                      f"FROM {t} WHERE {UNTIL} <= {int(now)}" for t in (self.win, self.lose)]
        dn = rt.table(" UNION ALL ".join(parts))
        if not dn.num_rows:
            return None, True, 0
        if not due:     # their earliest end is the next expiry if none comes sooner
            self._first_of = dn.name
        return dn.name, (not due and delta is not None and delta.unit), dn.num_rows

    def _note_next(self, first: int | None) -> None:
        """Schedule an expiry at `first` (the earliest end of new rows) if none is sooner."""
        self._first_of = None
        if first is not None:
            self._next = first if self._next is None else min(self._next, first)

    def _inserting(self, rt, dn: str, rows: int):
        """A delta without retractions (`rows` of them). Only the keys stored already (found on
        the key columns alone: a probe reading whole rows scans every column of the state) or
        repeated in the delta are ranked; a new key's one row (weight 1) is its winner as it is.

        One statement finds the touched keys; when there are any, one ranks their rows
        (stored winners and delta rows, with their key hash), one query counts what they
        hold, then come the replaced winners' DELETE and the other rows' INSERT if needed;
        one INSERT stores all new winners. Both reads of `win` go by its index when their keys
        are few against it (`Sizes`: which also keeps that index on under load); the probe
        otherwise joins the delta's keys with a scan of the key columns. The output is SQL
        over the delta and the ranked rows that a consumer runs in its own statement
        (`_Lazy`): the 20k-event tick of a staging view writes its new rows twice (state and
        named output), not three times."""
        H = keyed_state.H
        kc = cols_sql(self.kcols)
        dk = f"SELECT * FROM ({self._with_key(f'SELECT * FROM {dn}')}) WHERE {W} <> 0"
        # the stored side of the semi join is the one DuckDB reads by index
        by_key = (f"SELECT {cols_sql(self.kcols, 's')}, s.{H} FROM {self.win} s "
                  f"SEMI JOIN {{}} t ON s.{H} = t.{H} AND {self._exact('s', 't')}")
        # the delta's key hashes: every key may become a winner, so the key hashes in
        # memory (when kept) take them all, whichever way `win` is probed
        if self.sizes.by_index(rt, self.win, rows):
            stored = by_key.format("__dk")
            key_presence.note(rt, self.present, dk)
        else:
            # only the keys whose hash `win` may hold are compared with it (key_presence)
            served, found = key_presence.probe(rt, self.present, self.win,
                                               self.sizes.estimate(rt, self.win), dk)
            stored = None
            if not served:
                stored = (f"SELECT {kc}, {H} FROM __dk t SEMI JOIN {self.win} s "
                          f"ON s.{H} = t.{H} AND {self._exact('s', 't')}")
            elif found is not None:
                self.sizes.by_index(rt, self.win, found.num_rows)   # its index wanted on
                stored = by_key.format(f"(SELECT d.* FROM __dk d SEMI JOIN {found.name} f "
                                       f"ON d.{H} = f.{H})")
        touched = rt.table(f"WITH __dk AS ({dk}) SELECT {kc}, {H} FROM __dk GROUP BY ALL "
                           f"HAVING count(*) > 1 OR max({W}) <> 1"
                           + (f" UNION {stored}" if stored else ""))
        ranked = None
        if touched.num_rows:
            # columns: key, input, weight, hash, __was, __rn (a stored winner's: the delta's)
            match = self.sizes.match(rt, self.win, "s", touched.num_rows)
            pool = (f"SELECT s.*, TRUE AS {WAS} FROM {self.win} s SEMI JOIN {touched.name} t "
                    f"ON {match} AND {self._exact('s', 't')} UNION ALL "
                    f"SELECT d.*, FALSE AS {WAS} FROM __dk d SEMI JOIN {touched.name} t "
                    f"ON d.{H} = t.{H} AND {self._exact('d', 't')}")
            ranked = rt.table(f"WITH __dk AS ({dk}) {self._ranked(pool)}")
        fresh = dk
        read = replaced = 0
        if ranked is not None:
            rn = ranked.name
            fresh = (f"SELECT d.* FROM ({dk}) d ANTI JOIN {touched.name} t "
                     f"ON d.{H} = t.{H} AND {self._exact('d', 't')}")
            # with the new rows' earliest end when a retention window needs it
            first = f", (SELECT min({UNTIL}) FROM {self._first_of})" if self._first_of else ""
            read, replaced, losers, *end = rt.conn.execute(
                f"SELECT count(*) FILTER ({WAS}), count(*) FILTER ({WAS} AND {RN} > 1), "
                f"count(*) FILTER ({RN} > 1 OR {W} > 1){first} FROM {rn}").fetchone()
            if end:
                self._note_next(end[0])
            if replaced:
                # the stored winners that a new row ranks before leave `win`
                match = self.sizes.match(rt, self.win, "s", replaced)
                self.sizes.moved(self.win, -rt.conn.execute(
                    f"DELETE FROM {self.win} s USING (SELECT {kc}, {H} FROM {rn} "
                    f"WHERE {WAS} AND {RN} > 1) t WHERE {match} AND "
                    f"{self._exact('s', 't')}").fetchone()[0])
            if losers:
                rt.run(f"INSERT INTO {self.lose} SELECT {cols_sql(self.kcols + self.stored)}, "
                       f"(CASE WHEN {RN} = 1 THEN {W} - 1 ELSE {W} END)::BIGINT, {H} "
                       f"FROM {rn} WHERE {RN} > 1 OR {W} > 1")
        rt.scanned += read
        self.rows_read += read
        cols = cols_sql(self.kcols + self.stored)
        winners = f"SELECT {cols}, 1::BIGINT, {H} FROM ({fresh})"
        if ranked is not None:
            winners += f" UNION ALL SELECT {cols}, 1::BIGINT, {H} FROM {rn} " \
                       f"WHERE {RN} = 1 AND NOT {WAS}"
        new = rt.conn.execute(f"INSERT INTO {self.win} {winners}").fetchone()[0]
        self.sizes.moved(self.win, new)
        self.rows_written += new + (ranked.num_rows if ranked is not None else 0)
        if not new and not replaced:
            return None
        parts = [self._project(fresh, "1")]
        if ranked is not None:
            parts.append(self._project(f"SELECT * FROM {rn} WHERE {RN} = 1 AND NOT {WAS}",
                                       "1"))
        if replaced:
            parts.append(self._project(f"SELECT * FROM {rn} WHERE {WAS} AND {RN} > 1", "-1"))
        out = _Lazy(rt, " UNION ALL ".join(f"({p})" for p in parts), new + replaced)
        out.unit = not replaced   # new winners only, one row of weight 1 per key
        return out

    def fused_sql(self, rt):
        """The output delta as SQL (not yet written) for a consumer's own statement."""
        delta = self.step(rt)
        if delta is None:
            return None
        if isinstance(delta, _Lazy) and delta.pending:
            return delta.sql, delta.unit
        return f"SELECT * FROM {delta.name}", delta.unit

    def _replace_winners(self, rt, old, ranked):
        """Store the ranked pool: winners that changed (returned: the old ones, or None) leave
        `win`, new winners enter it, the other rows join `lose`."""
        H = keyed_state.H
        gone = None
        if old.num_rows:
            kc = cols_sql(self.kcols)
            gone = rt.table(
                f"SELECT o.* FROM {old.name} o ANTI JOIN (SELECT {kc} FROM {ranked.name} "
                f"WHERE {RN} = 1 AND {WAS}) r ON {self._exact('o', 'r')} WHERE o.{WAS}")
            if gone.num_rows:
                rt.run(f"DELETE FROM {self.win} s USING {gone.name} t WHERE s.{H} = t.{H} "
                       f"AND {self._exact('s', 't')}")
            else:
                gone = None
        rt.run(self._stored(self.win, ranked.name, "1", f"{RN} = 1 AND NOT {WAS}"))
        rt.run(self._stored(self.lose, ranked.name, f"CASE WHEN {RN} = 1 THEN {W} - 1 ELSE {W} END",
                            f"{RN} > 1 OR {W} > 1"))
        return gone

    def _retracting(self, rt, dn: str):
        """A delta with retractions: its keys' rows (winner, `lose`, delta) re-ranked."""
        H = keyed_state.H
        dk = rt.table(f"SELECT * FROM ({self._with_key(f'SELECT * FROM {dn}')}) WHERE {W} <> 0")
        if not dk.num_rows:
            return None
        key_presence.note(rt, self.present, f"SELECT * FROM {dk.name}")   # may become winners
        kc = cols_sql(self.kcols)
        negkeys = f"(SELECT DISTINCT {kc}, {H} FROM {dk.name} WHERE {W} < 0)"
        old = rt.table(
            f"SELECT s.*, TRUE AS {WAS} FROM {self.win} s SEMI JOIN (SELECT DISTINCT {kc}, {H} "
            f"FROM {dk.name}) t ON s.{H} = t.{H} AND {self._exact('s', 't')} UNION ALL "
            f"SELECT s.*, FALSE AS {WAS} FROM {self.lose} s SEMI JOIN {negkeys} t ON "
            f"s.{H} = t.{H} AND {self._exact('s', 't')}")
        rt.scanned += old.num_rows
        self.sizes.moved(self.win, None)    # counted again when next needed
        pool = (f"SELECT * EXCLUDE ({H}) FROM {old.name} UNION ALL "
                f"SELECT * EXCLUDE ({H}), FALSE AS {WAS} FROM {dk.name}")
        ranked = rt.table(self._ranked(self._consolidated(pool)))
        rt.run(f"DELETE FROM {self.lose} s USING {negkeys} t WHERE s.{H} = t.{H} AND "
               f"{self._exact('s', 't')}")
        gone = self._replace_winners(rt, old, ranked)
        parts = [self._project(f"SELECT * FROM {ranked.name} WHERE {RN} = 1 AND NOT {WAS}",
                               "1")]
        if gone is not None:
            parts.append(self._project(f"SELECT * FROM {gone.name}", "-1"))
        out = rt.arrow(" UNION ALL ".join(f"({p})" for p in parts))
        if out is not None:
            out.unit = len(parts) == 1     # new winners only, one row of weight 1 per key
        self.rows_read += old.num_rows
        self.rows_written += ranked.num_rows
        return out

    def describe(self):
        window = f"; rows kept until {'; '.join(self.untils)}" if self.untils else ""
        return (f"First row per key (DISTINCT ON {self.keys_text}: stored winner per key, "
                f"insert-only deltas compare with it; state {self.key}{window})")


class _Lazy(Rel):
    """A tick-local relation written only when a consumer names it (`name`); a consumer that
    takes SQL (`fused_sql`) reads its query instead. Its inputs (the delta and the ranked
    rows: tick-local, never changed) stay as they are for the rest of the tick."""

    def __init__(self, rt, sql: str, rows: int):
        super().__init__(rt, "")
        self.sql, self._rows, self._name = sql, rows, None

    @property
    def pending(self) -> bool:
        return self._name is None

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self.rt.table(self.sql).name
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value or None
