"""Altair chart builders: DataFrame in, chart out (no database access, no Streamlit)."""

from __future__ import annotations

import altair as alt
import pandas as pd

HEIGHT = 260


def _time(field: str, title: str = "minute (UTC)") -> alt.X:
    return alt.X(f"{field}:T", title=title,
                 axis=alt.Axis(format="%H:%M", tickMinStep=60_000))


def events_per_minute(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, height=HEIGHT).mark_area(opacity=0.7, line=True).encode(
        x=_time("window_start"),
        y=alt.Y("events:Q", title="click events"),
        tooltip=[alt.Tooltip("window_start:T", format="%H:%M"), "events:Q"])


def page_views(df: pd.DataFrame, measure: str = "views", title: str = "page views") -> alt.Chart:
    return alt.Chart(df, height=HEIGHT + 40).mark_line(point=True).encode(
        x=_time("window_start"),
        y=alt.Y(f"{measure}:Q", title=title),
        color=alt.Color("page_url:N", title="page", sort="-y"),
        tooltip=[alt.Tooltip("window_start:T", format="%H:%M"), "page_url:N", f"{measure}:Q"])


def funnel(df: pd.DataFrame) -> alt.LayerChart:
    """Horizontal funnel: one bar per step, labelled with sessions and drop-off."""
    df = df.assign(
        label=[f"{int(s):,} sessions" + ("" if pd.isna(d) else f"  (-{d:.1%})")
               for s, d in zip(df["sessions"], df["drop_off"], strict=True)])
    order = list(df.sort_values("step_order")["step"])
    base = alt.Chart(df, height=HEIGHT).encode(
        y=alt.Y("step:N", sort=order, title=None),
        x=alt.X("sessions:Q", title="sessions reaching the step"))
    bars = base.mark_bar().encode(
        color=alt.Color("step_order:O", scale=alt.Scale(scheme="blues", reverse=True),
                        legend=None),
        tooltip=["step:N", "sessions:Q",
                 alt.Tooltip("conversion_from_previous:Q", format=".1%", title="from previous"),
                 alt.Tooltip("conversion_from_start:Q", format=".1%", title="from start"),
                 alt.Tooltip("drop_off:Q", format=".1%")])
    text = base.mark_text(align="left", dx=4).encode(text="label:N")
    return bars + text


def durations(df: pd.DataFrame, bucket_seconds: int) -> alt.Chart:
    df = df.assign(minutes=df["bucket_start"] / 60.0,
                   minutes_end=(df["bucket_start"] + bucket_seconds) / 60.0)
    return alt.Chart(df, height=HEIGHT).mark_bar().encode(
        x=alt.X("minutes:Q", title="session duration (minutes; last bar: longer)", bin="binned"),
        x2="minutes_end:Q",
        y=alt.Y("sessions:Q", title="sessions"),
        tooltip=[alt.Tooltip("minutes:Q", title="from minute"), "sessions:Q", "converted:Q"])


def takeover_timeline(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, height=HEIGHT).mark_circle(size=90, opacity=0.8).encode(
        x=alt.X("transaction_time:T", title="transaction time (UTC)",
                axis=alt.Axis(format="%H:%M:%S")),
        y=alt.Y("amount:Q", title="amount"),
        color=alt.Color("trigger_reason:N", title="trigger"),
        size=alt.Size("seconds_after_trigger:Q", title="seconds after trigger"),
        tooltip=["transaction_id:N", "user_id:N", "amount:Q", "trigger_reason:N",
                 alt.Tooltip("seconds_after_trigger:Q", format=".0f")])


def takeover_reasons(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, height=HEIGHT).mark_bar().encode(
        x=alt.X("count():Q", title="alerts"),
        y=alt.Y("trigger_reason:N", title=None, sort="-x"),
        color=alt.Color("trigger_reason:N", legend=None))


def error_alerts(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, height=HEIGHT).mark_bar().encode(
        x=_time("window_start"),
        y=alt.Y("error_count:Q", title="errors per minute"),
        color=alt.Color("service:N", title="service"),
        tooltip=[alt.Tooltip("window_start:T", format="%H:%M"), "service:N", "error_count:Q",
                 "total_count:Q", alt.Tooltip("error_rate:Q", format=".1%")])


def partition_lag(df: pd.DataFrame) -> alt.Chart:
    df = df.assign(partition=df["partition"].astype(str))
    return alt.Chart(df, height=HEIGHT).mark_bar().encode(
        y=alt.Y("source:N", title=None),
        x=alt.X("lag:Q", title="consumer lag (messages)"),
        color=alt.Color("partition:N", title="partition"),
        tooltip=["source:N", "partition:N", "lag:Q", "offset_known:Q", "offset_committed:Q"])


def source_rates(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, height=HEIGHT).mark_bar().encode(
        y=alt.Y("source:N", title=None),
        x=alt.X("messages_per_second:Q", title="messages/s"),
        color=alt.Color("status:N", title="status",
                        scale=alt.Scale(domain=["running", "starting", "stalled"],
                                        range=["#2ca02c", "#1f77b4", "#d62728"])),
        tooltip=["source:N", "status:N", alt.Tooltip("messages_per_second:Q", format=".1f"),
                 "messages_received:Q", "dead_letters:Q"])


def freshness(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, height=HEIGHT).mark_bar().encode(
        y=alt.Y("view:N", title=None, sort="x"),
        x=alt.X("lag_seconds:Q", title="seconds since the newest event"),
        color=alt.Color("lag_seconds:Q", scale=alt.Scale(scheme="orangered"), legend=None),
        tooltip=["view:N", alt.Tooltip("newest:T", format="%H:%M:%S"),
                 alt.Tooltip("lag_seconds:Q", format=".1f")])
