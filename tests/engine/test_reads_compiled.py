"""Repeated statements are compiled once, and a compiled read never outlives what it meant:
after DDL, a change of search_path, user, database or setting, the same text means the new
thing."""

from __future__ import annotations

import pytest

from eddy.engine import Engine


@pytest.fixture
def engine():
    eng = Engine(None, tick_interval=None)
    yield eng
    eng.close()


def test_the_same_text_follows_ddl(engine):
    s = engine.session()
    s.execute("create table t (a int)")
    s.execute("insert into t values (1)")
    r = engine.session()
    first = r.execute("select * from t")[0]
    assert [c.name for c in first.columns] == ["a"] and first.rows == [(1,)]
    assert r.execute("select * from t")[0].rows == [(1,)]
    assert engine.read_cache.hits >= 1
    s.execute("drop table t")
    s.execute("create table t (b text, c int)")
    s.execute("insert into t values ('x', 2)")
    again = r.execute("select * from t")[0]
    assert [c.name for c in again.columns] == ["b", "c"] and again.rows == [("x", 2)]
    s.execute("drop table t")
    with pytest.raises(Exception, match="unknown catalog item"):
        r.execute("select * from t")


def test_the_same_text_follows_the_session(engine):
    s = engine.session()
    s.execute("create schema other")
    s.execute("create table public.t (v text)")
    s.execute("create table other.t (v text)")
    s.execute("insert into public.t values ('public')")
    s.execute("insert into other.t values ('other')")
    a, b = engine.session(user="alice"), engine.session(user="bob")
    assert a.execute("select v, current_user from t")[0].rows == [("public", "alice")]
    assert b.execute("select v, current_user from t")[0].rows == [("public", "bob")]
    b.execute("set search_path = other")
    assert b.execute("select v, current_user from t")[0].rows == [("other", "bob")]
    assert a.execute("select v, current_user from t")[0].rows == [("public", "alice")]
    assert a.execute("select current_setting('application_name')")[0].rows == [("",)]
    a.execute("set application_name = 'dash'")
    assert a.execute("select current_setting('application_name')")[0].rows == [("dash",)]
    assert b.execute("select current_setting('application_name')")[0].rows == [("",)]


def test_bound_parameters_of_a_compiled_statement(engine):
    s = engine.session()
    s.execute("create table t (k int, v text)")
    s.execute("insert into t values (1, 'a'), (2, 'b')")
    r = engine.session()
    assert r.execute("select v from t where k = $1", [1])[0].rows == [("a",)]
    assert r.execute("select v from t where k = $1", [2])[0].rows == [("b",)]
    params, cols = r.describe("select v from t where k = $1")
    assert len(params) == 1 and [c.name for c in cols] == ["v"]
