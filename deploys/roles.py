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
from deploys.concerns.slurm import slurmctld, slurmd, slurmdbd, slurmrestd
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
    # Plan the node lines now (reads every worker's facts once), so that a hardware
    # mismatch stops the run before the first operation anywhere.
    context.node_lines()
    if head:
        proxy_server(cluster)
    barrier(name="Proxy is up before workers use it", reason="apt on workers goes through it")
    if worker:
        proxy_client(cluster)
    base(cluster, worker=worker)
    users(cluster)
    munge(secrets)
    if head:
        nfs_server(cluster)
        slurmdbd(cluster, secrets)
        slurmctld(cluster)
        if cluster.slurm.restd.enabled:
            slurmrestd(cluster)
    barrier(name="slurmctld is up before any slurmd", reason="configless slurmd fetches from it")
    if worker:
        nfs_client(cluster)
        manifest = context.cuda_manifest()
        if manifest is not None:  # the exact CUDA/NVIDIA stack, before slurmd
            spec = cluster.node(host.name)
            cuda_manifest(
                manifest,
                remove_unlisted=spec.cuda_remove_unlisted,
                drain_timeout_s=spec.cuda_drain_timeout_s,
            )
        slurmd(cluster)
        gpu_health()  # drain a worker whose GPU stack is broken; resume it once healthy
