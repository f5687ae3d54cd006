"""Where workers install the exact CUDA/NVIDIA package manifest, before slurmd.

The manifest operation comes with the CUDA manifest work (operations/cuda.py); until a
cluster names a manifest in its data (``cuda_manifest``), this installs nothing and says so.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from snakepit.model import Cluster


@deploy("CUDA/NVIDIA manifest (worker)")
def cuda_stack(cluster: Cluster) -> None:
    if cluster.cuda_manifest is None:
        host.noop("no cuda_manifest in the cluster data: no CUDA packages managed")
        return
    raise NotImplementedError(
        f"cuda_manifest={cluster.cuda_manifest!r} is set but the manifest operation is not "
        "wired in yet (operations/cuda.py)"
    )
