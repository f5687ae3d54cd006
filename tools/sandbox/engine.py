"""Make sure a Docker engine answers before the sandbox needs one.

A fresh CI machine has the docker CLI at most, no daemon. As root on Debian we can install
`docker.io` and start `dockerd` ourselves; anywhere else we say what to do instead of guessing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

DOCKERD_LOG = Path("/var/log/snakepit-dockerd.log")
HOST_PACKAGES = ("docker.io", "debootstrap", "openssh-client")


class EngineError(RuntimeError):
    """No Docker engine, and we may not or cannot start one."""


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    done = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0


def _is_debian() -> bool:
    return Path("/etc/debian_version").exists()


def missing_host_packages() -> list[str]:
    tools = {"docker.io": "dockerd", "debootstrap": "debootstrap", "openssh-client": "ssh"}
    return [pkg for pkg in HOST_PACKAGES if not shutil.which(tools[pkg])]


def install_host_packages(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def ensure_engine(wait_seconds: float = 60.0) -> None:
    """Return once `docker info` answers; install and start dockerd as root on Debian."""
    missing = missing_host_packages()
    if engine_answers() and not missing:
        return
    if os.geteuid() != 0 or not _is_debian():
        raise EngineError(
            "No Docker engine answers (or debootstrap is missing). Install docker.io and "
            "debootstrap, start the Docker daemon (`systemctl start docker` or `dockerd &`), "
            "and make sure `docker info` works for this user."
        )
    if missing:
        print(f"sandbox: installing {' '.join(missing)} (apt-get)", flush=True)
        install_host_packages(missing)
    if engine_answers():
        return
    print(f"sandbox: starting dockerd in the background (log: {DOCKERD_LOG})", flush=True)
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(
            ["dockerd"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if engine_answers():
            return
        time.sleep(1)
    raise EngineError(f"dockerd did not answer within {wait_seconds:.0f}s; see {DOCKERD_LOG}")
