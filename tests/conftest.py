"""Options for the whole test tree.

``tests/verify`` checks real hosts and is collected only when ``--inventory`` names the
pyinfra inventory to check: plain ``pytest`` and ``pytest tests/unit`` never reach a host
through it (see tests/verify/conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pyinfra_cli patches the stdlib for gevent when imported (the unit tests import it to
    # build inventories); patched under a running pytest-xdist worker, its threads block
    # forever. Tests never run pyinfra in-process (the integration tests run its CLI), so
    # the workers keep the stdlib as it is.
    from gevent import monkey

    monkey.patch_all = lambda *args, **kwargs: None

VERIFY = Path(__file__).resolve().parent / "verify"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("snakepit verify").addoption(
        "--inventory",
        metavar="INVENTORY_PY",
        help="run the read-only tests/verify checks against the hosts of this pyinfra "
        "inventory (expected values from the same group data the deploys use)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == VERIFY and not config.getoption("inventory"):
        return True
    return None
