"""Operations: error alerts per service, pipeline health per source and per view, alert
deliveries."""

import streamlit as st

from app import charts, db, ui

st.title("Operations")


@ui.live()
def errors():
    st.subheader("Error alerts per service")
    df = db.error_alerts()
    if df.empty:
        st.info("No service is above the error threshold.")
    else:
        st.altair_chart(charts.error_alerts(df), width="stretch")


@ui.live()
def sources():
    health = ui.rates(db.source_health())
    lag = db.partition_lag()
    stalled = health[health["status"] != "running"]
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
    left.altair_chart(charts.source_rates(health), width="stretch")
    right.subheader("Consumer lag per partition")
    right.altair_chart(charts.partition_lag(lag), width="stretch")
    st.dataframe(health.drop(columns=["sampled_at"]), width="stretch", hide_index=True)


@ui.live()
def views():
    st.subheader("Freshness per view")
    st.altair_chart(charts.freshness(db.freshness()), width="stretch")


@ui.live(ui.SLOW_EVERY)
def dead_letters():
    st.subheader("Dead letters and malformed events")
    health = db.source_health()
    with_dead = health[health["dead_letters"].fillna(0) > 0]
    for source in with_dead["source"]:
        st.caption(f"Newest dead letters of `{source}`")
        st.dataframe(db.dead_letter_sample(source), width="stretch", hide_index=True)
    st.caption("Malformed events per topic (stg_malformed_events), with a sample")
    st.dataframe(db.malformed_counts(), hide_index=True)
    st.dataframe(db.malformed_sample(), width="stretch", hide_index=True)


@ui.live()
def deliveries():
    st.subheader("Alert deliveries (python -m app.alerts)")
    df = db.deliveries()
    if df.empty:
        st.info("No deliveries recorded: the alerting process has not sent anything to this "
                "engine yet.")
    else:
        st.dataframe(df, width="stretch", hide_index=True)


errors()
sources()
views()
dead_letters()
deliveries()
