"""Setup problems end in one clear paragraph naming the fix, never a traceback."""

from __future__ import annotations

import shutil
import socket

import pytest
from helpers import our_processes, private_env, stack_cli

from stack import engine


def _assert_clear(result, *needles: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ")
    for needle in needles:
        assert needle in result.stderr, result.stderr


def _path_with(tmp_path, *commands: str) -> str:
    """A PATH holding only the venv's tools and the named system commands."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for cmd in commands:
        (bindir / cmd).symlink_to(shutil.which(cmd))
    return f"{bindir}"


def test_missing_java_says_how_to_install(tmp_path):
    env = private_env(tmp_path / "state", PATH=_path_with(tmp_path, "mvn"))
    result = stack_cli(env, "up", "--kafka-only")
    _assert_clear(result, "Java", "apt-get install openjdk-17-jre-headless maven")
    assert our_processes(tmp_path) == []


def test_missing_maven_says_how_to_install(tmp_path):
    env = private_env(tmp_path / "state", PATH=_path_with(tmp_path, "java"),
                      STACK_JARS_DIR=str(tmp_path / "jars"))
    result = stack_cli(env, "up", "--kafka-only")
    _assert_clear(result, "Maven", "apt-get install openjdk-17-jre-headless maven")


def test_unresolvable_jars_are_reported(tmp_path):
    """Maven offline with an empty local repository cannot resolve anything."""
    empty_repo = tmp_path / "m2"
    empty_repo.mkdir()
    env = private_env(tmp_path / "state", STACK_JARS_DIR=str(tmp_path / "jars"),
                      STACK_MAVEN_ARGS=f"-o -Dmaven.repo.local={empty_repo}")
    result = stack_cli(env, "up", "--kafka-only")
    _assert_clear(result, "Maven could not resolve Kafka's jars", "maven-dependency-plugin",
                  "repo.maven.apache.org")
    assert our_processes(tmp_path) == []


@pytest.fixture
def taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_kafka_port_taken_names_the_port(tmp_path, taken_port):
    env = private_env(tmp_path / "state", STACK_KAFKA_PORT=str(taken_port))
    result = stack_cli(env, "up")
    _assert_clear(result, f"Port {taken_port}", "Kafka")
    assert our_processes(tmp_path) == []


@pytest.mark.skipif(not engine.available(), reason="the engine CLI does not exist yet")
def test_engine_port_taken_names_the_port_and_starts_nothing(tmp_path, taken_port):
    env = private_env(tmp_path / "state", STACK_EDDY_PORT=str(taken_port))
    result = stack_cli(env, "up")
    _assert_clear(result, f"Port {taken_port}", "eddy")
    assert our_processes(tmp_path) == []
