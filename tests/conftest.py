"""Options for the whole test tree.

``tests/verify`` checks real hosts and is collected only when ``--inventory`` names the
pyinfra inventory to check: plain ``pytest`` and ``pytest tests/unit`` never reach a host
through it (see tests/verify/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
