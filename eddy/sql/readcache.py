"""Compiled one-off reads, shared by all sessions of an engine.

Binding a query and translating it to DuckDB SQL costs tens of milliseconds of Python per
statement, while clients repeat the same statements (a pool's `select 1`, a driver's type
lookups, a dashboard polling its queries). An entry maps the statement text and the session
context it was bound in to the DuckDB SQL and the objects it reads; it is valid only while the
catalog it was bound against is the current one (catalogs are replaced, never changed, on DDL).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

SIZE = 1024


class ReadCache:
    """A bounded LRU map: key -> (catalog, DuckDB SQL, dependency ids)."""

    def __init__(self, size: int = SIZE):
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key, catalog) -> tuple[str, list[str]] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not catalog:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1], entry[2]

    def put(self, key, catalog, sql: str, deps: list[str]) -> None:
        with self._lock:
            self._entries[key] = (catalog, sql, list(deps))
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
