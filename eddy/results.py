"""What a statement returns (`Result`, `Column`) and the table-write record (`Write`).

Below both the engine and the statement modules, so neither imports the other for them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Column:
    name: str
    type_oid: int
    type_name: str


@dataclass
class Result:
    tag: str
    columns: list[Column] | None = None
    rows: list[tuple] = field(default_factory=list)
    subscription: object | None = None


class Write:
    """Table writes applied atomically in one tick: `fn(rt)` applies them and returns
    [(table id, Z-set delta)]."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.done = threading.Event()
        self.error: Exception | None = None
        self.count = 0

    def finish(self, error: Exception | None = None) -> None:
        self.error = error
        self.done.set()
