"""`dbt run` of the project against a fresh `eddy serve` and real Kafka: how long an analytics
engineer waits.

Each round starts an engine on an empty data dir, creates the topics under a fresh prefix and
runs `dbt run` once. Printed per checkout: the median wall time of `dbt run` (parsing
included), the median of dbt's own elapsed time for the models (run_results.json), and the
slowest models. `--baseline PATH` runs another checkout of the repository (e.g. a `git
worktree` of an older commit) in the same rounds, interleaved, so that both see the same load.

    .venv/bin/python bench/dbt_run_bench.py --rounds 3 [--baseline /tmp/old-checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from loadgen.model import TOPICS  # noqa: E402
from stack import Settings, shared  # noqa: E402
from stack.topics import create_topics, delete_topics  # noqa: E402

BIN = Path(sys.executable).parent


def one_run(checkout: Path, bootstrap: str, work: Path) -> dict:
    """Engine + topics + `dbt run` of `checkout`'s project; timings."""
    prefix = f"dbtb{uuid.uuid4().hex[:8]}_"
    names = [prefix + t for t in TOPICS]
    create_topics(bootstrap, names)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    eddy = subprocess.Popen(
        [sys.executable, "-m", "eddy.cli", "--log-level", "WARNING", "serve", "--port", "0",
         "--data-dir", str(work / "eddy")],
        cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        for line in eddy.stdout:
            if m := re.search(r"listening on 127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
                break
        if port is None:
            raise SystemExit(f"eddy serve of {checkout} did not start")
        dbt_env = {**env, "EDDY_PORT": str(port), "KAFKA_BOOTSTRAP": bootstrap,
                   "DBT_PROFILES_DIR": str(checkout), "DBT_TARGET_PATH": str(work / "target"),
                   "DBT_LOG_PATH": str(work / "logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        t0 = time.monotonic()
        r = subprocess.run([str(BIN / "dbt"), "run", "--project-dir", str(checkout),
                            "--vars", json.dumps({"topic_prefix": prefix})],
                           capture_output=True, text=True, env=dbt_env, timeout=1800)
        wall = time.monotonic() - t0
        if r.returncode:
            raise SystemExit(f"dbt run failed:\n{r.stdout[-4000:]}")
        results = json.loads((work / "target" / "run_results.json").read_text())
        models = {res["unique_id"].split(".")[-1]: res["execution_time"]
                  for res in results["results"]}
        return {"wall": wall, "elapsed": results["elapsed_time"], "models": models}
    finally:
        eddy.send_signal(signal.SIGTERM)
        try:
            eddy.wait(60)
        except subprocess.TimeoutExpired:
            eddy.kill()
        delete_topics(bootstrap, names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="another checkout, run in the same rounds")
    args = ap.parse_args()
    checkouts = {"this": REPO} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    settings = Settings.from_env()
    started = shared.acquire(settings)
    runs: dict[str, list[dict]] = {k: [] for k in checkouts}
    try:
        for i in range(args.rounds):
            for label, checkout in checkouts.items():
                with tempfile.TemporaryDirectory(prefix="dbt-bench-") as tmp:
                    load = os.getloadavg()[0]
                    run = one_run(checkout, settings.bootstrap, Path(tmp))
                    runs[label].append(run)
                    print(f"round {i + 1} {label:8} dbt run {run['wall']:6.1f} s "
                          f"(models {run['elapsed']:6.1f} s, load average {load:.1f})", flush=True)
    finally:
        shared.release(settings, started)
    print()
    for label, rs in runs.items():
        slowest = sorted(rs[-1]["models"].items(), key=lambda kv: -kv[1])[:5]
        print(f"{label:8} median dbt run {statistics.median(r['wall'] for r in rs):6.1f} s, "
              f"models {statistics.median(r['elapsed'] for r in rs):6.1f} s; slowest: "
              + ", ".join(f"{m} {t:.1f} s" for m, t in slowest))


if __name__ == "__main__":
    main()
