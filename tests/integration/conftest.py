"""Fixtures that bring up real hosts: Docker containers running systemd and sshd.

The session's sandbox is named ``pytest`` so that it never touches the one a person runs
with ``bin/demo``; it is removed at the end unless SNAKEPIT_KEEP_SANDBOX=1.
"""

from __future__ import annotations

import os

import pytest

from snakepit.sandbox.cluster import Sandbox
from tests.integration.pyinfra_run import run_pyinfra

SESSION_SANDBOX = "pytest"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def sandbox():
    cluster = Sandbox(SESSION_SANDBOX)
    cluster.up(workers=2)
    yield cluster
    if os.environ.get("SNAKEPIT_KEEP_SANDBOX") != "1":
        cluster.down()


@pytest.fixture(scope="session")
def pyinfra(sandbox):
    """Run the pyinfra CLI against the session sandbox; returns its parsed JSON."""

    def run(*args: str, **kwargs):
        return run_pyinfra(sandbox.inventory_path, *args, **kwargs)

    return run
