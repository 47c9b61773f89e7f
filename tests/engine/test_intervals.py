"""Intervals as Materialize reads, computes and prints them: months, days and microseconds kept
apart from the literal to the text a client sees, in one-off reads and maintained views."""

from __future__ import annotations

import pytest

from eddy.engine import Engine
from eddy.errors import EddyError
from eddy.pgwire.types import encode_binary, text_value
from eddy.sql.intervals import Interval


@pytest.fixture
def session():
    engine = Engine(None, tick_interval=None)
    yield engine.session()
    engine.close()


def shown(session, sql: str) -> list[str]:
    result = session.execute(sql)[-1]
    return [text_value(v, c.type_oid) for v, c in zip(result.rows[0], result.columns, strict=True)]


@pytest.mark.parametrize(("sql", "expected"), [
    ("INTERVAL '1' MONTH", "1 month"),
    ("INTERVAL '1-2 3 4:5:6.7'", "1 year 2 months 3 days 04:05:06.7"),
    ("INTERVAL '1-2 3'", "1 year 2 months 00:00:03"),
    ("INTERVAL '1-2 3' HOUR", "1 year 2 months 03:00:00"),
    ("INTERVAL '1 2:'", "1 day 02:00:00"),
    ("INTERVAL '1:2:3.4 5-6'", "5 years 6 months 01:02:03.4"),
    ("INTERVAL '-1-2 3 -4:5:6.7'", "-1 years -2 months +3 days -04:05:06.7"),
    ("INTERVAL '1-2 3 4:5:6.7' MONTH TO MINUTE", "2 months 3 days 04:05:00"),
    ("INTERVAL '12:34' MINUTE TO SECOND", "00:12:34"),
    ("INTERVAL '1.23456789' SECOND(5)", "00:00:01.23457"),
    ("INTERVAL '1y 2.3mon 4.5d'", "1 year 2 months 13 days 12:00:00"),
    ("INTERVAL '10.333 years'", "10 years 3 months"),
    ("INTERVAL '0-0 0 0:0:0.0'", "00:00:00"),
    ("'-10 months 3 days'::interval", "-10 months +3 days"),
    ("- INTERVAL '1 year 2 months -3 days -04:05:06.7'", "-1 years -2 months +3 days 04:05:06.7"),
    ("INTERVAL '1-2 3 4:5:6.7' - INTERVAL '7-6 5 4:3:2.1'", "-6 years -4 months -2 days +00:02:04.6"),
    ("DATE '2000-01-31' + INTERVAL '1' MONTH", "2000-02-29 00:00:00"),
    ("TIMESTAMP '2000-01-01 10:10:10.41'", "2000-01-01 10:10:10.41"),
])
def test_literals_arithmetic_and_text_output(session, sql, expected):
    assert shown(session, f"SELECT {sql}") == [expected]


@pytest.mark.parametrize(("literal", "message"), [
    ("1 year 2 years", "YEAR field set twice"),
    ("1-2 3-4", "YEAR or MONTH field set twice"),
    ("1-2 3:4 5", "SECOND field set twice"),
    ("100-13", "MONTH must be [-12, 12], got 13"),
    ("1:2:3.4.5", "have unprocessed tokens .500000000"),
    ("1x2:3.4", "unknown units x"),
    ("1 2-3 4:5", "Cannot determine format of all parts"),
])
def test_bad_literals_fail_with_the_reason(session, literal, message):
    with pytest.raises(EddyError) as info:
        session.execute(f"SELECT INTERVAL '{literal}'")
    assert info.value.sqlstate == "22007"
    assert message in info.value.message
    assert session.execute("SELECT 1")[0].rows == [(1,)]        # the session stays usable


def test_qualifier_range_must_run_downwards(session):
    with pytest.raises(EddyError):
        session.execute("SELECT INTERVAL '1-2 3 4:5:6.7' MINUTE TO MONTH")
    with pytest.raises(EddyError, match=r"SECOND precision must be \(0, 6\)"):
        session.execute("SELECT INTERVAL '2-3 4' SECOND(7)")


def test_months_survive_storage_and_maintained_views(session):
    session.execute("CREATE TABLE t (k int, d interval)")
    session.execute("INSERT INTO t VALUES (1, INTERVAL '1 month'), (2, INTERVAL '30 days'), "
                    "(3, INTERVAL '1-2 3 4:5:6.7')")
    session.execute("CREATE MATERIALIZED VIEW v AS SELECT k, d + INTERVAL '1' MONTH AS e FROM t")
    session.engine.tick() if hasattr(session.engine, "tick") else None
    view = sorted(session.execute("SELECT k, e FROM v")[0].rows)
    batch = sorted(session.execute("SELECT k, d + INTERVAL '1' MONTH FROM t")[0].rows)
    assert view == batch == [(1, Interval(2, 0, 0)), (2, Interval(1, 30, 0)),
                             (3, Interval(15, 3, 14_706_700_000))]


def test_binary_encoding_keeps_months():
    assert encode_binary(Interval(14, 3, 5), 1186) == \
        (5).to_bytes(8, "big") + (3).to_bytes(4, "big") + (14).to_bytes(4, "big")
