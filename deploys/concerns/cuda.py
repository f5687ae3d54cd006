"""The exact CUDA/NVIDIA package set of a GPU worker (manifests/, snakepit.cuda)."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy

from operations import cuda, nvidia
from snakepit.cuda.manifest import CudaManifest
from snakepit.model import NodeSpec
from snakepit.slurm import NodeLine


@deploy("CUDA manifest")
def cuda_manifest(
    manifest: CudaManifest | str | Path,
    remove_unlisted: bool = True,
    drain_timeout_s: int = 3600,
    busy_at_deadline: str = "drained",
    spec: NodeSpec | None = None,
    line: NodeLine | None = None,
    beside: tuple[CudaManifest, ...] = (),
) -> None:
    """Install a manifest's exact packages, held; change nothing when the host matches.
    A change never happens under a running job: the node is drained first and waited for
    (bounded), the driver made ready and the GPUs checked (`driver_ready`), and the node
    resumed after.

    + manifest: a ``CudaManifest`` or the path of its YAML file (relative to the repository)
    + remove_unlisted: also remove vendor packages the manifest does not list (what a
      switch from one manifest to another leaves behind); the data's
      ``cuda_remove_unlisted``, on by default
    + drain_timeout_s: how long to wait for the node's jobs (``cuda_drain_timeout_s``)
    + busy_at_deadline: a node still busy then stays ``drained`` or is ``resumed``
      (``cuda_busy_at_deadline``)
    + spec, line: the worker's declared data and planned node line; given, and the
      manifest brings a driver for GPUs the line has, the driver is loaded and the GPUs
      checked before the node is resumed
    + beside: the host's other manifests (cuDNN's beside CUDA's): their packages are never
      this one's extras
    """
    loaded = cuda.resolve_manifest(manifest)
    others = tuple(package.key for other in beside for package in other.packages)
    cuda.drained_for_change(
        name=f"Drain {host.name} and wait for its jobs if {loaded.name} changes packages",
        manifest=loaded,
        node=host.name,
        remove_unlisted=remove_unlisted,
        timeout_s=drain_timeout_s,
        beside=others,
        busy_at_deadline=busy_at_deadline,
    )
    cuda.manifest_installed(
        name=f"Install exactly the {len(loaded.packages)} packages of {loaded.name}, held",
        manifest=loaded,
        remove_unlisted=remove_unlisted,
        beside=others,
    )
    if spec is not None and line is not None and loaded.driver_packages and line.gpus:
        driver_ready(spec, line)
    cuda.resumed_after_change(
        name=f"Resume {host.name} if the manifest change drained it", node=host.name
    )


@deploy("GPU health")
def gpu_health() -> None:
    """Drain this worker while nvidia-smi says its GPU stack is broken, with the state as
    the reason; resume it when healthy again (only drains this set, ``snakepit: gpu ...``)."""
    cuda.gpu_health(name=f"Drain or resume {host.name} by its GPU health", node=host.name)


@deploy("GPU driver")
def driver_ready(spec: NodeSpec, line: NodeLine) -> None:
    """After a manifest brought or changed the driver: load it (or reboot, where a fact
    says that is needed), then check that the node's GPUs answer as its node line says,
    before slurmd starts with them. Also the step after a manifest upgrade.

    + spec: the worker's declared data (its partition's GPU models, its device glob)
    + line: its planned node line (the GPUs slurmd will announce)
    """
    nvidia.driver_loaded(
        name=f"The NVIDIA driver is loaded ({line.gpus} GPUs)",
        gpus=line.gpus,
        device_glob=spec.gpu_device_glob,
    )
    nvidia.gpus_detected(
        name=f"{line.gpus} GPUs answer: " + ",".join(g.spec for g in line.gres),
        gpus=line.gpus,
        gpu_types=list(spec.gpu_types),
        device_glob=spec.gpu_device_glob,
    )
