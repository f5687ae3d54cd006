"""The exact CUDA/NVIDIA package set of a GPU worker (manifests/, snakepit.cuda)."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy

from operations import cuda
from snakepit.cuda.manifest import CudaManifest


@deploy("CUDA manifest")
def cuda_manifest(
    manifest: CudaManifest | str | Path, remove_unlisted: bool = True, drain_timeout_s: int = 3600
) -> None:
    """Install a manifest's exact packages, held; change nothing when the host matches.
    A change never happens under a running job: the node is drained first and waited for
    (bounded), and resumed after.

    + manifest: a ``CudaManifest`` or the path of its YAML file (relative to the repository)
    + remove_unlisted: also remove vendor packages the manifest does not list (what a
      switch from one manifest to another leaves behind); the data's
      ``cuda_remove_unlisted``, on by default
    + drain_timeout_s: how long to wait for the node's jobs (``cuda_drain_timeout_s``)
    """
    loaded = cuda.resolve_manifest(manifest)
    cuda.drained_for_change(
        name=f"Drain {host.name} and wait for its jobs if {loaded.name} changes packages",
        manifest=loaded,
        node=host.name,
        remove_unlisted=remove_unlisted,
        timeout_s=drain_timeout_s,
    )
    cuda.manifest_installed(
        name=f"Install exactly the {len(loaded.packages)} packages of {loaded.name}, held",
        manifest=loaded,
        remove_unlisted=remove_unlisted,
    )
    cuda.resumed_after_change(
        name=f"Resume {host.name} if the manifest change drained it", node=host.name
    )


@deploy("GPU health")
def gpu_health() -> None:
    """Drain this worker while nvidia-smi says its GPU stack is broken, with the state as
    the reason; resume it when healthy again (only drains this set, ``snakepit: gpu ...``)."""
    cuda.gpu_health(name=f"Drain or resume {host.name} by its GPU health", node=host.name)
