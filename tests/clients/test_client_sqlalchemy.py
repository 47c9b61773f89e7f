"""SQLAlchemy 2 (psycopg dialect) against a real `eddy serve`: connect, reflect, text()."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration


def test_reflection_and_bound_parameters(eddy, schema):
    engine = sa.create_engine(f"postgresql+psycopg://materialize@127.0.0.1:{eddy.port}/materialize",
                              isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE TABLE {schema}.people (id int NOT NULL, name text, "
                             "score double precision)"))
        conn.execute(sa.text(f"INSERT INTO {schema}.people VALUES (1, 'ann', 1.5), "
                             "(2, 'bob', 2.5)"))
        conn.execute(sa.text(f"CREATE VIEW {schema}.top AS SELECT name FROM {schema}.people "
                             "WHERE score > 2"))
        rows = conn.execute(sa.text(f"SELECT name FROM {schema}.people WHERE id = :id"),
                            {"id": 2}).all()
        assert rows == [("bob",)]
    inspector = sa.inspect(engine)
    assert inspector.get_table_names(schema=schema) == ["people"]
    assert inspector.get_view_names(schema=schema) == ["top"]
    columns = {c["name"]: c for c in inspector.get_columns("people", schema=schema)}
    assert list(columns) == ["id", "name", "score"]
    assert isinstance(columns["id"]["type"], sa.Integer) and not columns["id"]["nullable"]
    assert isinstance(columns["name"]["type"], sa.Text)
    assert isinstance(columns["score"]["type"], sa.Float)
    engine.dispose()
