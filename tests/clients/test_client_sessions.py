"""Clients with their default settings: SQLAlchemy's default engine (what Streamlit's
`st.connection("sql")` builds), psycopg 3 and psycopg2 without autocommit, savepoints, and
statements eddy does not run refused by name."""

from __future__ import annotations

import psycopg
import psycopg2
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration


@pytest.fixture
def people(eddy, schema):
    with eddy.connect() as conn:
        conn.execute(f"CREATE TABLE {schema}.people (id int NOT NULL, name text)")
        conn.execute(f"INSERT INTO {schema}.people VALUES (1, 'ann'), (2, 'bob')")
        conn.execute(f"CREATE VIEW {schema}.named AS SELECT name FROM {schema}.people")
        conn.execute("CREATE TABLE IF NOT EXISTS public.shared_people (id int)")
    return schema


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_sqlalchemy_default_engine_connects_reflects_and_binds(eddy, people, driver):
    engine = sa.create_engine(f"postgresql+{driver}://materialize@127.0.0.1:{eddy.port}/"
                              "materialize")        # default isolation: a transaction per use
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT name FROM {people}.people WHERE id = :id"),
                                {"id": 2}).all()
            assert rows == [("bob",)]
            assert conn.in_transaction()
        inspector = sa.inspect(engine)
        assert inspector.get_table_names(schema=people) == ["people"]
        assert inspector.get_view_names(schema=people) == ["named"]
        assert "shared_people" in inspector.get_table_names()      # the default schema
        with engine.connect() as conn:
            table = sa.Table("people", sa.MetaData(), autoload_with=conn, schema=people)
            assert [c.name for c in table.columns] == ["id", "name"]
            shared = sa.Table("shared_people", sa.MetaData(), autoload_with=conn)
            assert conn.execute(sa.select(sa.func.count()).select_from(shared).where(
                shared.c.id == sa.bindparam("i")), {"i": -1}).scalar() == 0
            with conn.begin_nested():                           # SAVEPOINT / RELEASE
                assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_psycopg_nested_transactions_in_a_read_transaction(eddy, people):
    with psycopg.connect(eddy.dsn()) as conn:                 # not autocommit
        assert conn.execute(f"SELECT count(*) FROM {people}.people").fetchone() == (2,)
        with conn.transaction():                              # SAVEPOINT inside the block
            assert conn.execute("SELECT 1").fetchone() == (1,)
            with conn.transaction():
                assert conn.execute(f"SELECT name FROM {people}.named ORDER BY name"
                                    ).fetchall() == [("ann",), ("bob",)]
        with pytest.raises(psycopg.errors.UndefinedTable), conn.transaction():
            conn.execute(f"SELECT * FROM {people}.no_such_table")
        # ROLLBACK TO SAVEPOINT left the outer transaction usable
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert conn.execute("SELECT 2").fetchone() == (2,)
        conn.rollback()


def test_savepoint_statements_follow_postgres(eddy, people):
    with psycopg.connect(eddy.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.NoActiveSqlTransaction):
            conn.execute("SAVEPOINT a")
        conn.execute("BEGIN")
        conn.execute("SAVEPOINT a")
        conn.execute('SAVEPOINT "B"')
        conn.execute("RELEASE SAVEPOINT a")                   # releases "B" too
        with pytest.raises(psycopg.errors.InvalidSavepointSpecification):
            conn.execute('ROLLBACK TO "B"')
        conn.execute("ROLLBACK")
        # a failed block is usable again after ROLLBACK TO, and still sees its tick
        conn.execute("BEGIN")
        conn.execute("SAVEPOINT s")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.execute("ROLLBACK TO SAVEPOINT s")
        assert conn.execute(f"SELECT count(*) FROM {people}.people").fetchone() == (2,)
        conn.execute("COMMIT")
        # in a write transaction, ROLLBACK TO drops the writes made since the savepoint
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO {people}.people VALUES (3, 'cy')")
        conn.execute("SAVEPOINT w")
        conn.execute(f"INSERT INTO {people}.people VALUES (4, 'dee')")
        conn.execute("ROLLBACK TO w")
        conn.execute("COMMIT")
        assert conn.execute(f"SELECT id FROM {people}.people ORDER BY id").fetchall() == \
            [(1,), (2,), (3,)]


def test_psycopg2_default_connection_reads(eddy, people):
    conn = psycopg2.connect(host="127.0.0.1", port=eddy.port, user="materialize",
                            dbname="materialize")
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT name FROM {people}.people WHERE id = %s", (1,))
        assert cur.fetchall() == [("ann",)]
        cur.execute("SELECT count(*) FROM mz_catalog.mz_tables WHERE name = 'people'")
        assert cur.fetchone()[0] >= 1
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("sql, named", [
    ("LISTEN foo", "LISTEN"), ("NOTIFY foo", "NOTIFY"), ("UNLISTEN *", "UNLISTEN"),
    ("VACUUM", "VACUUM"), ("VACUUM FULL people", "VACUUM"), ("ANALYZE", "ANALYZE"),
    ("LOCK TABLE people", "LOCK"), ("TRUNCATE people", "TRUNCATE"),
    ("CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", "CREATE FUNCTION"),
    ("CREATE EXTENSION hstore", "CREATE EXTENSION"), ("ALTER SYSTEM SET x = 1", "ALTER SYSTEM"),
    ("CHECKPOINT", "CHECKPOINT"), ("REINDEX TABLE people", "REINDEX"),
])
def test_unsupported_statements_are_refused_by_name(eddy, sql, named):
    with psycopg.connect(eddy.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.FeatureNotSupported) as info:
            conn.execute(sql)
        message = info.value.diag.message_primary
        assert message.startswith(named + " ") and "not supported" in message, message
        assert conn.execute("SELECT 1").fetchone() == (1,)     # the session goes on
