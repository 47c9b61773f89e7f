"""Deterministic regressions found by the oracle suite, each as small as it could be made.

A test marked xfail(strict=True) is an open engine bug: when it is fixed the test XPASSes,
fails, and the marker must go (and the matching switch in oracle.py, if any, be enabled).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def session():
    from eddy.engine import Engine
    engine = Engine(None, tick_interval=None)
    yield engine.session()
    engine.close()


def test_implicit_jsonb_text_is_canonical(session):
    session.execute("create table t (j jsonb)")
    session.execute("create materialized view g as select j, count(*) as n from t group by j")
    session.execute("""insert into t values ('{"a": 1, "b": 2}'), ('{"b":2,"a":1}')""")
    assert session.execute("select * from g")[0].rows == [({"a": 1, "b": 2}, 2)]
    assert session.execute("select count(distinct j) from t")[0].rows == [(1,)]


def test_explicit_jsonb_casts_are_canonical(session):
    session.execute("create table t (j jsonb)")
    session.execute("create materialized view g as select j, count(*) as n from t group by j")
    session.execute("""insert into t values ('{"a": 1, "b": 2}'::jsonb), ('{"b":2,"a":1}'::jsonb)""")
    assert session.execute("select * from g")[0].rows == [({"a": 1, "b": 2}, 2)]


def test_scalar_subquery_with_two_rows_is_a_cardinality_violation(session):
    from eddy.errors import EddyError
    session.execute("create table t2 (w int)")
    session.execute("insert into t2 values (5), (6)")
    with pytest.raises(EddyError) as info:
        session.execute("select (select w from t2) as w")
    assert info.value.sqlstate == "21000"


def test_division_by_zero_is_an_error_not_a_row(session):
    from eddy.errors import EddyError
    session.execute("create table t (a int, b int)")
    session.execute("create materialized view q as select a / b as d from t")
    session.execute("insert into t values (7, 2)")
    with pytest.raises(EddyError) as info:
        session.execute("insert into t values (1, 0)")
        session.execute("select * from q")
    assert info.value.sqlstate == "22012"
    assert session.execute("select * from q")[0].rows in ([(3,)], [])


def test_command_tags_inside_a_write_transaction_count_rows(session):
    session.execute("create table t (a int)")
    results = session.execute("begin; insert into t values (1), (2); commit")
    assert [r.tag for r in results] == ["BEGIN", "INSERT 0 2", "COMMIT"]


def test_write_transaction_commits_in_one_tick(session):
    session.execute("create table t (a int, b int)")
    session.execute("create materialized view v as select a, sum(b) as s from t group by a")
    session.execute("begin; insert into t values (1, 1), (1, 2); "
                    "update t set b = 10 where b = 1; delete from t where b = 2; commit")
    assert session.execute("select * from v")[0].rows == [(1, 10)]
    session.execute("begin; insert into t values (3, 5); rollback")
    assert session.execute("select * from v")[0].rows == [(1, 10)]
