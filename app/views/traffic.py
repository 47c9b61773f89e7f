"""Traffic: page views per minute of the top pages, unique users."""

import streamlit as st

from app import charts, db, ui
from app.cache import gather

st.title("Traffic")
left, right = st.columns(2)
minutes = left.slider("Minutes of data", 10, 240, 60, step=10)
top = right.slider("Top pages", 3, 15, 8)


@ui.live()
def traffic(minutes: int, top: int):
    d = gather(totals=lambda: db.traffic_totals(minutes), views=lambda: db.page_views(minutes, top))
    totals, df = d["totals"], d["views"]
    cols = st.columns(3)
    cols[0].metric("Page views", ui.number(totals["views"]))
    cols[1].metric("Pages viewed", ui.number(totals["pages"]))
    cols[2].metric("Peak unique users on a page in a minute", ui.number(totals["peak_unique_users"]))
    st.subheader("Page views per minute")
    ui.chart(st, charts.page_views(df))
    st.subheader("Unique users per minute, per page")
    ui.chart(st, charts.page_views(df, "unique_users", "unique users"))


traffic(minutes, top)
