"""Fraud: account-takeover alerts as they happen, with trigger, transaction and delay."""

import streamlit as st

from app import charts, db, ui

st.title("Fraud: account takeover")


@ui.live()
def alerts():
    counts = db.takeover_counts()
    cols = st.columns(4)
    cols[0].metric("Alerts", ui.number(counts["alerts"]))
    cols[1].metric("Transactions", ui.number(counts["transactions"]))
    cols[2].metric("Users", ui.number(counts["users"]))
    cols[3].metric("Amount at risk", ui.number(counts["amount"], "{:,.2f}"))
    df = db.takeover_alerts()
    left, right = st.columns([3, 1])
    left.subheader("Flagged transactions")
    left.altair_chart(charts.takeover_timeline(df), width="stretch")
    right.subheader("Triggers")
    right.altair_chart(charts.takeover_reasons(df), width="stretch")
    st.subheader("Newest alerts")
    st.dataframe(df, width="stretch", hide_index=True, column_config={
        "amount": st.column_config.NumberColumn(format="%.2f"),
        "seconds_after_trigger": st.column_config.NumberColumn("delay (s)", format="%.0f")})


alerts()
