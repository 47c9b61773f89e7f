"""Overview: events per minute, active sessions, conversion, open alerts, freshness."""

import streamlit as st

from app import charts, db, ui
from app.cache import gather

st.title("Overview")


@ui.live()
def tiles():
    d = gather(o=db.overview, epm=lambda: db.events_per_minute(60))
    o = d["o"]
    cols = st.columns(5)
    cols[0].metric("Clicks in the newest minute", ui.number(o["clicks_last_minute"]))
    cols[1].metric("Active sessions", ui.number(o["active_sessions"]),
                   help="Sessions with an event within 30 minutes of the newest event.")
    cols[2].metric("Conversion rate", ui.number(o["conversion_rate"], "{:.1%}"),
                   help="Sessions that purchased / sessions with a visit (funnel_conversion).")
    cols[3].metric("Open alerts (last hour)",
                   ui.number((o["fraud_alerts"] or 0) + (o["error_alerts"] or 0)),
                   help=f"{ui.number(o['fraud_alerts'])} account takeover, "
                        f"{ui.number(o['error_alerts'])} error-rate alerts.")
    cols[4].metric("Freshness", ui.seconds(o["freshness_seconds"]),
                   help="Wall-clock time since the newest event the marts hold.")
    st.subheader("Click events per minute")
    ui.chart(st, charts.events_per_minute(d["epm"]))


tiles()
