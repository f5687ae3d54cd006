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
from pyinfra.context import ctx_inventory
from pyinfra.facts.server import LinuxDistribution

from facts.hardware import Hardware
from facts.nvidia import NvidiaDeviceFiles, NvidiaSmi
from glue import loading
from glue.loading import cluster_from_inventory
from operations.cuda import resolve_manifest
from snakepit.cuda.manifest import CudaManifest, for_release
from snakepit.model import Cluster
from snakepit.schema import DataError, Schema, validate
from snakepit.secrets import Secrets, load_secrets, secrets_path
from snakepit.slurm import DetectedNode, NodeLine, memory_per_cpu_problems, plan_nodes

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


def node_lines() -> list[NodeLine]:
    """Every worker's slurm.conf line, checked against what its facts detected.

    Reads every worker's facts once per run, whichever host asks first, so a mismatch
    anywhere stops the whole run with one line per problem.
    """

    def build(inventory) -> list[NodeLine]:
        workers = {h.name: h for h in inventory if "slurm_worker" in h.groups}
        detected = {name: detect(worker) for name, worker in workers.items()}
        lines = plan_nodes(cluster(), detected)
        # A MaxMemPerCPU above RealMemory/CPUs caps nothing on that node: worth knowing,
        # not worth stopping for (the seed's g2080 partition has one).
        for problem in memory_per_cpu_problems(cluster(), lines, "MaxMemPerCPU"):
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


def cuda_manifest() -> CudaManifest | None:
    """This worker's exact CUDA manifest (loaded and validated once per run), or None.

    Of a list (one per release), the one for the worker's distro and release; when none
    is, the first, which the installing operation then refuses naming both releases."""
    paths = cluster().node(host.name).cuda_manifests
    if not paths:
        return None
    manifests = tuple(manifest(path) for path in paths)
    if len(manifests) == 1:
        return manifests[0]
    meta = host.get_fact(LinuxDistribution)["release_meta"]
    return for_release(manifests, meta.get("ID"), meta.get("VERSION_ID")) or manifests[0]


def manifest(path: str) -> CudaManifest:
    """A CUDA manifest by its data path, loaded and validated once per run."""
    return _memo(f"manifest:{path}", lambda _inventory: resolve_manifest(path))
