"""The dashboard in a real headless Chromium (Playwright, Debian's /usr/bin/chromium) against
`streamlit run` over a real `eddy serve` whose marts (the platform's dbt project) are filled
by the load generator through real Kafka. Screenshots go to .stack/test-artifacts/dashboard/."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from conftest import REPO, Platform, free_port, produce_loadgen, wait_until

from loadgen.model import TOPICS
from stack import procs

pytestmark = [pytest.mark.integration, pytest.mark.browser]

BIN = Path(sys.executable).parent
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / ".stack" / "test-artifacts")) / "dashboard"
CHROMIUM = "/usr/bin/chromium"
PAGES = {"overview": "", "traffic": "traffic", "funnel": "funnel", "fraud": "fraud",
         "operations": "operations"}
# traffic first: the first load of a fresh Streamlit process is a direct page URL (with the
# pages in a pages/ folder, Streamlit showed a sidebar of its own there: "streamlit app", ...)
CHARTS = {"traffic": 2, "overview": 1, "funnel": 2, "fraud": 2, "operations": 4}
NAV = ["Overview", "Traffic", "Funnel", "Fraud", "Fraud scoring", "Operations"]


@pytest.fixture(scope="module")
def shop(kafka_bootstrap, tmp_path_factory):
    """Own topics, an engine on a fixed port, the dbt project run, and 4,000 mixed events."""
    with Platform(kafka_bootstrap, tmp_path_factory.mktemp("shop"), "dash") as p:
        produce_loadgen(kafka_bootstrap, p.prefix, p.tmp / "events.jsonl",
                        ["--events", "4000", "--rate", "25", "--seed", "5", "--scenario", "mixed",
                         "--malformed-fraction", "0.01"])
        with p.engine.connect() as conn:
            wait_until(lambda: _settled(conn), 180, 1.0, "the marts settle")
        yield p.engine, p.prefix, kafka_bootstrap


def _settled(conn, last=[]) -> bool:  # noqa: B006 - remembers the previous poll
    lag = conn.execute("select coalesce(sum(lag), 0) from "
                       "mz_internal.mz_source_partition_statistics").fetchone()[0]
    counts = conn.execute("select (select count(*) from user_sessions), "
                          "(select count(*) from page_views_per_minute)").fetchone()
    done = lag == 0 and counts[0] > 0 and last == [counts]
    last[:] = [counts]
    return done


@pytest.fixture(scope="module")
def dashboard(shop):
    engine = shop[0]
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(BIN / "streamlit"), "run", str(REPO / "app" / "streamlit_app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env={**os.environ, **engine.env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: procs.accepts("127.0.0.1", port), 60, 0.3, "streamlit listens")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 1400, "height": 2400})
    yield pg
    pg.close()


def open_page(page, base: str, name: str, charts: int, timeout: float = 180):
    """Open a page and wait until its charts are drawn (generous: the first page of a fresh
    Streamlit process imports pandas/Altair on a busy 2-core test machine)."""
    page.goto(f"{base}/{PAGES[name]}")
    try:
        page.wait_for_function(
            "n => document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks')"
            ".length >= n", arg=charts, timeout=timeout * 1000)
    except Exception:
        shot(page, f"{name}-not-rendered")
        raise AssertionError(f"{name}: charts not drawn; page text: "
                             f"{page.inner_text('body')[:1500]}") from None
    time.sleep(1.5)  # the fragments' first rerun


def metric(page, label: str) -> str:
    box = page.locator("[data-testid=stMetric]").filter(
        has=page.locator("[data-testid=stMetricLabel]", has_text=label))
    return box.locator("[data-testid=stMetricValue]").inner_text().strip()


def filter_sessions(page, user: str) -> None:
    box = page.get_by_label("Filter sessions by user id")
    box.fill(user)
    box.press("Enter")


def settle(page, timeout: float = 15) -> None:
    """Wait (best effort) until no element is stale: the last rerun has drawn everything."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # a busy machine: the screenshot shows it
        page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')",
                               timeout=timeout * 1000)


def shot(page, name: str) -> None:
    settle(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def expected(conn) -> dict:
    """What the views hold, computed here from plain reads of the marts (not the app's SQL)."""
    q = lambda s: conn.execute(s).fetchall()  # noqa: E731
    sessions = q("select session_end from user_sessions")
    newest = max(end for (end,) in sessions)
    funnel = {step: (n, start) for step, n, start in
              q("select step, sessions, conversion_from_start from funnel_conversion")}
    ato = q("select transaction_id, amount from account_takeover_alerts")
    pv = q("select window_start, views from page_views_per_minute")
    last = max(w for w, _ in pv)
    busiest = q("select user_id, count(*) from user_sessions group by user_id "
                "order by 2 desc, 1 limit 1")[0]
    return {
        "busiest_user": (busiest[0], min(busiest[1], 200)),
        "active": sum(1 for (end,) in sessions if end >= newest - dt.timedelta(minutes=30)),
        "conversion": float(funnel["purchase"][1]),
        "alerts": len(ato),
        "transactions": len({t for t, _ in ato}),
        "views_60": sum(v for w, v in pv if w > last - dt.timedelta(minutes=60)),
        "sources": len(q("select id from mz_catalog.mz_sources where type = 'kafka'")),
        "dead_letters": sum(q(f"select count(*) from src_{t}_dead_letters")[0][0]
                            for t in TOPICS),
    }


def test_every_page_shows_charts_and_the_figures_the_views_hold(shop, dashboard, page):
    engine = shop[0]
    with engine.connect() as conn:
        want = expected(conn)
    assert want["alerts"] > 0 and want["views_60"] > 0
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    for name, charts in CHARTS.items():
        open_page(page, dashboard, name, charts)
        assert page.locator("[data-testid=stException]").count() == 0, name
        nav = page.locator("[data-testid=stSidebarNav] a").all_inner_texts()
        assert [t.split("\n")[-1].strip() for t in nav] == NAV, f"{name}: sidebar {nav}"
        text = page.inner_text("body")
        for problem in ("Engine unreachable", "Not available yet", "rejected a query"):
            assert problem not in text, f"{name}: {text[:3000]}"
        if name == "overview":
            assert metric(page, "Active sessions") == f"{want['active']:,}"
            assert metric(page, "Conversion rate") == f"{want['conversion']:.1%}"
        elif name == "traffic":
            assert metric(page, "Page views") == f"{want['views_60']:,}"
        elif name == "funnel":
            assert metric(page, "Sessions that purchased") == f"{want['conversion']:.2%}"
            user, n = want["busiest_user"]
            filter_sessions(page, user)
            page.get_by_text(f"{n:,} sessions of user {user}").wait_for(timeout=20_000)
            filter_sessions(page, "no-such-user")
            page.get_by_text("No sessions of user no-such-user").wait_for(timeout=20_000)
            settle(page)
            # the sessions tile shows the filtered user's (no) rows, not the previous ones
            assert page.locator("[data-testid=stDataFrame]").count() == 0
        elif name == "fraud":
            assert metric(page, "Alerts") == f"{want['alerts']:,}"
            assert metric(page, "Transactions") == f"{want['transactions']:,}"
        elif name == "operations":
            assert metric(page, "Sources running") == f"{want['sources']} / {want['sources']}"
            assert metric(page, "Dead letters") == f"{want['dead_letters']:,}"
            page.get_by_text("Newest dead letters of").first.wait_for(timeout=30_000)
            time.sleep(6)  # the slower dead-letter tile has drawn its samples
            text = page.inner_text("body")
            assert "Not available yet" not in text and "rejected a query" not in text, text
        shot(page, name)
    assert errors == []


def test_a_live_tile_changes_within_seconds_of_new_events(shop, dashboard, page):
    engine, prefix, bootstrap = shop
    active = "select count(*) from user_sessions where session_end >= %s"
    with engine.connect() as conn:
        newest = conn.execute("select max(session_end) from user_sessions").fetchone()[0]
        view_before = conn.execute(active, [newest - dt.timedelta(minutes=30)]).fetchone()[0]
    open_page(page, dashboard, "overview", 1)
    before = int(metric(page, "Active sessions").replace(",", ""))
    assert before == view_before
    click = {"event_id": str(uuid.uuid4()),
             "event_time": newest.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
             "user_id": "live-tile-user", "event_type": "page_view", "page_url": "/",
             "product_id": None, "referrer": None, "user_agent": "test", "country": "DE"}
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(prefix + "clicks", key=b"live-tile-user", value=json.dumps(click).encode())
    assert producer.flush(30) == 0
    sent = time.monotonic()
    seen: dict[str, float] = {}
    with engine.connect() as conn:

        def changed():
            now = time.monotonic()
            if "view" not in seen and conn.execute(
                    active, [newest - dt.timedelta(minutes=30)]).fetchone()[0] == before + 1:
                seen["view"] = now
            if "tile" not in seen and metric(page, "Active sessions") == f"{before + 1:,}":
                seen["tile"] = now
            return len(seen) == 2

        wait_until(changed, 60, 0.05, f"the view and the tile count the new session {seen}")
    lag = seen["tile"] - seen["view"]
    print(f"view changed {seen['view'] - sent:.1f} s after the event was produced; "
          f"the live tile {lag:.1f} s after the view")
    assert lag <= 3.0, f"the live tile showed the change {lag:.1f} s after the view had it"
    shot(page, "overview-live")


def test_engine_unreachable_state_and_recovery(shop, dashboard, page):
    engine = shop[0]
    open_page(page, dashboard, "fraud", 2)
    engine.stop()
    try:
        page.get_by_text("Engine unreachable").first.wait_for(timeout=30_000)
        assert page.locator("[data-testid=stException]").count() == 0
        shot(page, "fraud-engine-unreachable")
    finally:
        engine.start()
    wait_until(lambda: page.get_by_text("Engine unreachable").count() == 0, 60, 0.5,
               "the page recovers by itself")
    page.locator("[data-testid=stMetric]").first.wait_for(timeout=30_000)
    shot(page, "fraud-recovered")
