"""The layout is the architecture: the pure core imports no pyinfra, Docker or glue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = sorted((REPO / "snakepit").rglob("*.py"))
# What the core must not import: the pyinfra layer, Docker, and our own glue and tooling.
FORBIDDEN = ("pyinfra", "pyinfra_cli", "docker", "gevent", "paramiko")
FORBIDDEN_OURS = ("facts", "operations", "deploys", "glue", "tools", "tests")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=[str(p.relative_to(REPO)) for p in CORE])
def test_core_module_imports_nothing_from_pyinfra_docker_or_glue(path):
    bad = {
        name for name in imported_modules(path) if name.split(".")[0] in FORBIDDEN + FORBIDDEN_OURS
    }
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def test_deploys_never_read_host_data_directly():
    # One route for data: the validated model (glue/loading.py builds it).
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "deploys").rglob("*.py"))
        if "host.data" in path.read_text()
    ]
    assert offenders == []
