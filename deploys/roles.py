"""The order in which concerns converge, shared by head.py, worker.py and site.py.

pyinfra runs each operation on every host before the next one, in the order the calls
appear here; so the head's proxy exists before workers use it, and slurmctld runs before
any slurmd asks it for its configuration.
"""

from __future__ import annotations

from pyinfra import host

from deploys.concerns.base import base
from deploys.concerns.cuda import cuda_manifest, gpu_health
from deploys.concerns.munge import munge
from deploys.concerns.nfs import nfs_client, nfs_server
from deploys.concerns.proxy import proxy_client, proxy_server
from deploys.concerns.slurm import (
    slurmctld,
    slurmd,
    slurmd_retired,
    slurmd_stopped_before_restart,
    slurmdbd,
    slurmrestd,
)
from deploys.concerns.users import users
from glue import context
from operations.ordering import barrier

ROLES = ("head", "worker")


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
    base(cluster, worker=worker)
    users(cluster)
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
