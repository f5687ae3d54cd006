"""The order in which concerns converge, shared by head.py, worker.py and site.py.

pyinfra runs each operation on every host before the next one, in the order the calls
appear here; so the head's proxy exists before workers use it, and slurmctld runs before
any slurmd asks it for its configuration.
"""

from __future__ import annotations

from pyinfra import host

from deploys.concerns import munge as munge_concern
from deploys.concerns import nfs
from deploys.concerns.base import base
from deploys.concerns.cuda import cuda_manifest, gpu_health
from deploys.concerns.munge import munge
from deploys.concerns.nfs import nfs_client, nfs_server
from deploys.concerns.proxy import proxy_client, proxy_server
from deploys.concerns.slurm import (
    MARIADB_PACKAGES,
    slurmctld,
    slurmd,
    slurmd_retired,
    slurmd_stopped_before_restart,
    slurmdbd,
    slurmrestd,
)
from deploys.concerns.users import users
from deploys.daemon import wanted_packages
from glue import context
from operations.ordering import barrier
from snakepit.model import Cluster

ROLES = ("head", "worker")


def early_packages(cluster: Cluster, head: bool, worker: bool) -> list[str]:
    """The daemons' packages that come in one apt run with the base packages.

    That run follows the users, so Slurm's and MariaDB's packages find the slurm user with
    its fixed uid. Left to their own concern: squid (its configuration goes first, and
    workers wait for it), slurmd (Debian 13's starts when installed, so its files go first)
    and the CUDA manifest (exact, held, and drained first).
    """
    nfs_mode = cluster.storage.mode == "nfs"
    slurm = cluster.slurm
    packages = list(munge_concern.PACKAGES)
    if head:
        packages += nfs.SERVER_PACKAGES if nfs_mode else ()
        packages += MARIADB_PACKAGES
        packages += wanted_packages(slurm.packages.database, slurm.packages.version)
        packages += wanted_packages(slurm.packages.controller, slurm.packages.version)
        if slurm.restd.enabled:
            packages += wanted_packages(slurm.restd.packages, slurm.packages.version)
    if worker:
        packages += nfs.CLIENT_PACKAGES if nfs_mode else ()
    return list(dict.fromkeys(packages))


def converge(roles: tuple[str, ...] = ROLES) -> None:
    """Converge this host in the roles given (hosts in no given role get nothing)."""
    cluster = context.cluster()
    secrets = context.secrets()
    head = context.is_head() and "head" in roles
    worker = context.is_worker() and "worker" in roles
    if not (head or worker):
        return
    # Refuse unsupported releases and Slurm mixes, then plan the node lines (reads every
    # worker's facts once), so that either stops the run before the first operation
    # anywhere.
    context.check_releases()
    context.node_lines()
    if head:
        proxy_server(cluster)
    barrier(name="Proxy is up before workers use it", reason="apt on workers goes through it")
    if worker:
        proxy_client(cluster)
    users(cluster)  # before any package that makes its own slurm user
    base(cluster, worker=worker, daemons=early_packages(cluster, head, worker))
    munge(secrets)
    if worker:  # a slurmd this run restarts registers first with its new lines
        slurmd_stopped_before_restart(cluster)
    if head:
        nfs_server(cluster)
        slurmdbd(cluster, secrets)
        slurmctld(cluster)
        if cluster.slurm.restd.enabled:
            slurmrestd(cluster)
    barrier(name="slurmctld is up before any slurmd", reason="configless slurmd fetches from it")
    if worker:
        nfs_client(cluster)
        manifests = context.cuda_manifests()  # the exact CUDA/NVIDIA stack (and cuDNN's)
        for manifest in manifests:  # before slurmd
            spec = cluster.node(host.name)
            cuda_manifest(
                manifest,
                remove_unlisted=spec.cuda_remove_unlisted,
                drain_timeout_s=spec.cuda_drain_timeout_s,
                busy_at_deadline=spec.cuda_busy_at_deadline,
                beside=tuple(m for m in manifests if m is not manifest),
                spec=spec,
                line=context.node_line(host.name),  # driver ready, GPUs detected
            )
        slurmd(cluster)
        gpu_health()  # drain a worker whose GPU stack is broken; resume it once healthy


def retire() -> None:
    """Take this worker out of Slurm (deploys/retire.py); other hosts get nothing."""
    if context.is_worker():
        slurmd_retired()
