"""The scoring page's queries (lowercase SQL, bound parameters) over `transaction_decisions`
and, when loaded, `transaction_labels`. Each returns a pandas frame or a dict."""

from __future__ import annotations

import pandas as pd
import psycopg

from app import db

RECENT = 5000  # decisions the latency figures and the live table are computed over


def available() -> bool:
    """Whether the scorer has created its relation yet."""
    df = db.fetch("select count(*) as n from mz_catalog.mz_objects where name = %s",
                  ("transaction_decisions",))
    return bool(len(df)) and int(df["n"].iloc[0]) > 0


def totals() -> pd.DataFrame:
    return db.fetch("select decision, count(*) as decisions, coalesce(sum(amount), 0) as amount "
                    "from transaction_decisions group by decision order by decision")


def recent(limit: int = RECENT) -> pd.DataFrame:
    return db.fetch(
        "select decided_at, transaction_id, user_id, amount, decision, score, latency_ms, "
        "feature_source, model_version from transaction_decisions "
        "order by decided_at desc limit %s", (limit,))


def score_histogram(buckets: int = 20) -> pd.DataFrame:
    return db.fetch(
        "select least(floor(score * %s), %s - 1) / %s as bucket, decision, count(*) as n "
        "from transaction_decisions group by 1, 2 order by 1", (buckets, buckets, buckets))


def confusion() -> pd.DataFrame | None:
    """(decision, fraud, n) over labelled transactions; None when no labels are loaded."""
    try:
        return db.fetch(
            "select d.decision, l.fraud, count(*) as n from transaction_decisions as d "
            "join transaction_labels as l on l.transaction_id = d.transaction_id "
            "group by d.decision, l.fraud")
    except psycopg.errors.Error:
        return None


def quality(conf: pd.DataFrame | None) -> dict | None:
    """Precision and recall of `block` against the labels."""
    if conf is None or conf.empty:
        return None
    def n(blocked: bool, fraud: bool) -> int:
        rows = conf[((conf["decision"] == "block") == blocked) & (conf["fraud"] == fraud)]
        return int(rows["n"].sum())
    tp, fp, fn = n(True, True), n(True, False), n(False, True)
    return {"precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "labelled": int(conf["n"].sum())}
