"""Traffic: page views per minute of the top pages, unique users."""

import streamlit as st

from app import charts, db, ui

st.title("Traffic")
minutes = st.slider("Minutes of data", 10, 240, 60, step=10)
top = st.slider("Top pages", 3, 15, 8)


@ui.live()
def traffic(minutes: int, top: int):
    totals = db.traffic_totals(minutes)
    cols = st.columns(3)
    cols[0].metric("Page views", ui.number(totals["views"]))
    cols[1].metric("Pages viewed", ui.number(totals["pages"]))
    cols[2].metric("Peak unique users on a page in a minute", ui.number(totals["peak_unique_users"]))
    df = db.page_views(minutes, top)
    st.subheader("Page views per minute")
    st.altair_chart(charts.page_views(df), width="stretch")
    st.subheader("Unique users per minute, per page")
    st.altair_chart(charts.page_views(df, "unique_users", "unique users"), width="stretch")


traffic(minutes, top)
