"""Vega-Lite chart specs: DataFrame in, (data, spec) out (no database access, no Streamlit).

Plain Vega-Lite dictionaries rather than Altair objects: Altair's `to_dict` (schema
validation, deep copies) cost 100-400 ms per chart per rerun on the test machine, and every
live tile reruns each second. Aggregation happens in SQL or pandas, not in Vega. Times are
shown in UTC.
"""

from __future__ import annotations

import pandas as pd

HEIGHT = 260

Chart = tuple[pd.DataFrame, dict]


def _time(field: str, title: str = "minute (UTC)", fmt: str = "%H:%M",
          step_ms: int = 60_000) -> dict:
    return {"field": field, "type": "temporal", "title": title, "scale": {"type": "utc"},
            "axis": {"format": fmt, "formatType": "utc", "tickMinStep": step_ms}}


def _tip_time(field: str, fmt: str = "%H:%M") -> dict:
    return {"field": field, "type": "temporal", "format": fmt, "formatType": "utc"}


def _q(field: str, title: str | None = None, fmt: str | None = None) -> dict:
    out = {"field": field, "type": "quantitative"}
    if title is not None:
        out["title"] = title
    if fmt is not None:
        out["format"] = fmt
    return out


def _n(field: str, title: str | None = None, **extra) -> dict:
    out = {"field": field, "type": "nominal", **extra}
    if title is not None:
        out["title"] = title
    return out


def _spec(mark, encoding: dict, height: int = HEIGHT, **extra) -> dict:
    return {"height": height, "mark": mark, "encoding": encoding, **extra}


def events_per_minute(df: pd.DataFrame) -> Chart:
    return df, _spec({"type": "area", "opacity": 0.7, "line": True}, {
        "x": _time("window_start"),
        "y": _q("events", "click events"),
        "tooltip": [_tip_time("window_start"), _q("events")]})


def page_views(df: pd.DataFrame, measure: str = "views", title: str = "page views") -> Chart:
    return df, _spec({"type": "line", "point": True}, {
        "x": _time("window_start"),
        "y": _q(measure, title),
        "color": _n("page_url", "page"),
        "tooltip": [_tip_time("window_start"), _n("page_url"), _q(measure)]}, HEIGHT + 40)


def funnel(df: pd.DataFrame) -> Chart:
    """Horizontal funnel: one bar per step, labelled with sessions and drop-off.

    The spec does not depend on the data (the room for the labels is a column, drawn by an
    invisible rule): a changed spec makes the browser build the chart anew, a changed dataset
    only redraws it, and the live tile reruns every second."""
    df = df.assign(
        label=[f"{int(s):,} sessions" + ("" if pd.isna(d) else f"  (-{d:.1%})")
               for s, d in zip(df["sessions"], df["drop_off"], strict=True)])
    # Room right of the longest bar for its label (it was clipped at the chart's edge).
    widest = float(df["sessions"].max()) if len(df) else 0.0
    df = df.assign(room=max(widest * 1.6, 1.0))
    y = _n("step", None, sort={"field": "step_order"}, axis={"title": None})
    x = {**_q("sessions", "sessions reaching the step"), "scale": {"nice": False}}
    return df, {"height": HEIGHT, "layer": [
        {"mark": "bar", "encoding": {
            "y": y, "x": x,
            "color": {"field": "step_order", "type": "ordinal", "legend": None,
                      "scale": {"scheme": "blues", "reverse": True}},
            "tooltip": [_n("step"), _q("sessions"),
                        _q("conversion_from_previous", "from previous", ".1%"),
                        _q("conversion_from_start", "from start", ".1%"),
                        _q("drop_off", "drop off", ".1%")]}},
        {"mark": {"type": "text", "align": "left", "dx": 4},
         "encoding": {"y": y, "x": x, "text": _n("label")}},
        {"mark": {"type": "rule", "opacity": 0}, "encoding": {"x": {**x, "field": "room"}}}]}


def durations(df: pd.DataFrame, bucket_seconds: int) -> Chart:
    df = df.assign(minutes=df["bucket_start"] / 60.0,
                   minutes_end=(df["bucket_start"] + bucket_seconds) / 60.0)
    return df, _spec("bar", {
        "x": {"field": "minutes", "type": "quantitative", "bin": "binned",
              "title": "session duration (minutes; last bar: longer)"},
        "x2": {"field": "minutes_end"},
        "y": _q("sessions", "sessions"),
        "tooltip": [_q("minutes", "from minute"), _q("sessions"), _q("converted")]})


def takeover_timeline(df: pd.DataFrame) -> Chart:
    return df, _spec({"type": "circle", "size": 90, "opacity": 0.8}, {
        "x": _time("transaction_time", "transaction time (UTC)", "%H:%M:%S", 1000),
        "y": _q("amount", "amount"),
        "color": _n("trigger_reason", "trigger"),
        "size": _q("seconds_after_trigger", "seconds after trigger"),
        "tooltip": [_n("transaction_id"), _n("user_id"), _q("amount"), _n("trigger_reason"),
                    _q("seconds_after_trigger", fmt=".0f")]})


def takeover_reasons(df: pd.DataFrame) -> Chart:
    counts = (df.groupby("trigger_reason", as_index=False).size()
              .rename(columns={"size": "alerts"}))
    return counts, _spec("bar", {
        "x": {**_q("alerts", "alerts"), "axis": {"tickMinStep": 1, "format": "d"}},
        "y": _n("trigger_reason", None, sort="-x", axis={"title": None}),
        "color": _n("trigger_reason", legend=None),
        "tooltip": [_n("trigger_reason"), _q("alerts")]})


def error_alerts(df: pd.DataFrame) -> Chart:
    return df, _spec("bar", {
        "x": _time("window_start"),
        "y": _q("error_count", "errors per minute"),
        "color": _n("service", "service"),
        "tooltip": [_tip_time("window_start"), _n("service"), _q("error_count"),
                    _q("total_count"), _q("error_rate", fmt=".1%")]})


def partition_lag(df: pd.DataFrame) -> Chart:
    df = df.assign(partition=df["partition"].astype(str))
    return df, _spec("bar", {
        "y": _n("source", None, axis={"title": None}),
        "x": _q("lag", "consumer lag (messages)"),
        "color": _n("partition", "partition"),
        "tooltip": [_n("source"), _n("partition"), _q("lag"), _q("offset_known"),
                    _q("offset_committed")]})


def source_rates(df: pd.DataFrame) -> Chart:
    return df, _spec("bar", {
        "y": _n("source", None, axis={"title": None}),
        "x": _q("messages_per_second", "messages/s"),
        "color": _n("status", "status", scale={"domain": ["running", "starting", "stalled"],
                                              "range": ["#2ca02c", "#1f77b4", "#d62728"]}),
        "tooltip": [_n("source"), _n("status"), _q("messages_per_second", fmt=".1f"),
                    _q("messages_received"), _q("dead_letters")]})


def freshness(df: pd.DataFrame) -> Chart:
    """Per view: the engine's wall-clock lag where it reports one, else the age of the newest
    event (the tooltip has both)."""
    df = df.assign(seconds=df["lag_seconds"].fillna(df["data_age_seconds"])
                   if "lag_seconds" in df else df["data_age_seconds"])
    engine = "lag_seconds" in df and df["lag_seconds"].notna().any()
    title = ("wall-clock lag (s, mz_wallclock_global_lag)" if engine
             else "seconds since the newest event")
    tips = [_n("view"), _tip_time("newest", "%H:%M:%S"),
            _q("data_age_seconds", "newest event (s ago)", ".1f")]
    if engine:
        tips.append(_q("lag_seconds", "wall-clock lag (s)", ".1f"))
    return df, _spec("bar", {
        "y": _n("view", None, sort="x", axis={"title": None}),
        "x": _q("seconds", title),
        "color": {"field": "seconds", "type": "quantitative", "legend": None,
                  "scale": {"scheme": "orangered"}},
        "tooltip": tips})
