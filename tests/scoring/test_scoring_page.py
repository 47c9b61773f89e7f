"""The scoring page renders against the engine's decisions (Streamlit's app test harness, real
psycopg to an `eddy serve` with the relation and labels made as the scorer makes them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eddyproc import EddyProcess
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.integration
PAGE = Path(__file__).resolve().parents[2] / "app" / "views" / "scoring.py"


def test_page_shows_decisions_blocked_amount_and_quality(tmp_path, monkeypatch):
    eddy = EddyProcess(tmp_path / "eddy")
    try:
        with eddy.connect() as conn:
            conn.execute("create table transaction_decisions (transaction_id text, user_id text, "
                         "amount numeric(12, 2), decision text, score double precision, "
                         "latency_ms double precision, feature_source text, model_version text, "
                         "decided_at timestamptz)")
            conn.execute("insert into transaction_decisions values "
                         "('t1', 'u1', 120.00, 'block', 0.97, 40, 'view', 'v', now()), "
                         "('t2', 'u2', 80.00, 'block', 0.91, 60, 'view', 'v', now()), "
                         "('t3', 'u3', 10.00, 'approve', 0.01, 20, 'view', 'v', now()), "
                         "('t4', 'u4', 300.00, 'approve', 0.12, 30, 'exact', 'v', now())")
            conn.execute("create table transaction_labels (transaction_id text, fraud boolean)")
            conn.execute("insert into transaction_labels values ('t1', true), ('t2', false), "
                         "('t3', false), ('t4', true)")
        monkeypatch.setenv("EDDY_PORT", str(eddy.port))
        monkeypatch.setenv("EDDY_SSLMODE", "disable")
        at = AppTest.from_file(str(PAGE), default_timeout=60)
        at.run()
        assert not at.exception
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Decisions"] == "4"
        assert metrics["Blocked"] == "2"
        assert metrics["Blocked amount"] == "200.00"
        assert metrics["Block precision"] == "0.500"   # t1 right, t2 wrong
        assert metrics["Block recall"] == "0.500"      # t1 caught, t4 missed
    finally:
        eddy.stop()
