"""Fixtures: a real `eddy serve` subprocess on a free loopback port with a temporary data dir."""

from __future__ import annotations

import uuid

import pytest
from eddyproc import EddyProcess


@pytest.fixture(scope="session")
def eddy(tmp_path_factory):
    server = EddyProcess(tmp_path_factory.mktemp("eddy-data"))
    yield server
    server.stop()


@pytest.fixture
def schema(eddy):
    """A fresh schema for one test, so tests sharing the server do not collide."""
    name = "t_" + uuid.uuid4().hex[:10]
    with eddy.connect() as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return name
