"""A pytest-xdist run (`make test`) on a private stack: its workers share one broker, owned by
the run's controller. A worker that finishes early does not stop it under the other worker,
and the run leaves no broker behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest
from helpers import ROOT, our_processes, private_env

pytestmark = pytest.mark.integration

# Each worker records the end of its session (after kafka_bootstrap's teardown) in DONE_DIR.
SUITE_CONFTEST = '''
import os
from pathlib import Path

import pytest

DONE_DIR = Path(os.environ["DONE_DIR"])


@pytest.fixture(scope="session", autouse=True)
def record_session_end():
    yield
    (DONE_DIR / os.environ.get("PYTEST_XDIST_WORKER", "serial")).touch()
'''

EARLY = '''
import os
from pathlib import Path

from stack import kafka


def test_uses_kafka_and_ends_at_once(kafka_bootstrap, stack_settings):
    Path(os.environ["PID_FILE"]).write_text(str(kafka.running_pid(stack_settings)))
'''

LATE = '''
import os
import time
from pathlib import Path

from stack import kafka


def test_uses_kafka_after_the_other_worker_ended(request, stack_settings):
    done, me = Path(os.environ["DONE_DIR"]), os.environ["PYTEST_XDIST_WORKER"]
    deadline = time.monotonic() + 120
    while not [p for p in done.iterdir() if p.name != me]:
        assert time.monotonic() < deadline, "the other worker did not finish"
        time.sleep(0.2)
    request.getfixturevalue("kafka_bootstrap")
    assert kafka.answers(stack_settings)
    early = Path(os.environ["PID_FILE"]).read_text()
    assert str(kafka.running_pid(stack_settings)) == early, "the broker was restarted"
'''


def test_two_workers_share_one_broker_until_the_run_ends(tmp_path):
    state, suite, done = tmp_path / "state", tmp_path / "suite", tmp_path / "done"
    (suite / "tests").mkdir(parents=True)
    done.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", suite / "conftest.py")
    (suite / "tests" / "conftest.py").write_text(textwrap.dedent(SUITE_CONFTEST))
    (suite / "tests" / "test_early.py").write_text(textwrap.dedent(EARLY))
    (suite / "tests" / "test_late.py").write_text(textwrap.dedent(LATE))
    env = private_env(state, DONE_DIR=str(done), PID_FILE=str(tmp_path / "early-pid"))
    env.pop("PYTEST_ADDOPTS", None)  # the outer run's options (e.g. its --junitxml) stay outside
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "base"), "-q", "tests"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "2 passed" in run.stdout
    assert sorted(p.name for p in done.iterdir()) == ["gw0", "gw1"]
    assert our_processes(state) == [], "the run left its broker running"
