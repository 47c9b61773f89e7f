"""Dashboard page loads (headless Chromium) idle and while the load generator sends events.

Needs a running engine with the marts (`make demo`, or `make up` and `dbt run`). Starts its own
`streamlit run app/streamlit_app.py` on a free port, opens every page in turn and times it from
navigation until all of the page's charts are drawn; first with the load generator idle (the
baseline), then while `loadgen run --rate R` sends to Kafka. Prints per page and overall the
median and p95 of both phases.

    .venv/bin/python bench/dashboard_bench.py [--seconds 30] [--rate 5000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PAGES = {"overview": ("", 1), "traffic": ("traffic", 2), "funnel": ("funnel", 2),
         "fraud": ("fraud", 2), "operations": ("operations", 4)}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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


def load_pages(browser, base: str, seconds: float) -> dict[str, list[float]]:
    """Open the pages round-robin for `seconds`; each load in a fresh browser tab."""
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, (path, charts) in PAGES.items():
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            t0 = time.perf_counter()
            page.goto(f"{base}/{path}")
            page.wait_for_function(
                "n => document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks')"
                ".length >= n", arg=charts, timeout=60_000)
            times[name].append(time.perf_counter() - t0)
            page.close()
    return times


def report(label: str, times: dict[str, list[float]]) -> list[float]:
    every = [t for ts in times.values() for t in ts]
    for name, ts in times.items():
        print(f"  {label:<7} {name:<11} n={len(ts):<3} median {statistics.median(ts):6.3f} s"
              f"   p95 {p95(ts):6.3f} s")
    print(f"  {label:<7} {'all pages':<11} n={len(every):<3} median "
          f"{statistics.median(every):6.3f} s   p95 {p95(every):6.3f} s")
    return every


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="per phase")
    ap.add_argument("--rate", type=float, default=5000.0, help="events/s while loaded")
    ap.add_argument("--workers", type=int, default=2, help="loadgen processes")
    ap.add_argument("--eddy-port", type=int,
                    default=int(os.environ.get("EDDY_PORT", os.environ.get("STACK_EDDY_PORT",
                                                                           "6875"))))
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS",
                                                          "127.0.0.1:9092"))
    ap.add_argument("--topic-prefix", default=os.environ.get("LOADGEN_TOPIC_PREFIX", ""),
                    help="the prefix the engine's sources read (dbt var topic_prefix)")
    args = ap.parse_args()
    env = {**os.environ, "EDDY_HOST": "127.0.0.1", "EDDY_PORT": str(args.eddy_port)}
    try:
        with psycopg.connect(host="127.0.0.1", port=args.eddy_port, user="materialize",
                             dbname="materialize", autocommit=True, connect_timeout=3) as c:
            c.execute("select count(*) from user_sessions").fetchone()
    except psycopg.Error as e:
        print(f"error: no engine with the marts on 127.0.0.1:{args.eddy_port} ({e}); run "
              "`make demo` (or `make up` and `dbt run`) first.", file=sys.stderr)
        return 1

    from playwright.sync_api import sync_playwright

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
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            load_pages(browser, base, 1)  # warm up: imports, first connections
            print(f"dashboard page loads ({args.seconds:.0f} s per phase; "
                  f"engine 127.0.0.1:{args.eddy_port})")
            idle = report("idle", load_pages(browser, base, args.seconds))
            gen = subprocess.Popen(
                [str(BIN / "loadgen"), "run", "--rate", str(args.rate), "--duration",
                 str(args.seconds + 8), "--workers", str(args.workers), "--scenario", "mixed",
                 "--bootstrap", args.bootstrap, "--topic-prefix", args.topic_prefix,
                 "--no-progress"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(5)  # the load generator reaches its rate
            loaded = report("loaded", load_pages(browser, base, args.seconds))
            browser.close()
        summary = gen.communicate(timeout=300)[0]
        print("load generator:", " ".join(summary.split())[-400:])
        print(f"p95 loaded / idle: {p95(loaded) / p95(idle):.2f}x; "
              f"loaded p95 {'<' if p95(loaded) < 1 else '>='} 1 s")
    finally:
        if gen is not None and gen.poll() is None:
            gen.kill()
        app.terminate()
        app.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
