"""Base system: packages every host has, the timezone, and (workers) no surprise upgrades."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from operations import dpkg
from operations.hosts import hosts_block
from snakepit.cuda.aptsource import UNATTENDED_BLACKLIST
from snakepit.model import Cluster

# Workers keep exactly the packages we install: apt's periodic jobs are off, and should
# unattended-upgrades ever be installed it must never touch the GPU stack.
PERIODIC_OFF = """\
// Managed by snakepit-pyinfra: workers change packages only when we converge them.
APT::Periodic::Update-Package-Lists "0";
APT::Periodic::Download-Upgradeable-Packages "0";
APT::Periodic::AutocleanInterval "0";
APT::Periodic::Unattended-Upgrade "0";
"""
GPU_STACK_BLACKLIST = (
    "// Managed by snakepit-pyinfra: the GPU stack follows its exact manifest, never upgrades.\n"
    "Unattended-Upgrade::Package-Blacklist {\n"
    + "".join(f'    "{pattern}";\n' for pattern in UNATTENDED_BLACKLIST)
    + "};\n"
)


@deploy("Base system")
def base(cluster: Cluster, worker: bool) -> None:
    dpkg.consistent(name="dpkg finished any interrupted work")
    apt.update(name="Refresh apt's package lists (at most hourly)", cache_time=3600)
    apt.packages(
        name=f"Install base packages ({', '.join(cluster.base_packages)})",
        packages=list(cluster.base_packages),
        no_recommends=True,
    )
    files.link(
        name=f"Timezone {cluster.timezone}",
        path="/etc/localtime",
        target=f"/usr/share/zoneinfo/{cluster.timezone}",
    )
    files.put(
        name="Write /etc/timezone",
        src=StringIO(f"{cluster.timezone}\n"),
        dest="/etc/timezone",
        mode="0644",
    )
    # NFS mounts and Slurm name the head and workers: they resolve without DNS.
    hosts_block(
        name=f"/etc/hosts: the cluster's {len(cluster.hosts)} hosts (a managed block)",
        entries=[list(entry) for entry in cluster.hosts],
    )
    if worker:
        files.put(
            name="Turn off apt's periodic updates and upgrades",
            src=StringIO(PERIODIC_OFF),
            dest="/etc/apt/apt.conf.d/20auto-upgrades",
            mode="0644",
        )
        files.put(
            name="Keep unattended-upgrades away from nvidia-*, libnvidia-*, cuda-*",
            src=StringIO(GPU_STACK_BLACKLIST),
            dest="/etc/apt/apt.conf.d/51snakepit-gpu-blacklist",
            mode="0644",
        )
