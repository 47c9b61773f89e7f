"""Fraud: account-takeover alerts as they happen, with trigger, transaction and delay."""

import streamlit as st

from app import charts, db, ui
from app.cache import gather

st.title("Fraud: account takeover")


@ui.live()
def alerts():
    d = gather(counts=db.takeover_counts, alerts=db.takeover_alerts)
    counts, df = d["counts"], d["alerts"]
    cols = st.columns(4)
    cols[0].metric("Alerts", ui.number(counts["alerts"]))
    cols[1].metric("Transactions", ui.number(counts["transactions"]))
    cols[2].metric("Users", ui.number(counts["users"]))
    cols[3].metric("Amount at risk", ui.number(counts["amount"], "{:,.2f}"))
    left, right = st.columns([3, 1])
    left.subheader("Flagged transactions")
    ui.chart(left, charts.takeover_timeline(df))
    right.subheader("Triggers")
    ui.chart(right, charts.takeover_reasons(df))
    st.subheader("Newest alerts")
    st.dataframe(df, width="stretch", hide_index=True, column_config={
        "amount": st.column_config.NumberColumn(format="%.2f"),
        "seconds_after_trigger": st.column_config.NumberColumn("delay (s)", format="%.0f")})


alerts()
