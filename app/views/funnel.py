"""Funnel: the four steps with drop-off, session durations, sessions by user."""

import streamlit as st

from app import charts, db, ui
from app.cache import prefetch

BUCKET = 30
USER = "sessions_user"  # the filter's widget key

st.title("Funnel")
prefetch(db.funnel, lambda: db.session_durations(BUCKET),
         lambda: db.sessions(st.session_state.get(USER, "").strip() or None))


@ui.live()
def funnel():
    df = db.funnel()
    purchase = df[df["step"] == "purchase"]
    if len(purchase):
        st.metric("Sessions that purchased", ui.number(purchase["conversion_from_start"].iloc[0],
                                                       "{:.2%}"))
    ui.chart(st, charts.funnel(df))


@ui.live(ui.SLOW_EVERY)
def durations():
    df = db.session_durations(BUCKET)
    st.subheader("Session duration")
    ui.chart(st, charts.durations(df, BUCKET))


@ui.live()
def sessions(user: str):
    user = user.strip()
    df = db.sessions(user or None)   # before any element: no stale table under a new heading
    st.subheader(f"Sessions of user `{user}`" if user else "Newest sessions")
    if user and df.empty:
        st.info(f"No sessions of user `{user}`.")
        return
    if user:
        st.caption(f"{len(df):,} sessions of user `{user}`")
    st.dataframe(df, width="stretch", hide_index=True)


funnel()
durations()
sessions(st.text_input("Filter sessions by user id", placeholder="e.g. u123", key=USER))
