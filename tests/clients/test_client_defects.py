"""Client-visible defects found by using eddy as an application would (psycopg and SQLAlchemy
with their default settings), each fixed and kept fixed here."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration


@pytest.fixture
def items(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.items (pk1 int NOT NULL, label text)")
        conn.execute(f"INSERT INTO {schema}.items VALUES (1, 'x'), (2, 'y'), (3, 'z')")
    return schema


def test_not_null_violation_names_the_users_column(eddy, items):
    with eddy.connect() as conn:
        for sql in (f"INSERT INTO {items}.items VALUES (NULL, 'n')",
                    f"INSERT INTO {items}.items (label) VALUES ('n')",
                    f"UPDATE {items}.items SET pk1 = NULL WHERE pk1 = 1"):
            with pytest.raises(psycopg.errors.NotNullViolation) as info:
                conn.execute(sql)
            assert info.value.diag.message_primary == \
                'null value in column "pk1" violates not-null constraint'
        assert conn.execute(f"SELECT pk1, label FROM {items}.items ORDER BY pk1").fetchall() == \
            [(1, "x"), (2, "y"), (3, "z")]                   # nothing written


def test_a_missing_function_is_42883(eddy):
    with psycopg.connect(eddy.dsn()) as conn:
        with pytest.raises(psycopg.errors.UndefinedFunction) as info:
            conn.execute("SELECT no_such_function(1)")
        assert info.value.diag.message_primary == "function no_such_function() does not exist"
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedFunction):
            conn.execute("SELECT * FROM no_such_table_function(1)")
        conn.rollback()
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_bytea_as_text_is_postgres_hex(eddy):
    with psycopg.connect(eddy.dsn()) as conn:
        assert conn.execute("SELECT 'hi'::bytea::text").fetchone() == ("\\x6869",)
        assert conn.execute("SELECT 'hi'::bytea").fetchone() == (b"hi",)


def test_any_with_a_list_parameter(eddy, items):
    with psycopg.connect(eddy.dsn()) as conn:                  # default settings
        rows = conn.execute(f"SELECT pk1 FROM {items}.items WHERE pk1 = any(%s) ORDER BY pk1",
                            ([1, 3, 99],)).fetchall()
        assert rows == [(1,), (3,)]
        rows = conn.execute(f"SELECT pk1 FROM {items}.items WHERE label = any(%s) "
                            "ORDER BY pk1", (["y", "z"],)).fetchall()
        assert rows == [(2,), (3,)]
        rows = conn.execute(f"SELECT pk1 FROM {items}.items WHERE pk1 <> ALL(%s) ORDER BY pk1",
                            ([1, 2],)).fetchall()
        assert rows == [(3,)]
        assert conn.execute(f"SELECT count(*) FROM {items}.items WHERE pk1 = any(%s)",
                            ([],)).fetchone() == (0,)


def test_parameters_without_spaces(eddy, items):
    with psycopg.connect(eddy.dsn()) as conn:
        assert conn.execute("SELECT %s,%s", (1, "a")).fetchone() == (1, "a")
        assert conn.execute(f"SELECT pk1 FROM {items}.items WHERE pk1 IN (%s,%s) "
                            "ORDER BY pk1", (1, 2)).fetchall() == [(1,), (2,)]
        conn.rollback()
        conn.autocommit = True
        conn.execute(f"INSERT INTO {items}.items VALUES (%s,%s)", (4, "w"))
        conn.cursor().executemany(f"INSERT INTO {items}.items VALUES (%s,%s)",
                                  [(5, "v"), (6, "u")])
        assert conn.execute(f"SELECT pk1 FROM {items}.items WHERE pk1 > 3 ORDER BY pk1"
                            ).fetchall() == [(4,), (5,), (6,)]
        assert conn.execute("SELECT '$1,$2', $$a$1,$$").fetchone() == ("$1,$2", "a$1,")


def test_a_statement_the_parser_cannot_read_fails_alone(eddy):
    """A tokenizer failure is a syntax error (42601); the connection stays open."""
    with psycopg.connect(eddy.dsn()) as conn:
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute("SELECT $x,$y")
        conn.rollback()
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_sqlalchemy_core_on_a_table_in_another_schema(eddy, items, driver):
    """SQLAlchemy Core qualifies columns as schema.table.column."""
    engine = sa.create_engine(f"postgresql+{driver}://materialize@127.0.0.1:{eddy.port}/"
                              "materialize")
    try:
        with engine.connect() as conn:
            table = sa.Table("items", sa.MetaData(), autoload_with=conn, schema=items)
            query = sa.select(table.c.pk1, table.c.label).where(
                table.c.pk1 >= sa.bindparam("low")).order_by(table.c.pk1.desc())
            assert f"{items}.items.pk1" in str(query)
            assert conn.execute(query, {"low": 2}).all() == [(3, "z"), (2, "y")]
            assert conn.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c.pk1.in_([1, 2]))).scalar() == 2
            assert conn.execute(sa.select(table.c.label).where(
                table.c.label.like("%y%"))).scalars().all() == ["y"]
    finally:
        engine.dispose()
