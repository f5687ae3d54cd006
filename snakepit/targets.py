"""The supported targets: which Debian releases the deploys converge, and which mixes of
them (and so of Slurm versions) one cluster may run.

Each release runs the Slurm it ships (`slurm_settings.RELEASES`). Slurm requires
slurmdbd >= slurmctld >= slurmd, each within the window of major releases the newer one
accepts; slurmdbd and slurmctld share the head, so the head's release is the newest and
every worker's is within its window. The head's Slurm is the one the data's
``slurm.version`` writes slurm.conf for.
"""

from __future__ import annotations

from collections.abc import Mapping

from snakepit.model import Cluster
from snakepit.parsers.os_release import OsRelease
from snakepit.slurm import PlanProblems
from snakepit.slurm_settings import RELEASES, SlurmVersion


class UnsupportedTargets(PlanProblems):
    """Hosts whose release the deploys or Slurm do not support; one line per host."""

    heading = "unsupported releases (nothing was changed)"


def supported_text() -> str:
    return ", ".join(f"Debian {r} (Slurm {v.version})" for r, v in sorted(RELEASES.items()))


def slurm_of(release: OsRelease) -> SlurmVersion | None:
    """The Slurm a supported release ships, or None when the release is not supported."""
    return RELEASES.get(release.version_id) if release.id == "debian" else None


def check_targets(cluster: Cluster, releases: Mapping[str, OsRelease]) -> None:
    """Raise UnsupportedTargets naming every host of ``releases`` that cannot be converged:
    a release not supported, or a Slurm version the head's Slurm does not accept."""
    problems = [
        f"{name}: {release.name} is not supported (supported: {supported_text()})"
        for name, release in releases.items()
        if slurm_of(release) is None
    ]
    head = releases.get(cluster.head)
    head_slurm = None if head is None else slurm_of(head)
    if head_slurm is not None:
        if head_slurm.version != cluster.slurm.version:
            problems.append(
                f"{cluster.head}: {head.name} ships Slurm {head_slurm.version}, but "
                f"slurm.version is {cluster.slurm.version} (slurm.conf is written for it)"
            )
        for name in cluster.workers:
            worker = slurm_of(releases[name]) if name in releases else None
            if worker is not None and not head_slurm.accepts(worker.version):
                problems.append(_mix_problem(name, worker, cluster.head, head_slurm))
    if problems:
        raise UnsupportedTargets(problems)


def _mix_problem(name: str, worker: SlurmVersion, head: str, head_slurm: SlurmVersion) -> str:
    mix = (
        f"{name}: slurmd {worker.version} (Debian {worker.debian}) with slurmctld and "
        f"slurmdbd {head_slurm.version} on {head} (Debian {head_slurm.debian})"
    )
    if worker.accepts(head_slurm.version):
        return f"{mix}: Slurm needs slurmdbd >= slurmctld >= slurmd (upgrade the head first)"
    return (
        f"{mix}: Slurm {head_slurm.version} accepts daemons of {head_slurm.oldest_accepted} "
        f"to {head_slurm.version} only"
    )
