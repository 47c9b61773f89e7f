"""The peers phases of the marts benchmark: Flink SQL and Pathway on the same topics, in the same
run, never beside the engine (see bench/peers/harness.py for what is measured and how)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

from marts_probe import percentile
from peers.harness import PEER_TOPICS, MarkerRun, Peer, click_stats, reflected

SEMANTICS = {
    "eddy": "late events update their window; duplicates (same event_id) count once",
    "flink": "events behind the watermark (largest event time - 1 s) are dropped; duplicates "
             "count; a window's row appears when the watermark passes its end",
    "pathway": "late events update their window (no cutoff); duplicates count once",
}
MARTS = {
    "flink": "page views per minute (TUMBLE window TVF), user sessions (SESSION window TVF "
             "partitioned by user)",
    "pathway": "page views per minute (tumbling windowby per page), user sessions (session "
               "windowby per user, max gap 30 min)",
}


def peers_throughput(bench, names: list[str], say) -> dict[str, Peer]:
    """Each peer's bounded run over the messages the topics hold now (the engine's history,
    while the engine is stopped): bench.out[<peer>_events_per_s]. The peers that ran."""
    detail = bench.detail.setdefault("peers", {})
    logs = bench.work / "peers"
    logs.mkdir(exist_ok=True)
    import stack
    stack.create_topics(bench.bootstrap, bench.output_topics, partitions=1)
    ran = {}
    for name in names:
        info = detail.setdefault(name, {"marts": MARTS[name], "semantics": SEMANTICS[name]})
        with _failure(bench, name, info, say):
            say(f"peer {name}: setting up its venv (first run installs it)")
            peer = Peer(name, bench.bootstrap, bench.prefix, logs)
            _throughput(bench, peer, info, say)
            ran[name] = peer
    return ran


def peers_freshness(bench, peers: dict[str, Peer], say) -> None:
    """Each peer streaming while loadgen sends at the engine's steady rate:
    bench.out[<peer>_freshness_p99_ms]."""
    for name, peer in peers.items():
        with _failure(bench, name, bench.detail["peers"][name], say):
            _freshness(bench, peer, bench.detail["peers"][name], say)


@contextlib.contextmanager
def _failure(bench, name: str, info: dict, say):
    try:
        yield
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        info["error"] = str(exc)[-3000:]
        bench.notes.append(f"peer {name} could not run: {str(exc).splitlines()[0][:300]} "
                           f"(details in .bench/latest.json)")
        say(f"[red]peer {name} failed:[/] {str(exc)[-800:]}")


def _messages(bench) -> int:
    from marts_env import end_offsets
    topics = [bench.prefix + t for t in PEER_TOPICS]
    return sum(end_offsets(bench.bootstrap, topics).values())


def _throughput(bench, peer: Peer, info: dict, say) -> None:
    messages = _messages(bench)
    say(f"peer {peer.name}: bounded run over {messages:,} messages of {', '.join(PEER_TOPICS)}")
    t0 = time.perf_counter()
    got = peer.static(timeout=bench.args.peer_timeout)
    wall = time.perf_counter() - t0
    rate = messages / got["seconds"]
    bench.out[f"{peer.name}_events_per_s"] = rate
    stats = click_stats(bench.bootstrap, bench.prefix)
    views = peer.flink_views() if peer.name == "flink" else got["views"]
    info.update({"messages": messages, "seconds": got["seconds"], "process_seconds": wall,
                 "clicks": reflected(views, stats, dedup=peer.name != "flink")})
    say(f"peer {peer.name}: {rate:,.0f} messages/s ({got['seconds']:.1f} s in the job, "
        f"{wall:.1f} s with start-up); clicks reflected {views:,} of "
        f"{info['clicks']['expected']:,}")


def _freshness(bench, peer: Peer, info: dict, say) -> None:
    a = bench.args
    run = MarkerRun(peer)
    try:
        say(f"peer {peer.name}: streaming from the latest offset; waiting until it shows a "
            f"first marker (a marker a second until then)")
        t0 = time.perf_counter()
        if not run.wait_ready(timeout=a.peer_timeout):
            raise RuntimeError(f"{peer.name} streaming job showed no marker within "
                               f"{a.peer_timeout:.0f} s (exit {run.proc.poll()}); see "
                               f"{run.err.name}")
        info["start_seconds"] = time.perf_counter() - t0
        gen = bench.loadgen(a.rate, a.duration)
        urls = []
        end = time.perf_counter() + a.duration
        while time.perf_counter() < end:
            urls.append(run.mark(len(urls)))
            time.sleep(0.5)
        gen.wait(timeout=a.duration + 120)
        last = urls[-1]
        # Flink closes a window when the watermark passes its end: keep the event time moving
        deadline = time.perf_counter() + a.settle + 70
        while time.perf_counter() < deadline and not all(u in run.seen for u in urls):
            if peer.name == "flink":
                run.mark("tick")
            time.sleep(0.5)
        lat = run.latencies_ms(urls, time.time())
        bench.out[f"{peer.name}_freshness_p99_ms"] = percentile(lat, 0.99)
        info.update({"freshness_p50_ms": percentile(lat, 0.5), "markers": len(urls),
                     "markers_missing": sum(u not in run.seen for u in urls),
                     "last_marker_seen": last in run.seen})
        say(f"peer {peer.name}: freshness p50 {info['freshness_p50_ms'] or 0:,.0f} ms, p99 "
            f"{bench.out[f'{peer.name}_freshness_p99_ms'] or 0:,.0f} ms over {len(urls)} markers "
            f"({info['markers_missing']} never seen)")
    finally:
        run.stop()


def eddy_reflected(bench, snapshot: dict, upto: dict) -> None:
    """The engine's page-views mart against the clicks it held at the snapshot."""
    if not snapshot or "page_views_per_minute" not in snapshot:
        return
    clicks = bench.prefix + "clicks"
    parts = {p: o for (t, p), o in upto.items() if t == clicks}
    stats = click_stats(bench.bootstrap, bench.prefix, parts)
    views = sum(int(r[2]) for r in snapshot["page_views_per_minute"])
    bench.detail.setdefault("peers", {})["eddy"] = {
        "semantics": SEMANTICS["eddy"], "clicks": reflected(views, stats, dedup=True)}


def peer_dirs() -> list[Path]:
    from peers import setup
    return [setup.venv(p) for p in setup.PINS]
