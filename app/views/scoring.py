"""Fraud scoring: decisions as they happen, score distribution, blocked amount, quality, latency."""

import altair as alt
import streamlit as st

from app import ui
from app.scoring import queries

st.title("Fraud scoring")


@ui.live()
def scoring():
    if not queries.available():
        st.info("No decisions yet: start the scorer with `python -m app.scoring`.")
        return
    totals, recent = queries.totals(), queries.recent()
    by = {row.decision: row for row in totals.itertuples()}
    cols = st.columns(6)
    cols[0].metric("Decisions", ui.number(totals["decisions"].sum()))
    cols[1].metric("Blocked", ui.number(by["block"].decisions if "block" in by else 0))
    cols[2].metric("Blocked amount", ui.number(by["block"].amount if "block" in by else 0,
                                               "{:,.2f}"))
    cols[3].metric("In review", ui.number(by["review"].decisions if "review" in by else 0))
    lat = recent["latency_ms"]
    cols[4].metric("Latency p50", f"{lat.quantile(0.5):,.0f} ms" if len(lat) else "-")
    cols[5].metric("Latency p99", f"{lat.quantile(0.99):,.0f} ms" if len(lat) else "-")
    q = queries.quality(queries.confusion())
    if q is not None:
        a, b, c = st.columns(3)
        a.metric("Block precision", f"{q['precision']:.3f}" if q["precision"] is not None else "-")
        b.metric("Block recall", f"{q['recall']:.3f}" if q["recall"] is not None else "-")
        c.metric("Labelled decisions", ui.number(q["labelled"]))
    left, right = st.columns(2)
    left.subheader("Score distribution")
    hist = queries.score_histogram()
    if len(hist):
        left.altair_chart(alt.Chart(hist).mark_bar().encode(
            x=alt.X("bucket:Q", bin=alt.Bin(step=0.05), title="score"),
            y=alt.Y("n:Q", title="decisions", scale=alt.Scale(type="symlog")),
            color="decision:N"), width="stretch")
    right.subheader("Latency (ms), newest decisions")
    if len(recent):
        right.altair_chart(alt.Chart(recent).mark_line().encode(
            x=alt.X("decided_at:T", title=None), y=alt.Y("latency_ms:Q", title="ms")),
            width="stretch")
    st.subheader("Newest decisions")
    st.dataframe(recent.head(200), hide_index=True, column_config={
        "amount": st.column_config.NumberColumn(format="%.2f"),
        "score": st.column_config.NumberColumn(format="%.3f"),
        "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.0f")})


scoring()
