"""Fixtures that bring up real hosts: Docker containers running systemd and sshd.

The session's sandbox is named ``pytest`` so that it never touches the one a person runs
with ``bin/demo``; it is removed at the end unless SNAKEPIT_KEEP_SANDBOX=1.
"""

from __future__ import annotations

import os

import pytest

from tests.integration.pyinfra_run import run_pyinfra, running_sandbox

SESSION_SANDBOX = "pytest"


# The session sandbox is read on bare hosts first, then converged; the CUDA tests bring
# their own sandbox.
MODULE_ORDER = ("test_sandbox_lifecycle", "test_sandbox_facts", "test_bad_input", "test_cluster")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the items
def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.docker)
            # With pytest-xdist (`-n 2 --dist loadgroup`, as bin/test runs), the tests of
            # one sandbox run in one worker, in order; different sandboxes run side by side.
            item.add_marker(pytest.mark.xdist_group(sandbox_group(item)))

    def rank(item) -> tuple[int, str, int]:
        module = item.module.__name__.rsplit(".", 1)[-1]
        order = MODULE_ORDER.index(module) if module in MODULE_ORDER else len(MODULE_ORDER)
        # Within a module, the order the tests are written in, also for tests imported from
        # another module (test_release.py runs test_cluster.py's in their order there).
        code = getattr(getattr(item, "function", None), "__code__", None)
        return order, item.module.__name__, code.co_firstlineno if code else 0

    items.sort(key=rank)  # stable: parametrized tests keep their order


def sandbox_group(item) -> str:
    """The sandbox an integration test uses: the session's, else its module's own (a module
    may define its own ``sandbox`` fixture, as test_release.py and test_cuda_manifest.py do)."""
    definitions = item._fixtureinfo.name2fixturedefs.get("sandbox", ())
    if definitions and definitions[-1].scope == "session":
        return SESSION_SANDBOX
    return item.module.__name__.rsplit(".", 1)[-1]


@pytest.fixture(scope="session")
def sandbox():
    yield from running_sandbox(SESSION_SANDBOX)


@pytest.fixture(scope="session")
def pyinfra(sandbox):
    """Run the pyinfra CLI against the session sandbox; returns its parsed JSON."""

    def run(*args: str, **kwargs):
        return run_pyinfra(sandbox.inventory_path, *args, **kwargs)

    return run
