"""The registry as part of the stack: `python -m stack status` names its Confluent-compatible
URL (running or not), and a Java older than 21 is refused with a message naming what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack import registry
from stack.errors import StackError

ROOT = Path(__file__).resolve().parents[2]


def status(env: dict) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STACK_")}
    done = subprocess.run([sys.executable, "-m", "stack", "status"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**base, **env})
    return done.stdout


@pytest.mark.integration
def test_status_prints_the_ccompat_url(schema_registry, tmp_path):
    s = schema_registry.settings
    env = {"STACK_DIR": str(s.state_dir), "STACK_REGISTRY_PORT": str(s.registry_port),
           "STACK_REGISTRY_MANAGEMENT_PORT": str(s.registry_management_port),
           "STACK_KAFKA_PORT": "1", "STACK_EDDY_PORT": "1"}
    line = next(ln for ln in status(env).splitlines() if ln.startswith("schema registry"))
    assert f"http://127.0.0.1:{s.registry_port}/apis/ccompat/v7" in line
    assert f"running, pid {schema_registry.pid}, answering" in line
    stopped = next(ln for ln in status({**env, "STACK_DIR": str(tmp_path)}).splitlines()
                   if ln.startswith("schema registry"))
    assert "stopped" in stopped and "make up FORMAT=avro" in stopped


def test_an_old_java_is_refused_by_name(monkeypatch, tmp_path):
    fake = tmp_path / "java"
    fake.write_text('#!/bin/sh\necho \'openjdk version "17.0.15" 2025-04-15\' >&2\n')
    fake.chmod(0o755)
    monkeypatch.setenv("STACK_REGISTRY_JAVA", str(fake))
    with pytest.raises(StackError) as e:
        registry.java()
    assert "Java 21" in str(e.value) and "STACK_REGISTRY_JAVA" in str(e.value)
