"""The five marts of CONTRACTS.md, written in plain Materialize SQL over deduplicating staging
views, maintained incrementally and equal to DuckDB's batch evaluation after every step of
random event streams (late, out-of-order and redelivered events). Their plans have no
non-incremental part, and creating them raises no NOTICE (a shape that is not incremental does).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import diff, multiset
from sqlglot import exp

from eddy.sql import dialect
from eddy.sql.functions import install as install_sql_functions

RAW = {
    "clicks": [("event_id", "text"), ("event_time", "timestamptz"), ("user_id", "text"),
               ("event_type", "text"), ("page_url", "text"), ("product_id", "text")],
    "cart_events": [("event_id", "text"), ("event_time", "timestamptz"), ("user_id", "text"),
                    ("event_type", "text"), ("product_id", "text"), ("quantity", "integer")],
    "purchases": [("event_id", "text"), ("event_time", "timestamptz"), ("user_id", "text"),
                  ("order_id", "text"), ("amount", "numeric(12,2)")],
    "logins": [("event_id", "text"), ("event_time", "timestamptz"), ("user_id", "text"),
               ("device_id", "text"), ("success", "boolean")],
    "device_changes": [("event_id", "text"), ("event_time", "timestamptz"), ("user_id", "text"),
                       ("change_type", "text"), ("device_id", "text")],
    "transactions": [("event_id", "text"), ("event_time", "timestamptz"),
                     ("transaction_id", "text"), ("user_id", "text"),
                     ("amount", "numeric(12,2)")],
    "app_logs": [("event_id", "text"), ("event_time", "timestamptz"), ("service", "text"),
                 ("level", "text"), ("message", "text")],
}
DUCK = {"text": "VARCHAR", "timestamptz": "TIMESTAMPTZ", "integer": "INTEGER",
        "numeric(12,2)": "DECIMAL(12,2)", "boolean": "BOOLEAN"}

# staging: one row per event_id (redelivery counts once), as models/staging does
STAGING = {f"stg_{t}": f"with source as (select * from raw_{t}), "
                       f"deduplicated as (select distinct on (event_id) * from source "
                       f"order by event_id, event_time) select * from deduplicated"
           for t in RAW}

MARTS = {
    "page_views_per_minute": """
        select date_trunc('minute', event_time) as window_start, page_url,
            count(*) as views, count(distinct user_id) as unique_users
        from stg_clicks group by 1, 2""",
    "user_sessions": """
        with events as (
            select user_id, event_id, event_time, event_type as kind, 0::numeric as amount
            from stg_clicks
            union all
            select user_id, event_id, event_time, event_type, 0::numeric from stg_cart_events
            union all
            select user_id, event_id, event_time, 'purchase', amount from stg_purchases
        ),
        gaps as (
            select *, lag(event_time) over (partition by user_id
                                            order by event_time, event_id) as previous_time
            from events
        ),
        flagged as (
            select *, case when previous_time is null
                               or event_time - previous_time > interval '30 minutes'
                           then 1 else 0 end as is_new_session
            from gaps
        ),
        numbered as (
            select *, sum(is_new_session) over (
                partition by user_id order by event_time, event_id
                rows between unbounded preceding and current row) as session_number
            from flagged
        ),
        final as (
            select user_id, min(event_time) as session_start, max(event_time) as session_end,
                extract(epoch from max(event_time) - min(event_time)) as duration_seconds,
                count(*) as event_count,
                count(*) filter (where kind = 'page_view') as page_views,
                count(*) filter (where kind = 'product_view') as product_views,
                count(*) filter (where kind = 'add_to_cart') as cart_adds,
                count(*) filter (where kind = 'purchase') as purchases,
                coalesce(sum(amount) filter (where kind = 'purchase'), 0) as revenue,
                count(*) filter (where kind = 'purchase') > 0 as converted
            from numbered group by user_id, session_number
        )
        select * from final""",
    "funnel_conversion": """
        with sessions as (select * from user_sessions),
        reached as (
            select
                count(*) filter (where page_views + product_views > 0) as visit,
                count(*) filter (where product_views > 0) as product_view,
                count(*) filter (where product_views > 0 and cart_adds > 0) as add_to_cart,
                count(*) filter (where product_views > 0 and cart_adds > 0 and purchases > 0)
                    as purchase
            from sessions
        ),
        steps as (
            select 1 as step_order, 'visit' as step, visit as sessions,
                null::bigint as previous, visit as first from reached
            union all select 2, 'product_view', product_view, visit, visit from reached
            union all select 3, 'add_to_cart', add_to_cart, product_view, visit from reached
            union all select 4, 'purchase', purchase, add_to_cart, visit from reached
        )
        select step_order, step, sessions,
            sessions::numeric / nullif(previous, 0) as conversion_from_previous,
            sessions::numeric / nullif(first, 0) as conversion_from_start,
            1 - sessions::numeric / nullif(previous, 0) as drop_off
        from steps""",
    "account_takeover_alerts": """
        with successful as (select * from stg_logins where success),
        first_use as (
            select user_id, device_id, min(event_time) as first_time
            from successful group by user_id, device_id
        ),
        new_device_logins as (
            select l.event_id, l.user_id, l.event_time, 'new_device_login' as reason
            from successful l join first_use f
                on l.user_id = f.user_id and l.device_id = f.device_id
            where l.event_time = f.first_time
        ),
        risky as (
            select event_id, user_id, event_time, reason from new_device_logins
            union all
            select event_id, user_id, event_time, change_type from stg_device_changes
        ),
        final as (
            select t.transaction_id, t.user_id, t.amount, t.event_time as transaction_time,
                r.event_id as trigger_event_id, r.reason as trigger_reason,
                r.event_time as trigger_time,
                extract(epoch from t.event_time - r.event_time) as seconds_after_trigger
            from stg_transactions t join risky r on t.user_id = r.user_id
                and t.event_time between r.event_time
                                     and r.event_time + interval '10 minutes'
            where t.amount >= 100
        )
        select * from final""",
    "error_alerts": """
        select date_trunc('minute', event_time) as window_start, service,
            count(*) filter (where level = 'ERROR' or message ilike '%exception%')
                as error_count,
            count(*) as total_count,
            (count(*) filter (where level = 'ERROR' or message ilike '%exception%'))::numeric
                / count(*) as error_rate
        from stg_app_logs group by 1, 2
        having count(*) filter (where level = 'ERROR' or message ilike '%exception%') > 1""",
}
ORDER = ["page_views_per_minute", "user_sessions", "funnel_conversion",
         "account_takeover_alerts", "error_alerts"]
BASE = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)

# --- events: a pool with fixed content per event_id, so a redelivery is the same event -----

users = st.sampled_from(["u1", "u2", "u3"])
minutes = st.integers(0, 150)   # gaps above 30 minutes split sessions


def _event(topic: str):
    fields = {
        "clicks": (users, st.sampled_from(["page_view", "product_view"]),
                   st.sampled_from(["/", "/p/1", "/p/2"]), st.sampled_from([None, "p1", "p2"])),
        "cart_events": (users, st.sampled_from(["add_to_cart", "remove_from_cart"]),
                        st.just("p1"), st.integers(1, 3)),
        "purchases": (users, st.just("o1"), st.sampled_from([20, 99.99, 150, 400.5])),
        "logins": (users, st.sampled_from(["d1", "d2", "d3"]), st.booleans()),
        "device_changes": (users, st.sampled_from(["device_added", "password_reset",
                                                   "mfa_disabled"]), st.just(None)),
        "transactions": (st.sampled_from(["x1", "x2", "x3"]), users,
                         st.sampled_from([50, 100, 250.75])),
        "app_logs": (st.sampled_from(["api", "web"]), st.sampled_from(["INFO", "ERROR"]),
                     st.sampled_from(["ok", "boom Exception", "EXCEPTION!"])),
    }[topic]
    return st.tuples(st.just(topic), minutes, st.integers(0, 59_999), *fields)


event = st.sampled_from(list(RAW)).flatmap(_event)


@st.composite
def streams(draw):
    pool = draw(st.lists(event, min_size=4, max_size=24))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=4, max_size=36))
    batches, i = [], 0
    while i < len(picks):   # several events per tick, any order, redeliveries included
        n = draw(st.integers(1, 6))
        batches.append([(f"e{p}", pool[p]) for p in picks[i:i + n]])
        i += n
    return batches


def _literal(value, typ: str) -> exp.Expression:
    if value is None:
        return exp.Null()
    if typ == "timestamptz":
        return exp.cast(exp.Literal.string(value.isoformat()), "timestamptz", dialect="postgres")
    return exp.convert(value)


def _insert(topic: str, rows: list[tuple]) -> str:
    cols = RAW[topic]
    values = exp.Values(expressions=[
        exp.tuple_(*[_literal(v, t) for v, (_c, t) in zip(row, cols, strict=True)])
        for row in rows])
    return exp.insert(values, f"raw_{topic}", columns=[c for c, _ in cols]).sql("postgres")


def _row(event_id: str, ev: tuple) -> tuple:
    topic, minute, ms, *fields = ev
    at = BASE + dt.timedelta(minutes=minute, milliseconds=ms)
    return (event_id, at, *fields)


class Marts:
    """The engine with the marts maintained, and a DuckDB reference fed the same events."""

    def __init__(self):
        from eddy.engine import Engine
        self.engine = Engine(None, tick_interval=None)
        self.session = self.engine.session()
        self.ref = duckdb.connect()
        self.ref.execute("SET TimeZone = 'UTC'")
        install_sql_functions(self.ref)   # the translated SQL may call the engine's macros
        for topic, cols in RAW.items():
            self.session.execute(f"create table raw_{topic} "
                                 f"({', '.join(f'{c} {t}' for c, t in cols)})")
            self.ref.execute(f"CREATE TABLE raw_{topic} "
                             f"({', '.join(f'{c} {DUCK[t]}' for c, t in cols)})")
        schema = {f"raw_{t}": dict(cols) for t, cols in RAW.items()}
        for name, sql in STAGING.items():
            self.session.execute(f"create view {name} as {sql}")
            self.ref.execute(f"CREATE VIEW {name} AS {dialect.transpile(sql, schema=schema)}")
        self.notices = []
        for name in ORDER:
            self.session.execute(f"create materialized view {name} as {MARTS[name]}")
            self.notices += self.session.notices
            self.session.notices.clear()
            self.ref.execute(f"CREATE VIEW {name} AS {dialect.transpile(MARTS[name])}")

    def write(self, batch: list[tuple[str, tuple]]) -> None:
        by_topic: dict[str, list] = {}
        for event_id, ev in batch:
            by_topic.setdefault(ev[0], []).append(_row(event_id, ev))
        statements = [_insert(topic, rows) for topic, rows in by_topic.items()]
        self.session.execute("begin; " + "; ".join(statements) + "; commit")
        for sql in statements:
            self.ref.execute(dialect.transpile(sql))

    def check(self) -> None:
        for name in ORDER:
            cursor = self.ref.execute(f"SELECT * FROM {name}")
            expected = multiset(cursor.fetchall(), set())
            actual = multiset(self.session.execute(f"select * from {name}")[0].rows, set())
            assert actual == expected, f"{name}: {diff(expected, actual)}"

    def reset(self) -> None:
        """Every event deleted (the marts retract everything): the next stream starts empty."""
        self.session.execute("begin; " + "; ".join(f"delete from raw_{t}" for t in RAW)
                             + "; commit")
        for topic in RAW:
            self.ref.execute(f"DELETE FROM raw_{topic}")

    def close(self) -> None:
        self.ref.close()
        self.engine.close()


@pytest.fixture(scope="module")
def marts():
    marts = Marts()     # planning and filling five marts once; each example resets the events
    yield marts
    marts.close()


@settings(max_examples=10, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batches=streams())
def test_marts_match_batch_evaluation(marts, batches):
    marts.reset()
    marts.check()
    for batch in batches:
        marts.write(batch)
        marts.check()


def test_marts_plan_incrementally_without_notices(marts):
    assert marts.notices == []
    for name in ORDER:
        plan = marts.session.execute(f"explain materialized view {name}")[0].rows[0][0]
        assert "NOT incremental" not in plan and "key: none" not in plan, plan
    # the successful logins are read twice within account_takeover_alerts (the rows and their
    # first use per device): one keyed recompute reads them once (eddy.sql.plan_aggjoin)
    plan = marts.session.execute("explain materialized view account_takeover_alerts")
    plan = plan[0].rows[0][0]
    assert "joined with a GROUP BY on its key (the GROUP BY's input, read once)" in plan, plan
    assert plan.count("Scan materialize.public.raw_logins") == 1, plan


@pytest.mark.parametrize("sql, part", [
    ("select string_agg(page_url, ',') as urls from stg_clicks", "aggregate recomputed"),
    ("select user_id, event_time from stg_clicks order by event_time limit 3", "LIMIT"),
])
def test_a_non_incremental_part_raises_a_notice(marts, sql, part):
    marts.session.notices.clear()
    marts.session.execute(f"create materialized view whole as {sql}")
    try:
        notices = marts.session.notices
        assert len(notices) == 1 and "not maintained incrementally" in notices[0], notices
        assert part in notices[0] and "EXPLAIN MATERIALIZED VIEW whole" in notices[0]
    finally:
        marts.session.execute("drop materialized view whole")
