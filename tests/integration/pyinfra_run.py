"""Run the real pyinfra CLI as an admin would, and read its JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.sandbox.cluster import Sandbox

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PyinfraResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


def run_pyinfra(
    inventory: Path, *args: str, check: bool = True, json_output: bool = True, timeout: int = 900
) -> PyinfraResult:
    command = [sys.executable, "-m", "pyinfra", str(inventory), *args]
    if json_output:
        command.append("--json")
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    result = PyinfraResult(done.returncode, done.stdout, done.stderr)
    if check and done.returncode != 0:
        raise AssertionError(
            f"pyinfra {' '.join(args)} exited {done.returncode}\n"
            f"--- stderr (tail) ---\n{done.stderr[-4000:]}\n--- stdout (tail) ---\n"
            f"{done.stdout[-2000:]}"
        )
    return result


def running_sandbox(name: str, workers: int = 2, release: str | None = None):
    """Yield a sandbox that is up; remove it afterwards unless SNAKEPIT_KEEP_SANDBOX=1.

    For pytest fixtures: ``yield from running_sandbox("name")``. $SNAKEPIT_SANDBOX_PREFIX is
    put before the name, so that runs from several checkouts on one machine never share one.
    """
    sandbox = Sandbox(os.environ.get("SNAKEPIT_SANDBOX_PREFIX", "") + name)
    sandbox.up(workers=workers, release=release)
    yield sandbox
    if os.environ.get("SNAKEPIT_KEEP_SANDBOX") != "1":
        sandbox.down()
