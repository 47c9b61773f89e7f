"""The marts benchmark's printed table: each figure, its target, met or not, and its method."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _fmt(v, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and v != v:
        return "n/a"
    if unit == "x":
        return f"{v:.2f}"
    return f"{v:,.0f}{unit}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("[green]met[/]" if ok else "[red]not met[/]")


def _check(value, test) -> bool | None:
    return None if value is None or value != value else bool(test(value))


def report(r: dict, console: Console) -> None:
    d = r.get("details", {})
    limit, eddy = r.get("limit_events_per_s"), r.get("eddy_events_per_s")
    recompute = r.get("recompute_events_per_s")
    cfg = r.get("config", {})
    steady = d.get("steady", {})
    table = Table(title="marts benchmark (all marts of the dbt project maintained)",
                  title_justify="left")
    for col in ("figure", "value", "target", "", "method"):
        table.add_column(col, justify="right" if col == "value" else "left")
    rows = [
        ("limit_events_per_s", _fmt(limit, "/s"), "", None,
         f"raw consume + JSON decode of the {d.get('eddy', {}).get('messages_total', 0):,} "
         f"messages, no engine; "
         f"median of {len(d.get('limit_rounds', []))}"),
        ("eddy_events_per_s", _fmt(eddy, "/s"),
         ">= 50,000 and >= 0.5 x limit",
         _check(eddy, lambda e: e >= 50_000 and (limit is None or e >= 0.5 * limit)),
         "9x history in Kafka before the engine starts; until committed offsets reach the end"),
        ("  ratio to limit", _fmt(eddy / limit if eddy and limit else None, "x"), ">= 0.50",
         _check(eddy / limit if eddy and limit else None, lambda x: x >= 0.5), ""),
        ("freshness_p50_ms", _fmt(r.get("freshness_p50_ms"), " ms"), "", None,
         f"marker every 0.5 s at {cfg.get('rate', 0):,.0f} events/s for "
         f"{cfg.get('duration', 0):.0f} s; produce -> row in its mart (marts read every "
         f"{cfg.get('poll_ms', 20):g} ms)"),
        ("freshness_p99_ms", _fmt(r.get("freshness_p99_ms"), " ms"), "<= 1,000",
         _check(r.get("freshness_p99_ms"), lambda x: x <= 1000 and not steady.get("markers_missing")),
         f"{steady.get('marker_samples', 0)} samples over {len(steady.get('per_mart_p99_ms', {}))} "
         f"marts; {steady.get('markers_missing', 0)} never seen (counted as the time waited)"),
        ("new_connection_select1_p99_ms", _fmt(r.get("new_connection_select1_p99_ms"), " ms"),
         "<= 500", _check(r.get("new_connection_select1_p99_ms"),
                          lambda x: x <= 500 and not steady.get("new_connection_failures")),
         f"connect + select 1 + close every 0.25 s during the load; "
         f"{steady.get('new_connection_samples', 0)} samples"),
        ("history_cost_ratio_10x", _fmt(r.get("history_cost_ratio_10x"), "x"), "<= 1.50",
         _check(r.get("history_cost_ratio_10x"), lambda x: x <= 1.5),
         f"engine CPU per message of {cfg.get('batch', 0):,}-event bursts, 10x / 1x history "
         f"(wall: {_fmt(d.get('history_cost_wall_ratio_10x'), 'x')})"),
        ("recompute_events_per_s", _fmt(recompute, "/s"), "eddy >= 10 x this",
         _check(recompute, lambda x: eddy is not None and eddy >= 10 * x),
         f"compiled staging + marts rebuilt in full by DuckDB over the same messages; "
         f"median of {len(d.get('recompute', {}).get('seconds', []))}"),
        ("peak_rss_mb", _fmt(r.get("peak_rss_mb"), " MB"), "", None, "engine VmHWM at the end"),
    ]
    peers = d.get("peers", {})
    for peer in ("flink", "pathway"):
        info = peers.get(peer)
        if info is None:
            continue
        rate, fresh = r.get(f"{peer}_events_per_s"), r.get(f"{peer}_freshness_p99_ms")
        why = f"; [red]failed[/]: {info['error'].splitlines()[0][:120]}" if info.get("error") else ""
        rows.append((f"{peer}_events_per_s", _fmt(rate, "/s"), "eddy above this",
                     _check(rate, lambda x: eddy is not None and eddy > x),
                     f"bounded job over the {info.get('messages', 0):,} messages of clicks, "
                     f"cart_events, purchases (eddy: all 7 topics, all marts){why}"))
        rows.append((f"{peer}_freshness_p99_ms", _fmt(fresh, " ms"), "", None,
                     f"marker click every 0.5 s at {cfg.get('rate', 0):,.0f} events/s -> its "
                     f"row in the peer's page views; {info.get('markers_missing', 0)} never seen"))
    for name, value, target, ok, method in rows:
        table.add_row(name, value, target, _met(ok) if target else "", method)
    console.print(table)
    if steady.get("per_mart_p99_ms"):
        per = Table(title="freshness per mart", title_justify="left")
        for col in ("mart", "p50 ms", "p99 ms"):
            per.add_column(col, justify="left" if col == "mart" else "right")
        for mart, p99 in steady["per_mart_p99_ms"].items():
            per.add_row(mart, _fmt(steady["per_mart_p50_ms"].get(mart)), _fmt(p99))
        console.print(per)
        console.print(f"steady load: loadgen sent {_fmt(steady.get('loadgen_events_per_s'), '/s')}; "
                      f"engine lag right after: {steady.get('lag_after_load_messages', 0):,} messages; "
                      f"new connections p50 {_fmt(steady.get('new_connection_p50_ms'), ' ms')}, "
                      f"max {_fmt(steady.get('new_connection_max_ms'), ' ms')}")
    first, last = steady.get("view_steps_first_60s", {}), steady.get("view_steps_last_60s", {})
    if last.get("views"):
        steps = Table(title=f"tick time by view: ms a tick over the load's first "
                            f"{first.get('seconds', 0):.0f} s ({first.get('ticks', 0)} ticks) "
                            f"and last {last.get('seconds', 0):.0f} s ({last.get('ticks', 0)} ticks)",
                      title_justify="left")
        for col in ("view", "first", "last", "state rows at end"):
            steps.add_column(col, justify="left" if col == "view" else "right")
        for name, v in list(last["views"].items())[:10]:
            steps.add_row(name, _fmt(first.get("views", {}).get(name, {}).get("ms_per_tick")),
                          _fmt(v["ms_per_tick"]), f"{v['state_rows']:,}")
        console.print(steps)
    if d.get("oracle"):
        oracle = Table(title="oracle: engine marts vs DuckDB batch recompute of the same messages",
                       title_justify="left")
        for col in ("mart", "eddy rows", "duckdb rows", "equal"):
            oracle.add_column(col, justify="left" if col == "mart" else "right")
        for mart, o in d["oracle"].items():
            oracle.add_row(mart, f"{o['eddy_rows']:,}", f"{o['duckdb_rows']:,}",
                           "[green]yes[/]" if o["equal"] else
                           f"[red]no[/] ({o['only_eddy']} only in eddy, {o['only_duckdb']} only in duckdb)")
        console.print(oracle)
    for name, lines in d.get("plans_not_incremental", {}).items():
        console.print(f"EXPLAIN {name}: " + "; ".join(lines))
    if peers:
        sem = Table(title="peers: marts, semantics, and clicks each system reflected",
                    title_justify="left")
        for col in ("system", "marts", "semantics", "clicks reflected", "of expected",
                    "late in input", "late reflected"):
            sem.add_column(col, justify="left" if col in ("system", "marts", "semantics")
                           else "right")
        for name, info in peers.items():
            c = info.get("clicks", {})
            sem.add_row(name, info.get("marts", "all five marts (dbt project)"),
                        info.get("semantics", ""), _fmt(c.get("views")), _fmt(c.get("expected")),
                        _fmt(c.get("late_in_input")), _fmt(c.get("late_reflected")))
        console.print(sem)
    for note in r.get("notes", []):
        console.print(f"note: {note}")
    la = r.get("load_average", {})
    console.print(f"machine load average {la.get('start', 0):.1f} at start, {la.get('end', 0):.1f} "
                  f"at end, on {la.get('cores')} cores (other work on the machine makes every "
                  f"figure noisier); {r.get('seconds', 0):.0f} s in all")
    if r.get("error"):
        console.print(f"[red]incomplete:[/] {r['error']}")
