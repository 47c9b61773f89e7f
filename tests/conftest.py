"""Shared fixtures: a real local Kafka (started through `stack` when needed) and test topics."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

# pytest puts tests/ first on sys.path, where tests/stack/ would shadow the `stack` package
# (the editable install's finder runs after the path scan): make the repository root win.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import stack  # noqa: E402
from stack import shared  # noqa: E402


@pytest.fixture(scope="session")
def stack_settings() -> stack.Settings:
    """The project's stack settings (`.stack/`, 127.0.0.1:9092, engine port 6875)."""
    return stack.Settings.from_env()


# The controller of a pytest-xdist run holds the Kafka lease for the whole run (its workers
# finish at different times and must not stop the broker under each other); they learn its pid
# from this variable, set before they are spawned.
HOLDER = "EDDY_TESTS_KAFKA_HOLDER"


def _is_xdist_controller(config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    if _is_xdist_controller(session.config):
        shared.hold(stack.Settings.from_env())
        os.environ[HOLDER] = str(os.getpid())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    """The controller, once every worker is done: stop Kafka if a worker started it for this
    run and no other session (nor `make up`) uses it."""
    if _is_xdist_controller(session.config) and os.environ.get(HOLDER) == str(os.getpid()):
        del os.environ[HOLDER]
        shared.release(stack.Settings.from_env())


@pytest.fixture(scope="session")
def kafka_bootstrap(request, stack_settings) -> str:
    """"127.0.0.1:9092" with Kafka answering and the contract topics created. Starts Kafka if
    needed; stops it at session end only if this session started it and no other test session
    still uses it (under pytest-xdist: at the end of the whole run, by its controller)."""
    holder = os.environ.get(HOLDER) if hasattr(request.config, "workerinput") else None
    started = shared.acquire(stack_settings, holder=int(holder) if holder else None)
    stack.create_topics(stack_settings.bootstrap, stack.CONTRACT_TOPICS,
                        partitions=stack_settings.partitions)
    yield stack_settings.bootstrap
    if holder is None:
        shared.release(stack_settings, started)


# The slowest modules (minutes each: a whole `dbt run`, Kafka soaks, a browser), started first
# so that the two workers of `make test` do not end with one of them alone on a long module.
SLOW_FIRST = (
    "tests/avro/", "tests/platform/test_marts_dbt.py", "tests/clients/test_client_dbt.py",
    "tests/scoring/test_scoring_pipeline.py", "tests/platform/test_staging_pipeline.py",
    "tests/app/test_dashboard_browser.py", "tests/stack/test_demo.py",
    "tests/platform/test_marts_pipeline.py", "tests/app/test_alerts_pipeline.py",
    "tests/platform/test_cross_engine.py", "tests/compat/test_slt.py",
)


def _rank(module: str) -> int:
    return next((i for i, p in enumerate(SLOW_FIRST) if module.startswith(p)), len(SLOW_FIRST))


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test`: `--dist loadfile`, each test module whole on one worker,
    its module fixtures set up once) the slowest modules come first: the workers collect, in
    the order the controller hands out modules (a stable sort: the order inside a module is
    kept). Not `--dist loadgroup`: with pytest 9 its group suffix is lost (xdist 3.8 sets
    `item._nodeid`, which pytest 9 no longer reads), so it ran test by test."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: _rank(item.nodeid.split("::")[0]))


@pytest.fixture
def make_topic(kafka_bootstrap):
    """Factory `make_topic(prefix="test", partitions=3) -> name`: creates a uniquely named topic
    (ready for producing) and deletes every topic it made when the test ends."""
    made: list[str] = []

    def _make(prefix: str = "test", partitions: int = 3) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        stack.create_topics(kafka_bootstrap, [name], partitions=partitions)
        made.append(name)
        return name

    yield _make
    stack.delete_topics(kafka_bootstrap, made)


@pytest.fixture
def kafka_topic(make_topic) -> str:
    """One fresh, uniquely named 3-partition topic."""
    return make_topic()
