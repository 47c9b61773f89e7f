"""Dashboard page loads in headless Chromium, idle and while the load generator sends events.

Needs a running engine with the marts (`make demo`, or `make up` and `dbt run`). Starts its own
`streamlit run app/streamlit_app.py` on a free port and measures, per page, the time from
navigation until every tile shows data: the page's title is drawn, its charts have drawn their
marks, its metrics and tables are there, and no element is stale (left over from the previous
page or run) or still loading. Three kinds of page load:

- nav:    a click on the page in the sidebar of an open dashboard (what a user does all day);
- reload: the page's URL opened in a new tab of a browser that has loaded the dashboard before
          (warm HTTP cache; Streamlit's page shell is loaded and started again);
- cold:   the URL in a fresh browser profile (empty cache: all of Streamlit's JavaScript).

First with the load generator idle (the baseline), then while `loadgen run --rate R` sends to
Kafka (its achieved rate and the engine's consumer lag are printed). Prints the median and p95
per page and kind (elements of the previous page or still rerunning, marked stale by
Streamlit, do not count), the server's share (each tile's run time, from DASHBOARD_TIMINGS) and the
load average of the machine at each phase.

`--breakdown N` adds N URL loads per page and phase timed step by step, as medians in ms after
navigation start: the page shell (document, Streamlit's JavaScript from the HTTP cache, DOM
ready, its health and host-config requests), the websocket (created, open, the rerun request,
the first new_session and delta messages, the last delta before the page was ready,
script_finished), the server's script run and first tile run (DASHBOARD_TIMINGS, same
clock), the Vega chunk, and ready.

    .venv/bin/python bench/dashboard_bench.py [--seconds 40] [--rate 5000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: page -> (url path, sidebar title, charts, metrics, tables): what "every tile shows data" is
PAGES = {"overview": ("", "Overview", 1, 5, 0), "traffic": ("traffic", "Traffic", 2, 3, 0),
         "funnel": ("funnel", "Funnel", 2, 1, 1), "fraud": ("fraud", "Fraud", 2, 4, 1),
         "operations": ("operations", "Operations", 3, 4, 1)}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
READY = """([title, charts, metrics, tables]) => {
    const h1 = document.querySelector('h1');
    if (!h1 || !h1.innerText.startsWith(title)) return false;
    if (document.querySelector('[data-testid=stSkeleton]')) return false;
    const fresh = '[data-testid=stElementContainer][data-stale="false"] ';
    const n = (sel) => document.querySelectorAll(sel.split(', ').map(s => fresh + s).join(', '))
        .length;
    return n('.vega-embed canvas, .vega-embed svg.marks') >= charts
        && n('[data-testid=stMetricValue]') >= metrics
        && n('[data-testid=stDataFrame] canvas') >= tables;
}"""
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


TIMEOUTS: list[str] = []
VERBOSE = False


def _ready(page, name: str) -> None:
    """Wait until the page is loaded; a page not loaded within TIMEOUT_MS counts as that long
    (and is listed at the end)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    _path, title, charts, metrics, tables = PAGES[name]
    try:
        page.wait_for_function(READY, arg=[title, charts, metrics, tables], timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        TIMEOUTS.append(f"{name}: {page.inner_text('body')[:300]!r}")


def _note(kind: str, name: str, seconds: float) -> float:
    """One load as it happens (`--verbose`), so a run cut short still shows its figures."""
    if VERBOSE:
        print(f"    {kind:<6} {name:<11} {seconds:7.3f} s", flush=True)
    return seconds


def nav_loads(context, base: str, seconds: float) -> dict[str, list[float]]:
    """Click through the sidebar round-robin for `seconds` in one open dashboard tab."""
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    page = context.new_page()
    page.goto(base)
    _ready(page, "overview")
    current = "overview"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in [*list(PAGES)[1:], "overview"]:
            if name == current:
                continue
            link = page.locator("[data-testid=stSidebarNav]").get_by_role(
                "link", name=PAGES[name][1], exact=True)
            t0 = time.perf_counter()
            link.click()
            _ready(page, name)
            times[name].append(_note("nav", name, time.perf_counter() - t0))
            current = name
    page.close()
    return times


def url_loads(browser, context, base: str, rounds: int) -> dict[str, list[float]]:
    """Open every page's URL `rounds` times: in a new tab of `context`, or (context None) in a
    fresh browser profile each time."""
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    for _ in range(rounds):
        for name, (path, *_rest) in PAGES.items():
            ctx = context or browser.new_context()
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(f"{base}/{path}")
            _ready(page, name)
            times[name].append(_note("reload" if context else "cold", name,
                                     time.perf_counter() - t0))
            page.close()
            if context is None:
                ctx.close()
    return times


def tile_times(path: Path, since: float, until: float) -> dict[str, list[float]]:
    """Server-side run time of each page's tiles between `since` and `until` (wall clock)."""
    out: dict[str, list[float]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if since <= r["at"] <= until:
            out.setdefault(r["tile"].split(".")[0], []).append(r["seconds"])
    return out


def report(phase: str, results: dict[str, dict[str, list[float]]],
           tiles: dict[str, list[float]]) -> dict[str, float]:
    """Print per page and kind; returns the p95 over all pages per kind."""
    print(f"  {'phase':<7} {'kind':<7} {'page':<11} {'n':>3} {'median':>8} {'p95':>8}   "
          f"server: tile run median / p95")
    summary = {}
    for kind, times in results.items():
        every = [t for ts in times.values() for t in ts]
        for name, ts in times.items():
            if not ts:
                continue
            server = tiles.get(name, [])
            srv = (f"{statistics.median(server):.3f} / {p95(server):.3f} s (n={len(server)})"
                   if server and kind == "nav" else "")
            print(f"  {phase:<7} {kind:<7} {name:<11} {len(ts):>3} {statistics.median(ts):7.3f}s"
                  f" {p95(ts):7.3f}s   {srv}")
        if every:
            summary[kind] = p95(every)
            print(f"  {phase:<7} {kind:<7} {'all pages':<11} {len(every):>3} "
                  f"{statistics.median(every):7.3f}s {p95(every):7.3f}s")
    return summary


def lag(port: int) -> int | None:
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="materialize",
                             dbname="materialize", autocommit=True, connect_timeout=3) as c:
            return int(c.execute("select coalesce(sum(lag), 0) from "
                                 "mz_internal.mz_source_partition_statistics").fetchone()[0])
    except psycopg.Error:
        return None


#: init script: time every websocket message of the page (what is decoded later: its first bytes)
PROBE = """(() => {
    window.__ws = [];
    const log = (ev, n, head) => window.__ws.push({t: performance.now(), ev, n, head});
    const bytes = (d) => d instanceof ArrayBuffer ? new Uint8Array(d)
        : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null;
    const Orig = window.WebSocket;
    window.WebSocket = class extends Orig {
        constructor(...a) {
            super(...a);
            log('create', 0, []);
            this.addEventListener('open', () => log('open', 0, []));
            this.addEventListener('message', (m) => {
                const b = bytes(m.data);
                log('recv', b ? b.length : 0, b ? Array.from(b.slice(0, 96)) : []);
            });
        }
        send(d) {
            const b = bytes(d);
            log('send', b ? b.length : 0, b ? Array.from(b.slice(0, 16)) : []);
            return super.send(d);
        }
    };
})();"""
TIMELINE = """() => ({
    origin: performance.timeOrigin,
    nav: performance.getEntriesByType('navigation').map(e => ({
        response: e.responseEnd, dcl: e.domContentLoadedEventEnd, load: e.loadEventEnd}))[0],
    res: performance.getEntriesByType('resource').map(e => ({
        name: e.name, start: e.startTime, end: e.responseEnd, transfer: e.transferSize,
        body: e.decodedBodySize, type: e.initiatorType})),
    ws: window.__ws,
})"""
FORWARD = {4: "new_session", 5: "delta", 6: "script_finished", 9: "session_status",
           10: "session_event", 12: "page_info", 13: "page_config", 14: "git_info",
           18: "page_profile", 21: "auto_rerun", 23: "navigation", 28: "stop_auto_rerun"}
BACK = {11: "rerun_script", 12: "load_git_info", 17: "app_heartbeat"}


def _msg_type(head: list[int], names: dict[int, str]) -> str:
    """The message type of a ForwardMsg/BackMsg from its first bytes: its top-level fields are
    serialized in field order (1 hash, 2 metadata, then the oneof type)."""
    i = 0

    def varint():
        nonlocal i
        shift = value = 0
        while i < len(head):
            b = head[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value
        raise IndexError
    try:
        while i < len(head):
            tag = varint()
            field, wire = tag >> 3, tag & 7
            if field not in (1, 2):
                return names.get(field, f"field{field}")
            if wire == 0:
                varint()
            elif wire == 2:
                n = varint()   # (not `i += varint()`: that reads i before varint moves it)
                i += n
            else:
                return "?"
    except IndexError:
        pass
    return "?"


def breakdown_load(context, base: str, name: str, timings: Path) -> dict[str, float]:
    """One URL load in a new tab with its milestones (ms after navigation start)."""
    path, title, charts, metrics, tables = PAGES[name]
    page = context.new_page()
    page.add_init_script(PROBE)
    page.goto(f"{base}/{path}")
    ready = page.wait_for_function(f"(a) => ({READY})(a) && performance.now()",
                                   arg=[title, charts, metrics, tables], timeout=TIMEOUT_MS)
    t_ready = ready.json_value()
    tl = page.evaluate(TIMELINE)
    page.close()
    origin = tl["origin"] / 1000.0   # wall clock of navigation start (s)
    m = {"document": tl["nav"]["response"], "dom ready": tl["nav"]["dcl"]}
    shell = [r for r in tl["res"] if r["type"] in ("script", "link", "css", "other")
             and "/_stcore/" not in r["name"] and r["start"] < (m["dom ready"] + 1)]
    m["shell assets"] = max((r["end"] for r in shell), default=m["dom ready"])
    for key, part in (("health", "/_stcore/health"), ("host-config", "/_stcore/host-config")):
        hits = [r["end"] for r in tl["res"] if part in r["name"]]
        if hits:
            m[key] = min(hits)
    first = {}
    deltas = [w["t"] for w in tl["ws"] if w["ev"] == "recv"
              and _msg_type(w["head"], FORWARD) == "delta" and w["t"] <= t_ready]
    if deltas:
        m["ws last delta before ready"] = deltas[-1]
    for w in tl["ws"]:
        kind = w["ev"]
        if kind == "recv":
            kind = "recv " + _msg_type(w["head"], FORWARD)
        elif kind == "send":
            kind = "send " + _msg_type(w["head"], BACK)
        first.setdefault(kind, w["t"])
    for kind in ("create", "open", "send rerun_script", "recv new_session", "recv delta",
                 "recv script_finished"):
        if kind in first:
            m["ws " + kind] = first[kind]
    if timings.exists():
        runs = [json.loads(ln) for ln in timings.read_text().splitlines()]
        mine = [r for r in runs if origin <= r["at"] - r["seconds"]
                and r["at"] <= origin + t_ready / 1000.0]
        router = [r for r in mine if r["tile"].startswith("streamlit_app")]
        tiles = [r for r in mine if not r["tile"].startswith("streamlit_app")]
        if router:
            m["server script start"] = (router[0]["at"] - router[0]["seconds"] - origin) * 1000
            m["server script end"] = (router[0]["at"] - origin) * 1000
        if router and tiles:   # the first run's tiles (later ones: the live tiles' reruns)
            m["server tiles done"] = (max(r["at"] for r in tiles if r["at"] <= router[0]["at"])
                                      - origin) * 1000
            m["_tile runs before ready"] = len(tiles)
    vega = [r["end"] for r in tl["res"] if "embed" in r["name"] or "vega" in r["name"].lower()]
    if vega:
        m["vega chunk"] = min(vega)
    m["ready"] = t_ready
    m["_js transfer kB"] = sum(r["transfer"] for r in tl["res"]) / 1000
    m["_js decoded kB"] = sum(r["body"] for r in tl["res"]) / 1000
    m["_resources"] = len(tl["res"])
    return m


def breakdowns(context, base: str, rounds: int, timings: Path) -> None:
    """Median milestones of `rounds` URL loads per page (ms after navigation start)."""
    rows: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name in PAGES:
            for key, value in breakdown_load(context, base, name, timings).items():
                rows.setdefault(key, []).append(value)
    print(f"    reload breakdown (n={rounds * len(PAGES)}; ms after navigation start; "
          "median / p95)")
    for key, values in sorted(rows.items(), key=lambda kv: (kv[0].startswith("_"),
                                                             statistics.median(kv[1]))):
        print(f"    {key.lstrip('_'):<24} {statistics.median(values):8.0f} {p95(values):8.0f}"
              f"   n={len(values)}")


def phase(name: str, browser, context, base: str, args, timings: Path) -> dict[str, float]:
    print(f"{name}: load average {loadavg()} (1, 5, 15 min)", flush=True)
    t0 = time.time()
    results = {"nav": nav_loads(context, base, args.seconds),
               "reload": url_loads(browser, context, base, args.reloads)}
    tiles = tile_times(timings, t0, time.time())
    if args.cold:
        results["cold"] = url_loads(browser, None, base, args.cold)
    if args.breakdown:
        breakdowns(context, base, args.breakdown, timings)
    print(f"{name}: load average {loadavg()} at the end", flush=True)
    return report(name, results, tiles)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=40.0, help="sidebar clicks per phase (s)")
    ap.add_argument("--reloads", type=int, default=3, help="URL loads per page and phase")
    ap.add_argument("--cold", type=int, default=1, help="fresh-profile loads per page, phase")
    ap.add_argument("--rate", type=float, default=5000.0, help="events/s while loaded")
    ap.add_argument("--workers", type=int, default=2, help="loadgen processes")
    ap.add_argument("--breakdown", type=int, default=0,
                    help="URL loads per page and phase timed step by step (milestones)")
    ap.add_argument("--skip-idle", action="store_true", help="only the loaded phase")
    ap.add_argument("--eddy-port", type=int,
                    default=int(os.environ.get("EDDY_PORT", os.environ.get("STACK_EDDY_PORT",
                                                                           "6875"))))
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS",
                                                          "127.0.0.1:9092"))
    ap.add_argument("--topic-prefix", default=os.environ.get("LOADGEN_TOPIC_PREFIX", ""),
                    help="the prefix the engine's sources read (dbt var topic_prefix)")
    ap.add_argument("--verbose", action="store_true", help="print every load as it happens")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    try:
        with psycopg.connect(host="127.0.0.1", port=args.eddy_port, user="materialize",
                             dbname="materialize", autocommit=True, connect_timeout=3) as c:
            c.execute("select count(*) from user_sessions").fetchone()
    except psycopg.Error as e:
        print(f"error: no engine with the marts on 127.0.0.1:{args.eddy_port} ({e}); run "
              "`make demo` (or `make up` and `dbt run`) first.", file=sys.stderr)
        return 1

    from playwright.sync_api import sync_playwright

    timings = Path(tempfile.mkdtemp(prefix="dashboard-bench-")) / "tiles.jsonl"
    env = {**os.environ, "EDDY_HOST": "127.0.0.1", "EDDY_PORT": str(args.eddy_port),
           "DASHBOARD_TIMINGS": str(timings)}
    port = free_port()
    app = subprocess.Popen(
        [str(BIN / "streamlit"), "run", str(ROOT / "app" / "streamlit_app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless",
         "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gen = None
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not _accepts(port):
            if time.monotonic() > deadline or app.poll() is not None:
                print("error: streamlit did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"dashboard page loads: engine 127.0.0.1:{args.eddy_port}, streamlit {base}; "
              f"Chromium {' '.join(CHROMIUM_ARGS)}; a load is done when the page's title, "
              "charts, metrics and tables are drawn and nothing is stale", flush=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1600})
            url_loads(browser, context, base, 1)   # warm up: imports, connections, HTTP cache
            idle = {} if args.skip_idle else phase("idle", browser, context, base, args,
                                                   timings)
            lag_before = lag(args.eddy_port)
            gen = subprocess.Popen(   # until interrupted (Ctrl-C: it prints its summary)
                [str(BIN / "loadgen"), "run", "--rate", str(args.rate), "--workers",
                 str(args.workers), "--scenario", "mixed", "--bootstrap", args.bootstrap,
                 "--topic-prefix", args.topic_prefix, "--no-progress"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True)
            time.sleep(5)  # the load generator reaches its rate
            print(f"loaded: loadgen run --rate {args.rate:.0f} --workers {args.workers} "
                  f"--scenario mixed (consumer lag before: {lag_before})", flush=True)
            loaded = phase("loaded", browser, context, base, args, timings)
            lag_during = lag(args.eddy_port)
            browser.close()
        os.killpg(gen.pid, signal.SIGINT)
        try:
            summary = gen.communicate(timeout=120)[0]
        except subprocess.TimeoutExpired:   # still flushing after 2 minutes: report without it
            os.killpg(gen.pid, signal.SIGKILL)
            summary = gen.communicate()[0] + "\n(no summary: stopped after 120 s)"
        rate = [ln for ln in summary.splitlines() if "events in" in ln]
        print("load generator:", (rate or [" ".join(summary.split())[-300:]])[-1].strip())
        print(f"consumer lag of the engine at the end of the loaded phase: {lag_during} "
              "messages")
        if TIMEOUTS:
            print(f"{len(TIMEOUTS)} loads not done within {TIMEOUT_MS / 1000:.0f} s (counted "
                  "as that long):", *TIMEOUTS, sep="\n  ")
        for kind, value in loaded.items():
            base_p95 = idle.get(kind)
            vs = f" (idle {base_p95:.3f} s, {value / base_p95:.2f}x)" if base_p95 else ""
            print(f"p95 {kind:<6} loaded {value:.3f} s{vs}: "
                  f"{'<' if value < 1 else '>='} 1 s")
    finally:
        if gen is not None and gen.poll() is None:
            os.killpg(gen.pid, signal.SIGKILL)
        app.terminate()
        app.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
