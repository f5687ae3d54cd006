"""What every deploy needs once per run: the validated cluster, the secrets, the node plan.

Each is built on first use and kept for the rest of the run (pyinfra runs a deploy file once
per host, in parallel), so the data is validated once and every host sees the same objects.
Anything wrong raises here, while pyinfra is still planning: no host has been changed.
"""

from __future__ import annotations

from typing import TypeVar

from gevent.lock import RLock
from pyinfra import host, logger
from pyinfra.api import DeployError
from pyinfra.context import ctx_inventory, ctx_state
from pyinfra.facts.server import LinuxDistribution

from facts.hardware import Hardware
from facts.nvidia import NvidiaDeviceFiles, NvidiaSmi
from facts.os_release import OsRelease
from facts.slurm import AppliedNodeTable
from glue import loading
from glue.loading import cluster_from_inventory
from operations.cuda import resolve_manifest
from snakepit.cuda.manifest import CudaManifest, for_release
from snakepit.model import Cluster
from snakepit.schema import DataError, Schema, validate
from snakepit.secrets import Secrets, load_secrets, secrets_path
from snakepit.slurm import (
    FROM_FACTS,
    DetectedNode,
    NodeLine,
    awaits_driver,
    memory_per_cpu_problems,
    plan_nodes,
)
from snakepit.targets import check_targets

T = TypeVar("T", bound=Schema)
_RUN_CACHE: dict[tuple[int, str], tuple[bool, object]] = {}
_LOCK = RLock()  # greenlets of every host ask at once; the first builds, the rest wait


def _memo(key: str, build):
    inventory = ctx_inventory.get()
    slot = (id(inventory), key)
    with _LOCK:
        if slot not in _RUN_CACHE:
            try:
                _RUN_CACHE[slot] = (True, build(inventory))
            except Exception as error:  # every host fails with the same clear error
                _RUN_CACHE[slot] = (False, error)
    ok, value = _RUN_CACHE[slot]
    if not ok:
        raise value
    return value


def remember(inventory, key: str, value) -> None:
    """Keep what glue.preflight built from this inventory before the run's context existed,
    so the deploys do not build it again."""
    with _LOCK:
        _RUN_CACHE[(id(inventory), key)] = (True, value)


def cluster() -> Cluster:
    return _memo("cluster", cluster_from_inventory)


def secrets() -> Secrets:
    def build(_inventory) -> Secrets:
        return load_secrets(secrets_path(cluster().secrets_file))

    return _memo("secrets", build)


def is_head() -> bool:
    return "slurm_head" in host.groups


def is_worker() -> bool:
    return "slurm_worker" in host.groups


def detect(worker) -> DetectedNode:
    """Read one worker's hardware facts (over its own connection)."""
    spec = cluster().node(worker.name)
    return DetectedNode(
        hardware=worker.get_fact(Hardware),
        nvidia=worker.get_fact(NvidiaSmi),
        gpu_devices=tuple(worker.get_fact(NvidiaDeviceFiles, glob=spec.gpu_device_glob)),
    )


def in_run(host_) -> bool:
    """Whether pyinfra converges this host in this run: inside --limit and connected (a host
    that failed to connect, or failed since, is not active)."""
    return host_ in ctx_state.get().active_hosts


def why_not_in_run(host_) -> str:
    state = ctx_state.get()
    if host_ in state.failed_hosts:
        return "failed in this run (could not connect)"
    if not state.is_host_in_limit(host_):
        return "outside --limit"
    return "not connected"


def check_releases() -> None:
    """Every cluster host runs a supported release, in a mix Slurm allows.

    Reads the /etc/os-release of every head and worker in this run (`in_run`; nobody else
    is contacted) once per run, whichever host asks first, so an unsupported host stops the
    whole run (one line per host) before the first operation anywhere.
    """

    def build(inventory) -> None:
        hosts = [
            h for h in inventory if {"slurm_head", "slurm_worker"} & set(h.groups) and in_run(h)
        ]
        check_targets(cluster(), {h.name: h.get_fact(OsRelease) for h in hosts})

    _memo("releases", build)


def node_lines() -> list[NodeLine]:
    """Every worker's slurm.conf line, checked against what its facts detected.

    Facts are read only from the workers in this run (`in_run`), once per run, whichever
    host asks first, so a mismatch anywhere stops the whole run with one line per problem.
    Nobody else is contacted: the lines of the other workers come from the head's record of
    what it last applied (read when the head is in the run), else from their declarations;
    a log line names each such node and where its line came from.
    """

    def build(inventory) -> list[NodeLine]:
        workers = {h.name: h for h in inventory if "slurm_worker" in h.groups}
        detected = {name: detect(w) for name, w in workers.items() if in_run(w)}
        heads = [h for h in inventory if "slurm_head" in h.groups and in_run(h)]
        recorded = (heads[0].get_fact(AppliedNodeTable) if heads else None) or {}
        coming = {name for name in detected if brings_driver(workers[name])}
        lines = plan_nodes(cluster(), detected, recorded, drivers_coming=coming)
        for name in sorted(coming):
            spec = cluster().node(name)
            if awaits_driver(spec, detected[name], driver_coming=True):
                logger.info(
                    f"{name}: no GPU driver yet; its {spec.gpu_count} GPUs are planned from "
                    "its data and checked once its CUDA manifest has installed the driver"
                )
        if heads:  # only the head renders other workers' lines
            elsewhere: dict[tuple[str, str], list[str]] = {}
            for line in lines:
                if line.source != FROM_FACTS:
                    why = why_not_in_run(workers[line.name])
                    elsewhere.setdefault((why, line.source), []).append(line.name)
            for (why, source), names in elsewhere.items():
                logger.warning(f"Node lines from {source} ({why}): {', '.join(names)}")
            removed = sorted(set(recorded) - set(workers))
            if removed:
                logger.warning(
                    f"Nodes leaving slurm.conf and gres.conf (no longer in the inventory): "
                    f"{', '.join(removed)}; a slurmd still running there stays idle and "
                    "unknown to slurmctld until stopped (deploys/retire.py before removing)"
                )
        # A MaxMemPerCPU above RealMemory/CPUs caps nothing on that node: worth knowing,
        # not worth stopping for (the seed's g2080 partition has one).
        checked = [line for line in lines if line.source == FROM_FACTS]
        for problem in memory_per_cpu_problems(cluster(), checked, "MaxMemPerCPU"):
            logger.warning(f"MaxMemPerCPU caps nothing on {problem}")
        return lines

    return _memo("node_lines", build)


def node_line(name: str) -> NodeLine:
    return next(line for line in node_lines() if line.name == name)


def tool_options(model: type[T]) -> T:
    """The ``--data`` options of a tool deploy (``deploys/tools/``), validated by ``model``;
    the cluster's schema then leaves exactly those keys aside."""
    loading.TOOL_KEYS.update(model.model_fields)
    values = {key: host.data.get(key) for key in model.model_fields}
    data = {key: value for key, value in values.items() if value is not None}
    try:
        return validate(model, data)
    except DataError as error:
        raise DeployError(f"--data {error}") from None


def brings_driver(worker) -> bool:
    """Whether this run installs a GPU driver on ``worker`` (its manifest has one)."""
    chosen = manifest_for(worker)
    return chosen is not None and bool(chosen.driver_packages)


def cuda_manifest() -> CudaManifest | None:
    """This worker's exact CUDA manifest (loaded and validated once per run), or None."""
    return manifest_for(host)


def manifest_for(worker) -> CudaManifest | None:
    """``worker``'s exact CUDA manifest (loaded and validated once per run), or None.

    Of a list (one per release), the one for the worker's distro and release; when none
    is, the first, which the installing operation then refuses naming both releases."""
    paths = cluster().node(worker.name).cuda_manifests
    if not paths:
        return None
    manifests = tuple(manifest(path) for path in paths)
    if len(manifests) == 1:
        return manifests[0]
    meta = worker.get_fact(LinuxDistribution)["release_meta"]
    return for_release(manifests, meta.get("ID"), meta.get("VERSION_ID")) or manifests[0]


def manifest(path: str) -> CudaManifest:
    """A CUDA manifest by its data path, loaded and validated once per run."""
    return _memo(f"manifest:{path}", lambda _inventory: resolve_manifest(path))
