"""Funnel: the four steps with drop-off, session durations, sessions by user."""

import streamlit as st

from app import charts, db, ui

BUCKET = 30

st.title("Funnel")


@ui.live()
def funnel():
    df = db.funnel()
    purchase = df[df["step"] == "purchase"]
    if len(purchase):
        st.metric("Sessions that purchased", ui.number(purchase["conversion_from_start"].iloc[0],
                                                       "{:.2%}"))
    st.altair_chart(charts.funnel(df), width="stretch")


@ui.live(ui.SLOW_EVERY)
def durations():
    st.subheader("Session duration")
    st.altair_chart(charts.durations(db.session_durations(BUCKET), BUCKET), width="stretch")


@ui.live()
def sessions(user: str):
    df = db.sessions(user.strip() or None)
    label = f"Sessions of user `{user.strip()}`" if user.strip() else "Newest sessions"
    st.subheader(label)
    st.dataframe(df, width="stretch", hide_index=True)


funnel()
durations()
user = st.text_input("Filter sessions by user id", placeholder="e.g. u123")
sessions(user)
