"""The exact CUDA/NVIDIA package set of a GPU worker (manifests/, snakepit.cuda)."""

from __future__ import annotations

from pathlib import Path

from pyinfra.api import deploy

from operations import cuda, nvidia
from snakepit.cuda.manifest import CudaManifest
from snakepit.model import NodeSpec
from snakepit.slurm import NodeLine


@deploy("CUDA manifest")
def cuda_manifest(manifest: CudaManifest | str | Path, remove_unlisted: bool = False) -> None:
    """Install a manifest's exact packages, held; change nothing when the host matches.

    + manifest: a ``CudaManifest`` or the path of its YAML file (relative to the repository)
    + remove_unlisted: also remove vendor packages the manifest does not list (switching
      from one manifest to another)
    """
    loaded = cuda.resolve_manifest(manifest)
    cuda.manifest_installed(
        name=f"Install exactly the {len(loaded.packages)} packages of {loaded.name}, held",
        manifest=loaded,
        remove_unlisted=remove_unlisted,
    )


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
