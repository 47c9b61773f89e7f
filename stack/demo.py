"""`make demo`: bring the stack up, then run every part of the platform that exists so far in the
foreground, print where to look, and on Ctrl-C stop all of it (what `make down` does included).

Extension point: PARTS below. Each part is a command run from the repository root, either
one-shot (run to completion in order, e.g. `dbt run`) or long-running (kept up until Ctrl-C,
e.g. the load generator and the dashboard). A part whose `present` check fails is listed as
"not available yet" and skipped. Output of long-running parts goes to .stack/logs/<name>.log.
Every part gets EDDY_HOST, EDDY_PORT and KAFKA_BOOTSTRAP_SERVERS in its environment.
Ports: STACK_API_PORT (mock API, 8088), STACK_APP_PORT (dashboard, 8501); STACK_LOADGEN_RATE.
The alerting process (`python -m app.alerts`) posts to SLACK_WEBHOOK_URL when it is set.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack import control, engine, procs
from stack.errors import StackError
from stack.settings import HOST, ROOT, Settings

BIN = Path(sys.executable).parent
APP_PORT = int(os.environ.get("STACK_APP_PORT", "8501"))
API_PORT = int(os.environ.get("STACK_API_PORT", "8088"))
LOADGEN_RATE = os.environ.get("STACK_LOADGEN_RATE", "50")
PORT_TIMEOUT = 60.0


def _module(name: str) -> Callable[[Settings], bool]:
    def present(_s: Settings) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ImportError:
            return False
    return present


def _engine_up(s: Settings) -> bool:
    return engine.running_pid(s) is not None


@dataclass(frozen=True)
class Part:
    """One piece of the demo. `port`: wait until it accepts there before the next part starts."""

    name: str
    argv: Callable[[Settings], list[str]]
    present: Callable[[Settings], bool]
    oneshot: bool = False
    port: int | None = None
    port_setting: str = ""
    url: str | None = None


PARTS: tuple[Part, ...] = (
    Part("dbt run",
         lambda s: [str(BIN / "dbt"), "run", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT)],
         present=lambda s: (ROOT / "dbt_project.yml").exists() and _engine_up(s), oneshot=True),
    Part("loadgen-api",
         lambda s: [str(BIN / "loadgen"), "api", "--host", HOST, "--port", str(API_PORT),
                    "--bootstrap", s.bootstrap],
         present=_module("loadgen.api"), port=API_PORT,
         port_setting="STACK_API_PORT", url=f"http://{HOST}:{API_PORT}/health"),
    Part("loadgen",
         lambda s: [str(BIN / "loadgen"), "run", "--via", "api", "--api-url",
                    f"http://{HOST}:{API_PORT}", "--rate", LOADGEN_RATE, "--scenario", "mixed",
                    "--no-progress"],
         present=_module("loadgen.cli")),
    Part("dashboard",
         lambda s: [str(BIN / "streamlit"), "run", str(ROOT / "app" / "streamlit_app.py"),
                    "--server.address", HOST, "--server.port", str(APP_PORT),
                    "--server.headless", "true", "--browser.gatherUsageStats", "false"],
         present=lambda s: (ROOT / "app" / "streamlit_app.py").exists(), port=APP_PORT,
         port_setting="STACK_APP_PORT", url=f"http://{HOST}:{APP_PORT}"),
    Part("alerts",
         lambda s: [sys.executable, "-m", "app.alerts"],  # state: $STACK_DIR/alerts.sqlite
         present=_module("app.alerts"),
         url=("Slack (SLACK_WEBHOOK_URL); deliveries on the dashboard's Operations page"
              if os.environ.get("SLACK_WEBHOOK_URL") else
              "no SLACK_WEBHOOK_URL: alerts go to .stack/logs/alerts.log")),
    Part("scoring",
         lambda s: [sys.executable, "-m", "app.scoring", "--bootstrap", s.bootstrap],
         present=_module("app.scoring"),
         url="decisions in topic transaction_decisions; the dashboard's Fraud scoring page"),
)


def _env(s: Settings) -> dict[str, str]:
    """What the parts need to find the stack (names used by profiles.yml and the parts' CLIs)."""
    # KAFKA_BOOTSTRAP is the dbt project's (`kafka_broker`): without it dbt's sources read
    # 127.0.0.1:9092 whatever Kafka the stack runs
    return {**os.environ, "EDDY_HOST": HOST, "EDDY_PORT": str(s.eddy_port),
            "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap, "KAFKA_BOOTSTRAP": s.bootstrap,
            "PYTHONUNBUFFERED": "1"}


def _wait_port(part: Part, pid: int, log: Path) -> None:
    deadline = time.monotonic() + PORT_TIMEOUT
    while not procs.accepts(HOST, part.port):
        if not procs.alive(pid):
            raise StackError(f"{part.name} exited during startup; last lines of {log}:\n"
                             f"{procs.log_tail(log)}")
        if time.monotonic() > deadline:
            raise StackError(f"{part.name} did not listen on {HOST}:{part.port} within "
                             f"{PORT_TIMEOUT:.0f} s; see {log}.")
        time.sleep(0.2)


class _Stop(Exception):
    pass


def _on_signal(signum, _frame):
    raise _Stop()


def run(s: Settings, parts: tuple[Part, ...] = PARTS) -> int:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    running: dict[str, int] = {}
    try:
        control.up(s)
        for part in parts:
            if not part.present(s):
                print(f"- {part.name}: not available yet, skipped")
            elif part.oneshot:
                print(f"- {part.name} ...", flush=True)
                rc = subprocess.run(part.argv(s), cwd=ROOT, env=_env(s), stdin=subprocess.DEVNULL).returncode
                if rc != 0:
                    raise StackError(f"`{part.name}` failed (exit code {rc}); see its output above.")
            else:
                log = s.logs_dir / f"{part.name.replace(' ', '-')}.log"
                if part.port is not None:
                    procs.require_free(HOST, part.port, part.name, part.port_setting)
                running[part.name] = procs.spawn(part.argv(s), log, cwd=ROOT, env=_env(s))
                print(f"- {part.name}: started (pid {running[part.name]}), log {log}", flush=True)
                if part.port is not None:
                    _wait_port(part, running[part.name], log)
        print("\nThe platform is up:")
        print(f"  Kafka            {s.bootstrap}   (kcat -b {s.bootstrap} -L)")
        if _engine_up(s):
            print(f"  eddy (Postgres)  postgresql://materialize@{HOST}:{s.eddy_port}/materialize   "
                  f"(psql -h {HOST} -p {s.eddy_port} -U materialize materialize)")
        for part in parts:
            if part.url and part.name in running:
                print(f"  {part.name:<16} {part.url}")
        print("Press Ctrl-C to stop everything.", flush=True)
        while True:
            for name, pid in list(running.items()):
                if not procs.alive(pid):
                    print(f"! {name} exited; see {s.logs_dir}/{name.replace(' ', '-')}.log", flush=True)
                    del running[name]
            time.sleep(0.5)
    except _Stop:
        print("\nStopping ...", flush=True)
        return 0
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # finish cleaning up even on a second Ctrl-C
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for name, pid in reversed(running.items()):  # consumers of a part stop before it
            procs.terminate(pid, 10)
            print(f"{name} stopped.")
        try:
            control.down(s)
        except StackError as e:
            print(f"error: {e}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run(Settings.from_env()))
