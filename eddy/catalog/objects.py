"""The catalog object model: what the engine knows about every named object."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

KINDS = ("table", "view", "materialized-view", "index", "source", "sink", "connection",
         "cluster", "secret", "database", "schema", "type")

# kinds that are relations (can be queried)
RELATION_KINDS = ("table", "view", "materialized-view", "source")


@dataclass
class CatalogObject:
    """One object: a relation, index, connector object, cluster, database or schema."""

    id: str
    oid: int
    database: str | None
    schema: str | None
    name: str
    kind: str
    columns: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, type, nullable)
    create_sql: str = ""
    cluster: str | None = None
    comment: str | None = None
    column_comments: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    on_id: str | None = None                     # indexes: the indexed relation
    key_columns: list[str] = field(default_factory=list)  # indexes: key columns
    owner: str = "materialize"
    # engine-private: the query with references resolved to ids, connector options, ...
    internal: dict = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        """database.schema.name (or just the name for clusters/databases)."""
        return ".".join(p for p in (self.database, self.schema, self.name) if p)

    @property
    def is_relation(self) -> bool:
        return self.kind in RELATION_KINDS

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CatalogObject:
        data = json.loads(text)
        data["columns"] = [tuple(c) for c in data.get("columns", [])]
        return cls(**data)


class Catalog:
    """All objects, by id, with name lookup. Treat as read-mostly; copy to change."""

    def __init__(self, objects: list[CatalogObject] | None = None):
        self.by_id: dict[str, CatalogObject] = {o.id: o for o in objects or []}

    def __iter__(self):
        return iter(sorted(self.by_id.values(), key=lambda o: _id_num(o.id)))

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, object_id: str) -> CatalogObject | None:
        return self.by_id.get(object_id)

    def copy(self) -> Catalog:
        return Catalog([dataclasses.replace(o) for o in self.by_id.values()])

    def find(self, database: str | None, schema: str | None, name: str,
             kinds: tuple[str, ...] | None = None) -> CatalogObject | None:
        for o in self.by_id.values():
            if o.name == name and o.schema == schema and o.database == database and (
                    kinds is None or o.kind in kinds):
                return o
        return None

    def dependants(self, object_id: str) -> list[CatalogObject]:
        """Objects that depend on object_id directly."""
        return [o for o in self if object_id in o.depends_on or o.on_id == object_id]

    def relations(self) -> list[CatalogObject]:
        return [o for o in self if o.is_relation]


def _id_num(object_id: str) -> int:
    digits = "".join(ch for ch in object_id if ch.isdigit())
    return int(digits) if digits else 0
