"""eddy.catalog.system: the system relations answer the queries real clients send.

The client SQL below is copied from dbt-materialize, psql 15 and SQLAlchemy 2 (with names
mapped to the physical tables by `system.physical`, which is what the engine's binder does).
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from eddy.catalog import system
from eddy.catalog.objects import Catalog, CatalogObject


def _objects() -> list[CatalogObject]:
    return [
        CatalogObject("u1", 20200, None, None, "materialize", "database"),
        CatalogObject("u2", 20201, "materialize", None, "public", "schema"),
        CatalogObject("u3", 20202, "materialize", None, "analytics", "schema"),
        CatalogObject("u4", 20203, None, None, "quickstart", "cluster"),
        CatalogObject("u5", 20204, "materialize", "public", "orders", "table",
                      [("id", "integer", False), ("amount", "numeric(10,2)", True),
                       ("note", "text", True)],
                      "CREATE TABLE orders (id int NOT NULL, amount numeric(10,2), note text)",
                      comment="all orders", column_comments={"amount": "in EUR"}),
        CatalogObject("u6", 20205, "materialize", "analytics", "big_orders", "view",
                      [("id", "integer", False)],
                      "CREATE VIEW analytics.big_orders AS SELECT id FROM orders WHERE amount > 10",
                      depends_on=["u5"]),
        CatalogObject("u7", 20206, "materialize", "analytics", "totals", "materialized-view",
                      [("n", "bigint", False), ("s", "numeric", True)],
                      "CREATE MATERIALIZED VIEW analytics.totals IN CLUSTER quickstart AS "
                      "SELECT count(*) AS n, sum(amount) AS s FROM orders",
                      cluster="quickstart", depends_on=["u5"]),
        CatalogObject("u8", 20207, "materialize", "analytics", "totals_idx", "index", [],
                      "CREATE INDEX totals_idx IN CLUSTER quickstart ON analytics.totals (n)",
                      cluster="quickstart", on_id="u7", key_columns=["n"]),
    ]


def _physical_sql(sql: str) -> str:
    """Client SQL bound the way the engine does it: `system.rewrite`, then unqualified names."""
    ast = system.rewrite(sqlglot.parse_one(sql, read="postgres"))
    mapping = system.unqualified_relations()

    def unqualified(node):
        if isinstance(node, exp.Table) and not node.db and node.name in mapping:
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            return exp.Table(this=exp.to_identifier(node.name, quoted=True),
                             db=exp.to_identifier(mapping[node.name], quoted=True), alias=alias)
        return node
    return ast.transform(unqualified).sql(dialect="duckdb")


@pytest.fixture
def conn():
    c = duckdb.connect()
    system.refresh(c, Catalog(_objects()))
    yield c
    c.close()


def test_dbt_materialize_catalog_and_relation_listing(conn):
    catalog_sql = """
        select d.name as table_database, s.name as table_schema, o.name as table_name,
            case when o.type = 'materialized-view' then 'materialized_view' else o.type end
              as table_type,
            obj_desc.comment as table_comment, c.name as column_name, c.position as column_index,
            c.type as column_type, col_desc.comment as column_comment, r.name as table_owner
        from mz_objects o
        join mz_schemas s on o.schema_id = s.id
        join mz_databases d on s.database_id = d.id and d.name = 'materialize'
        join mz_columns c on c.id = o.id
        join mz_roles r on o.owner_id = r.id
        left join mz_sources so on o.id = so.id
        left outer join mz_internal.mz_comments obj_desc
          on (o.id = obj_desc.id and obj_desc.object_sub_id is null)
        left outer join mz_internal.mz_comments col_desc
          on (o.id = col_desc.id and col_desc.object_sub_id = c.position)
        where s.name in ('public', 'analytics')
        order by table_name, column_index"""
    rows = conn.execute(_physical_sql(catalog_sql)).fetchall()
    assert [(r[2], r[3], r[5], r[7]) for r in rows] == [
        ("big_orders", "view", "id", "integer"),
        ("orders", "table", "id", "integer"), ("orders", "table", "amount", "numeric"),
        ("orders", "table", "note", "text"),
        ("totals", "materialized_view", "n", "bigint"), ("totals", "materialized_view", "s",
                                                         "numeric")]
    assert rows[1][4] == "all orders" and rows[2][8] == "in EUR" and rows[0][9] == "materialize"

    listing = """
        select d.name as database, s.name as schema, o.name,
            case when o.type = 'materialized-view' then 'materialized_view' else o.type end as type
        from mz_objects o
        left join mz_sources so on o.id = so.id
        join mz_schemas s on o.schema_id = s.id and s.name = 'analytics'
        join mz_databases d on s.database_id = d.id and d.name = 'materialize'
        where o.type in ('table', 'source', 'view', 'materialized-view', 'index', 'sink')
          and coalesce(so.type, '') not in ('subsource', 'progress')
        order by 3"""
    assert conn.execute(_physical_sql(listing)).fetchall() == [
        ("materialize", "analytics", "big_orders", "view"),
        ("materialize", "analytics", "totals", "materialized_view"),
        ("materialize", "analytics", "totals_idx", "index")]
    columns = """select column_name, data_type, character_maximum_length, numeric_precision,
                        numeric_scale
                 from information_schema.columns
                 where table_name = 'orders' and table_schema = 'public'
                 order by ordinal_position"""
    assert conn.execute(_physical_sql(columns)).fetchall() == [
        ("id", "integer", None, None, None), ("amount", "numeric", None, 10, 2),
        ("note", "text", None, None, None)]


def test_psql_describe_queries(conn):
    dt = """SELECT n.nspname as "Schema", c.relname as "Name",
              CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view'
                   WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' END as "Type",
              pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
            FROM pg_catalog.pg_class c
                 LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r','p','v','m','')
                  AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
              AND pg_catalog.pg_table_is_visible(c.oid)
            ORDER BY 1,2"""
    assert conn.execute(_physical_sql(dt)).fetchall() == [
        ("analytics", "big_orders", "view", "materialize"),
        ("analytics", "totals", "materialized view", "materialize"),
        ("public", "orders", "table", "materialize")]
    attrs = """SELECT pg_catalog.pg_attribute.attname,
                      pg_catalog.format_type(pg_catalog.pg_attribute.atttypid,
                                             pg_catalog.pg_attribute.atttypmod),
                      pg_catalog.pg_attribute.attnotnull,
                      pg_catalog.col_description(pg_catalog.pg_attribute.attrelid,
                                                 pg_catalog.pg_attribute.attnum)
               FROM pg_catalog.pg_attribute
               WHERE pg_catalog.pg_attribute.attrelid = 20204
                 AND pg_catalog.pg_attribute.attnum > 0
                 AND NOT pg_catalog.pg_attribute.attisdropped
               ORDER BY pg_catalog.pg_attribute.attnum"""
    assert conn.execute(_physical_sql(attrs)).fetchall() == [
        ("id", "integer", True, None), ("amount", "numeric(10,2)", False, "in EUR"),
        ("note", "text", False, None)]
    indexes = """SELECT c2.relname, i.indisprimary, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true)
                 FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
                 WHERE c.oid = 20206 AND c.oid = i.indrelid AND i.indexrelid = c2.oid"""
    assert conn.execute(_physical_sql(indexes)).fetchall() == [
        ("totals_idx", False,
         "CREATE INDEX totals_idx IN CLUSTER quickstart ON analytics.totals (n)")]
    lookup = """SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c
                LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname OPERATOR(pg_catalog.~) '^(totals)$'
                  AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3"""
    assert conn.execute(_physical_sql(lookup)).fetchall() == [(20206, "analytics", "totals")]
    relation = """SELECT c.relkind, c.relhasindex, CASE WHEN c.reloftype = 0 THEN ''
                    ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END,
                    'analytics.totals'::regclass, c.oid::pg_catalog.regclass::pg_catalog.text
                  FROM pg_catalog.pg_class c WHERE c.oid = '20206'"""
    assert conn.execute(_physical_sql(relation)).fetchall() == [("m", True, "", 20206, "totals")]
    dn = """SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n
            WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ORDER BY 1"""
    names = [r[0] for r in conn.execute(_physical_sql(dn)).fetchall()]
    assert names == ["analytics", "mz_catalog", "mz_internal", "public"]


def test_functions_and_incremental_refresh(conn):
    got = conn.execute("select version(), to_regtype('int8'), to_regtype('integer'), "
                       "to_regclass('analytics.totals'), to_regclass('nope'), "
                       "obj_description(20204, 'pg_class'), pg_get_viewdef(20205)").fetchone()
    assert got[0].startswith("PostgreSQL 9.5.0") and got[1:6] == (20, 23, 20206, None,
                                                                  "all orders")
    assert got[6] == "SELECT id FROM orders WHERE amount > 10;"
    objs = _objects()
    objs.append(CatalogObject("u9", 20208, "materialize", "public", "extra", "table",
                              [("x", "text", True)], "CREATE TABLE extra (x text)"))
    system.refresh(conn, Catalog(objs))
    assert conn.execute(_physical_sql(
        "select name from mz_tables order by name")).fetchall() == [("extra",), ("orders",)]
    assert ("mz_catalog", "mz_objects") in system.RELATIONS
    assert system.physical(None, "pg_class") == '"_pg_catalog"."pg_class"'
    assert system.physical("information_schema", "columns") == '"_information_schema"."columns"'
    assert system.physical(None, "not_a_system_table") is None


def test_table_visibility_follows_the_published_search_path(conn):
    visible = "select pg_table_is_visible(20204), pg_table_is_visible(20206)"
    assert conn.execute(visible).fetchone() == (True, True)      # nothing published: all
    conn.execute("SET VARIABLE eddy_search_path = ['analytics']")
    assert conn.execute(visible).fetchone() == (False, True)


def test_function_macros_are_hygienic_inside_client_queries(conn):
    """Macros expand inline: an outer alias named like a macro's table must still correlate."""
    rows = conn.execute(_physical_sql(
        """SELECT pg_class.relname, pg_class.oid::regclass::text,
                  pg_catalog.obj_description(pg_class.oid, 'pg_class'),
                  pg_catalog.pg_table_is_visible(pg_class.oid)
           FROM pg_catalog.pg_class ORDER BY 1""")).fetchall()
    assert rows == [("big_orders", "big_orders", None, True), ("orders", "orders", "all orders",
                                                                True),
                    ("totals", "totals", None, True), ("totals_idx", "totals_idx", None, True)]
