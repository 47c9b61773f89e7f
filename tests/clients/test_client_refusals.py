"""Statements and shapes outside what eddy runs, through psycopg with its default settings
(a transaction per use, as an application has it): each is refused with SQLSTATE 0A000 and a
message naming the construct as the user wrote it, nothing is created or written, and the
session goes on. The table follows eddy.sql.allowlist; its decisions per command are in the
README's SQL section."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.integration

MV = "CREATE MATERIALIZED VIEW r_mv AS "
IN_MV = "in materialized views"

# (statement, expected SQLSTATE, fragments the message must contain)
REFUSALS = [
    # statement kinds, decided one by one
    ("LISTEN foo", "0A000", ["LISTEN is not supported"]),
    ("UNLISTEN *", "0A000", ["UNLISTEN is not supported"]),
    ("NOTIFY foo", "0A000", ["NOTIFY is not supported"]),
    ("VACUUM", "0A000", ["VACUUM is not supported"]),
    ("VACUUM FULL t", "0A000", ["VACUUM is not supported"]),
    ("ANALYZE t", "0A000", ["ANALYZE is not supported"]),
    ("LOCK TABLE t", "0A000", ["LOCK is not supported"]),
    ("TRUNCATE t", "0A000", ["TRUNCATE is not supported", "DELETE"]),
    ("CLUSTER t", "0A000", ["CLUSTER is not supported"]),
    ("REINDEX TABLE t", "0A000", ["REINDEX is not supported"]),
    ("CHECKPOINT", "0A000", ["CHECKPOINT is not supported"]),
    ("GRANT SELECT ON t TO public", "0A000", ["GRANT is not supported"]),
    ("REVOKE SELECT ON t FROM public", "0A000", ["REVOKE is not supported"]),
    ("CALL p()", "0A000", ["CALL is not supported"]),
    ("DO $$ BEGIN END $$", "0A000", ["DO is not supported"]),
    ("MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE", "0A000",
     ["MERGE is not supported"]),
    ("REFRESH MATERIALIZED VIEW r_mv", "0A000", ["REFRESH MATERIALIZED VIEW is not supported"]),
    ("SECURITY LABEL ON TABLE t IS 'x'", "0A000", ["SECURITY LABEL is not supported"]),
    ("REASSIGN OWNED BY a TO b", "0A000", ["REASSIGN OWNED is not supported"]),
    ("LOAD 'x'", "0A000", ["LOAD is not supported"]),
    ("COPY t TO '/tmp/r_copy.csv'", "0A000", ["COPY is not supported in this form"]),
    ("CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", "0A000",
     ["CREATE FUNCTION is not supported"]),
    ("CREATE EXTENSION hstore", "0A000", ["CREATE EXTENSION is not supported"]),
    ("CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "0A000",
     ["CREATE TRIGGER is not supported"]),
    ("CREATE SEQUENCE s", "0A000", ["CREATE SEQUENCE is not supported"]),
    ("CREATE DOMAIN d AS int", "0A000", ["CREATE DOMAIN is not supported"]),
    ("CREATE POLICY p ON t", "0A000", ["CREATE POLICY is not supported"]),
    ("CREATE RULE r AS ON INSERT TO t DO NOTHING", "0A000", ["CREATE RULE is not supported"]),
    ("CREATE FOREIGN TABLE ft (a int) SERVER s", "0A000",
     ["CREATE FOREIGN TABLE is not supported"]),
    ("CREATE PUBLICATION p FOR ALL TABLES", "0A000", ["CREATE PUBLICATION is not supported"]),
    ("ALTER SYSTEM SET x = 1", "0A000", ["ALTER SYSTEM is not supported"]),
    ("ALTER TABLE t ADD COLUMN c int", "0A000", ["ALTER TABLE ... ADD is not supported"]),
    ("CREATE TABLE r_t2 AS SELECT 1 AS x", "0A000", ["CREATE TABLE ... AS is not supported"]),
    # DuckDB statements the parser would otherwise read some way
    ("ATTACH 'r.db'", "0A000", ["ATTACH is not supported"]),
    ("INSTALL httpfs", "0A000", ["INSTALL is not supported"]),
    ("PRAGMA version", "0A000", ["PRAGMA is not supported"]),
    ("EXPORT DATABASE '/tmp/r_export'", "0A000", ["EXPORT DATABASE is not supported"]),
    ("USE memory", "0A000", ["USE is not supported"]),
    ("SUMMARIZE t", "0A000", ["SUMMARIZE is not supported"]),
    ("DESCRIBE t", "0A000", ["DESCRIBE is not supported"]),
    ("FROM t", "0A000", ["statement starting with FROM is not supported"]),
    ("SELECT 1; VACUUM", "0A000", ["VACUUM is not supported"]),
    # clauses and forms refused in any query or write
    ("SELECT * FROM t TABLESAMPLE BERNOULLI (10)", "0A000", ["TABLESAMPLE is not supported"]),
    ("SELECT * FROM t USING SAMPLE 10%", "0A000", ["TABLESAMPLE is not supported"]),
    ("SELECT a INTO r_t3 FROM t", "0A000", ["SELECT ... INTO is not supported"]),
    ("SELECT a FROM t FOR UPDATE", "0A000", ["FOR UPDATE/SHARE is not supported"]),
    ("SELECT a FROM t FOR SHARE", "0A000", ["FOR UPDATE/SHARE is not supported"]),
    ("SELECT a FROM t QUALIFY row_number() OVER (ORDER BY a) = 1", "0A000",
     ["QUALIFY is not supported"]),
    ("SELECT * FROM t PIVOT (sum(a) FOR b IN ('x'))", "0A000", ["PIVOT is not supported"]),
    ("SELECT * FROM read_csv('/etc/passwd')", "0A000", ["read_csv() is not supported"]),
    ("SELECT * FROM read_text('/etc/hostname')", "0A000", ["read_text() is not supported"]),
    ("SELECT read_blob('/etc/hostname')", "0A000", ["read_blob() is not supported"]),
    ("SELECT * FROM duckdb_settings()", "0A000", ["duckdb_settings() is not supported"]),
    ("SELECT * FROM pragma_table_info('t')", "0A000", ["pragma_table_info() is not supported"]),
    ("INSERT INTO t SELECT * FROM read_csv('/etc/passwd')", "0A000",
     ["read_csv() is not supported"]),
    ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "0A000",
     ["DELETE inside a query", "not supported"]),
    ("INSERT INTO t VALUES (1) RETURNING a", "0A000", ["RETURNING", "not supported"]),
    ("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", "0A000", ["ON CONFLICT", "not supported"]),
    ("UPDATE t SET a = 1 FROM u", "0A000", ["UPDATE ... FROM", "not supported"]),
    ("DELETE FROM t USING u", "0A000", ["DELETE ... USING", "not supported"]),
    # maintained views: nondeterministic, time- or session-dependent, or ignored clauses
    (MV + "SELECT * FROM t TABLESAMPLE BERNOULLI (10)", "0A000",
     [f"TABLESAMPLE is not supported {IN_MV}"]),
    (MV + "SELECT * FROM (SELECT a FROM t) x TABLESAMPLE SYSTEM (5)", "0A000",
     [f"TABLESAMPLE is not supported {IN_MV}"]),
    (MV + "SELECT a FROM t WHERE a IN (SELECT a FROM u TABLESAMPLE BERNOULLI (1))", "0A000",
     [f"TABLESAMPLE is not supported {IN_MV}"]),
    (MV + "SELECT a, random() AS r FROM t", "0A000", [f"random() is not supported {IN_MV}"]),
    (MV + "SELECT a FROM t ORDER BY random() LIMIT 1", "0A000", ["random()", IN_MV]),
    (MV + "SELECT a FROM t, LATERAL (SELECT random() AS r) x", "0A000", ["random()", IN_MV]),
    (MV + "SELECT a, gen_random_uuid() AS id FROM t", "0A000", ["gen_random_uuid()", IN_MV]),
    (MV + "SELECT a, now() AS n FROM t", "0A000", ["now()", IN_MV, "mz_now()"]),
    (MV + "SELECT a, current_timestamp AS n FROM t", "0A000", ["current_timestamp", IN_MV]),
    (MV + "SELECT a FROM t WHERE ts > now() - INTERVAL '1 hour'", "0A000", ["now()", IN_MV]),
    (MV + "SELECT a FROM t GROUP BY a HAVING max(ts) > now()", "0A000", ["now()", IN_MV]),
    (MV + "SELECT a, CAST(now() AS date) AS d FROM t", "0A000", ["now()", IN_MV]),
    (MV + "SELECT a, current_date AS d FROM t", "0A000", ["current_date", IN_MV]),
    (MV + "SELECT a, localtimestamp AS l FROM t", "0A000", ["localtimestamp", IN_MV]),
    (MV + "SELECT a, clock_timestamp() AS c FROM t", "0A000", ["clock_timestamp()", IN_MV]),
    (MV + "SELECT a FROM t WHERE b = current_user", "0A000", ["current_user", IN_MV]),
    (MV + "SELECT a, session_user AS s FROM t", "0A000", ["session_user", IN_MV]),
    (MV + "SELECT a, current_database() AS d FROM t", "0A000", ["current_database()", IN_MV]),
    (MV + "SELECT a, version() AS v FROM t", "0A000", ["version()", IN_MV]),
    (MV + "SELECT a, mz_version() AS v FROM t", "0A000", ["mz_version()", IN_MV]),
    (MV + "SELECT a, current_setting('timezone') AS z FROM t", "0A000",
     ["current_setting()", IN_MV]),
    (MV + "SELECT a, pg_backend_pid() AS p FROM t", "0A000", ["pg_backend_pid()", IN_MV]),
    (MV + "SELECT a, nextval('s') AS n FROM t", "0A000", ["nextval()", IN_MV]),
    (MV + "SELECT txid_current() AS x", "0A000", ["txid_current()", IN_MV]),
    (MV + "SELECT a, mz_now() AS n FROM t", "0A000", ["mz_now()", "temporal filter"]),
    (MV + "SELECT a, count(*) AS n FROM t GROUP BY ROLLUP (a)", "0A000",
     [f"GROUP BY ROLLUP is not supported {IN_MV}"]),
    (MV + "SELECT a, count(*) AS n FROM t GROUP BY CUBE (a)", "0A000",
     [f"GROUP BY CUBE is not supported {IN_MV}"]),
    (MV + "SELECT a, count(*) AS n FROM t GROUP BY GROUPING SETS ((a), ())", "0A000",
     [f"GROUP BY GROUPING SETS is not supported {IN_MV}"]),
    (MV + "SELECT a FROM t QUALIFY row_number() OVER (ORDER BY a) = 1", "0A000",
     [f"QUALIFY is not supported {IN_MV}"]),
    (MV + "SELECT * FROM read_csv('/etc/passwd')", "0A000",
     [f"read_csv() is not supported {IN_MV}"]),
    (MV + "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3) "
          "SELECT n FROM c", "0A000", ["WITH RECURSIVE", "not supported"]),
]


OBJECTS = ("SELECT o.name FROM mz_catalog.mz_objects o JOIN mz_catalog.mz_schemas s "
           "ON o.schema_id = s.id WHERE s.name = 'r_refusals' ORDER BY o.name")


@pytest.fixture(scope="module")
def conn(eddy):
    """One psycopg connection with default settings; `t`, `u` and a plain view whose query
    calls random() in a schema of its own, first on the search path."""
    with eddy.connect() as admin:
        admin.execute("CREATE SCHEMA r_refusals")
        admin.execute("CREATE TABLE r_refusals.t (a int NOT NULL, b text, ts timestamptz)")
        admin.execute("CREATE TABLE r_refusals.u (a int, c text)")
        admin.execute("INSERT INTO r_refusals.t VALUES (1, 'x', now()), (2, 'y', now())")
        admin.execute("CREATE VIEW r_refusals.r_random_view AS SELECT a, random() AS r "
                      "FROM r_refusals.t")
    with psycopg.connect(eddy.dsn()) as c:                    # default: not autocommit
        c.execute("SET search_path = r_refusals, public")
        c.commit()
        yield c


def test_the_table_covers_at_least_60_statements():
    assert len(REFUSALS) >= 60
    assert len({sql for sql, _, _ in REFUSALS}) == len(REFUSALS)


@pytest.mark.parametrize("sql, sqlstate, fragments", REFUSALS,
                         ids=[sql[:60] for sql, _, _ in REFUSALS])
def test_refused_by_name(conn, sql, sqlstate, fragments):
    try:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql)
    finally:
        conn.rollback()
    error = info.value
    message = error.diag.message_primary or ""
    assert error.sqlstate == sqlstate, (error.sqlstate, message)
    for fragment in fragments:
        assert fragment in message, message
    for internal in ("sqlglot", "exp.", "Command", "Anonymous", "Catalog Error", "__ref"):
        assert internal not in message, message
    # the session goes on, and nothing was created or written
    assert conn.execute("SELECT a FROM t ORDER BY a").fetchall() == [(1,), (2,)]
    assert conn.execute("SELECT count(*) FROM u").fetchone() == (0,)
    assert conn.execute(OBJECTS).fetchall() == [("r_random_view",), ("t",), ("u",)]
    conn.rollback()


def test_an_indexed_view_is_maintained_and_refuses_the_same(eddy):
    with eddy.connect() as ddl:                                # DDL runs outside a block
        ddl.execute("SET search_path = r_refusals")
        ddl.execute("CREATE VIEW r_now_view AS SELECT a, now() AS n FROM t")
        try:
            with pytest.raises(psycopg.errors.FeatureNotSupported) as info:
                ddl.execute("CREATE INDEX r_now_idx ON r_now_view (a)")
            assert "now()" in info.value.diag.message_primary
            assert "in indexed views" in info.value.diag.message_primary
            assert ddl.execute("SELECT count(*) FROM r_now_view").fetchone() == (2,)
            assert ddl.execute("SELECT count(*) FROM mz_catalog.mz_indexes "
                               "WHERE name = 'r_now_idx'").fetchone() == (0,)
            # a materialized view reading a plain view: the view's query is checked too
            with pytest.raises(psycopg.errors.FeatureNotSupported) as info:
                ddl.execute("CREATE MATERIALIZED VIEW r_mv AS SELECT * FROM r_random_view")
            assert "random() is not supported in materialized views" in \
                info.value.diag.message_primary
        finally:
            ddl.execute("DROP VIEW r_now_view")
        assert ddl.execute(OBJECTS).fetchall() == [("r_random_view",), ("t",), ("u",)]


def test_what_the_allowlist_admits_still_runs(conn):
    """The allowlist is not a blanket refusal: the supported neighbours of the refused forms
    work (a temporal filter with mz_now(), a plain view with now(), TABLE, window clauses)."""
    conn.commit()
    conn.autocommit = True
    try:
        conn.execute("CREATE MATERIALIZED VIEW r_ok AS SELECT a FROM t "
                     "WHERE mz_now() <= ts + INTERVAL '1 day'")
        conn.execute("CREATE VIEW r_ok_plain AS SELECT a, now() AS n FROM t")
        assert conn.execute("SELECT a FROM r_ok ORDER BY a").fetchall() == [(1,), (2,)]
        assert len(conn.execute("SELECT * FROM r_ok_plain").fetchall()) == 2
        assert len(conn.execute("TABLE t").fetchall()) == 2
        assert conn.execute("SELECT a, sum(a) OVER w FROM t WINDOW w AS (ORDER BY a) "
                            "ORDER BY a").fetchall() == [(1, 1), (2, 3)]
        assert len(conn.execute("SELECT random() FROM t").fetchall()) == 2   # one-off: fine
    finally:
        conn.execute("DROP VIEW IF EXISTS r_ok_plain")
        conn.execute("DROP MATERIALIZED VIEW IF EXISTS r_ok")
        conn.autocommit = False
