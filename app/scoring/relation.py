"""The engine relation `transaction_decisions`: the decisions topic, read back by the engine.

The topic is the one record of decisions; the relation is what a `read_committed` consumer of it
sees (eddy's Kafka source reads committed messages only), so it holds exactly the decisions the
scorer committed, each transaction once (deduplicated on `transaction_id` as well, for a
producer run without transactions). Created by the scorer at start when missing.
"""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

CONNECTION = "scoring_kafka"
SOURCE = "transaction_decisions_source"
RELATION = "transaction_decisions"
#: Ground truth where known (`python -m app.scoring labels FILE` loads a load generator's --out).
LABELS = "transaction_labels"

_VIEW = """
create materialized view if not exists {relation} as
with decoded as (
    select
        data ->> 'transaction_id' as transaction_id,
        data ->> 'user_id' as user_id,
        (data ->> 'amount')::numeric(12, 2) as amount,
        (data ->> 'transaction_time')::timestamptz as transaction_time,
        data ->> 'decision' as decision,
        (data ->> 'score')::double precision as score,
        data ->> 'model_version' as model_version,
        data -> 'features' as features,
        data ->> 'feature_source' as feature_source,
        (data ->> 'decided_at')::timestamptz as decided_at,
        (data ->> 'latency_ms')::double precision as latency_ms
    from {source}
)
select distinct on (transaction_id) *
from decoded
order by transaction_id, decided_at
"""


def ensure(conn: psycopg.Connection, bootstrap: str, topic: str) -> None:
    """Create the connection, source and relation when missing (names are fixed; the broker and
    topic are quoted as literals by psycopg)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL(
            "create connection if not exists {} to kafka (broker {}, security protocol = "
            "'PLAINTEXT')").format(sql.Identifier(CONNECTION), sql.Literal(bootstrap)))
        cur.execute(sql.SQL(
            "create source if not exists {} from kafka connection {} (topic {}) format json"
        ).format(sql.Identifier(SOURCE), sql.Identifier(CONNECTION), sql.Literal(topic)))
        cur.execute(sql.SQL(_VIEW).format(relation=sql.Identifier(RELATION),
                                          source=sql.Identifier(SOURCE)))


def ensure_labels(conn: psycopg.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("create table if not exists {} (transaction_id text not null, "
                            "fraud boolean not null)").format(sql.Identifier(LABELS)))


def load_labels(conn: psycopg.Connection, labels: list[tuple[str, bool]]) -> int:
    """Insert `(transaction_id, fraud)` pairs not there yet; returns how many were new."""
    ensure_labels(conn)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("select transaction_id from {}").format(sql.Identifier(LABELS)))
        known = {row[0] for row in cur.fetchall()}
        new = [pair for pair in dict(labels).items() if pair[0] not in known]
        if new:  # one statement (one engine write); the pairs as one bound JSON parameter
            cur.execute(sql.SQL("insert into {} select pair ->> 0, (pair ->> 1)::boolean "
                                "from (select jsonb_array_elements(%s::jsonb) as pair) as p"
                                ).format(sql.Identifier(LABELS)), (json.dumps(new),))
    return len(new)
