"""Base system: packages every host has, the timezone, and (workers) no surprise upgrades."""

from __future__ import annotations

from collections.abc import Sequence
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files

from deploys.daemon import install_early, package_name
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
def base(cluster: Cluster, worker: bool, daemons: Sequence[str] = ()) -> None:
    """+ daemons: the packages of this host's daemons that may come in the same apt run
    (``name`` or ``name=version``); their daemon blocks then add no apt run of their own.
    Only those not installed at all come here (a new host's): an installed one that needs
    another version stays with its concern, whose apt run comes in Slurm's upgrade order
    (slurmdbd, then slurmctld, then slurmd)."""
    dpkg.consistent(name="dpkg finished any interrupted work")
    apt.update(name="Refresh apt's package lists (at most hourly)", cache_time=3600)
    installed = host.get_fact(DebPackages)
    daemons = [
        p
        for p in daemons
        if package_name(p) not in cluster.base_packages and package_name(p) not in installed
    ]
    # One name for every host (pyinfra's preview shows one host's): what each adds is
    # in the apt command (-v).
    also = " and its daemons' packages not yet installed (one apt run)" if daemons else ""
    apt.packages(
        name=f"Install base packages ({', '.join(cluster.base_packages)}){also}",
        packages=[*cluster.base_packages, *daemons],
        no_recommends=True,
    )
    install_early([*cluster.base_packages, *daemons])
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
