"""Operations: error alerts per service, pipeline health per source and per view, alert
deliveries, dead letters."""

import streamlit as st

from app import charts, db, ui
from app.cache import gather, prefetch

st.title("Operations")
prefetch(db.source_health, db.error_alerts, db.partition_lag, db.freshness, db.deliveries)


@ui.live()
def health():
    d = gather(errors=db.error_alerts, health=db.source_health, lag=db.partition_lag,
               fresh=db.freshness, deliveries=db.deliveries)
    st.subheader("Error alerts per service")
    if d["errors"].empty:
        st.info("No service is above the error threshold.")
    else:
        ui.chart(st, charts.error_alerts(d["errors"]))
    sources(ui.rates(d["health"]), d["lag"])
    st.subheader("Freshness per view")
    ui.chart(st, charts.freshness(d["fresh"]))
    st.subheader("Alert deliveries (python -m app.alerts)")
    if d["deliveries"].empty:
        st.info("No deliveries recorded: the alerting process has not sent anything to this "
                "engine yet.")
    else:
        st.dataframe(d["deliveries"], width="stretch", hide_index=True)


def sources(health, lag):
    stalled = health[health["status"] != "running"]
    st.subheader("Sources")
    cols = st.columns(4)
    cols[0].metric("Sources running", f"{len(health) - len(stalled)} / {len(health)}")
    cols[1].metric("Messages/s", ui.number(health["messages_per_second"].sum(), "{:,.1f}"))
    cols[2].metric("Consumer lag", ui.number(lag["lag"].sum() if len(lag) else 0))
    cols[3].metric("Dead letters", ui.number(health["dead_letters"].sum() if len(health) else 0))
    for row in stalled.itertuples():
        st.error(f"Source `{row.source}` is {row.status}: {row.error or 'no error text'}")
    if health.empty:
        st.info("The engine has no Kafka sources (run `dbt run`).")
        return
    left, right = st.columns(2)
    left.subheader("Messages per second")
    ui.chart(left, charts.source_rates(health))
    right.subheader("Consumer lag per partition")
    ui.chart(right, charts.partition_lag(lag))
    st.dataframe(health.drop(columns=["sampled_at"]), width="stretch", hide_index=True)


@ui.live(ui.SLOW_EVERY)
def dead_letters():
    health = db.source_health()
    with_dead = health[health["dead_letters"].fillna(0) > 0]
    samples = gather(**{source: (lambda s=source: db.dead_letter_sample(s))
                        for source in with_dead["source"]})
    st.subheader("Dead letters")
    if not samples:
        st.info("No source has dead letters.")
    for source, df in samples.items():
        st.caption(f"Newest dead letters of `{source}`")
        st.dataframe(df, width="stretch", hide_index=True)


def malformed():
    st.subheader("Malformed events")
    if not st.toggle("Show malformed events per topic (stg_malformed_events; evaluated when "
                     "shown, slow on large topics)", key="show_malformed"):
        return
    d = gather(counts=db.malformed_counts, sample=db.malformed_sample)
    st.dataframe(d["counts"], hide_index=True)
    st.dataframe(d["sample"], width="stretch", hide_index=True)


health()
dead_letters()
ui.guarded(malformed)
