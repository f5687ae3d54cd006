"""Slurm jobs run on a converged sandbox (for the demo and the tests)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

from tools.sandbox.cluster import REPO_ROOT, Sandbox, SandboxError


def converge(sandbox: Sandbox, *extra: str, deploy: str = "deploys/site.py") -> int:
    """Run the real pyinfra CLI against the sandbox; returns its exit status."""
    command = [sys.executable, "-m", "pyinfra", str(sandbox.inventory_path), deploy, "-y", *extra]
    return subprocess.run(command, cwd=REPO_ROOT, check=False).returncode


def head_shell(sandbox: Sandbox, command: str, *, user: str | None = None) -> str:
    if user:
        command = f"runuser -u {shlex.quote(user)} -- sh -c {shlex.quote(command)}"
    rc, out = sandbox.exec("head", command)
    if rc != 0:
        raise SandboxError(f"on head: {command}\nexit {rc}: {out}")
    return out


def wait_for_idle_nodes(sandbox: Sandbox, count: int, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    states = ""
    while time.monotonic() < deadline:
        rc, states = sandbox.exec("head", "sinfo -h -N -o '%N %t'")
        idle = [line for line in states.splitlines() if line.split()[-1:] == ["idle"]]
        if rc == 0 and len(idle) >= count:
            return states
        time.sleep(1)
    raise SandboxError(f"nodes not idle after {timeout:.0f}s:\n{states}")


def srun_hostnames(sandbox: Sandbox, nodes: int) -> list[str]:
    out = head_shell(sandbox, f"srun -N{nodes} hostname", user="slurm")
    return sorted(out.split())


def batch_job_to_shared_storage(sandbox: Sandbox) -> tuple[str, str]:
    """sbatch a job on a worker that writes into /data/rw; return (path, text seen on head)."""
    stamp = f"{time.time_ns()}"
    path = f"/data/rw/demo-{stamp}.out"
    head_shell(
        sandbox,
        f"sbatch --wait -N1 -o {path} --wrap 'echo job $SLURM_JOB_ID ran on $(hostname)'",
        user="slurm",
    )
    return path, head_shell(sandbox, f"cat {path}")
