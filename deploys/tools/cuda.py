"""Install the CUDA manifest that host data names, on the hosts that name one.

    pyinfra INVENTORY deploys/tools/cuda.py -y
    pyinfra INVENTORY deploys/tools/cuda.py --data cuda_manifest=manifests/cuda-11-5.yaml \\
        --data cuda_remove_unlisted=true --dry

Host data: ``cuda_manifest`` (path of the manifest, relative to the repository; ``None``
skips the host) and ``cuda_remove_unlisted`` (bool, default False: vendor packages the
manifest does not list are left installed, without a hold).
"""

from pyinfra import host
from pyinfra.api import DeployError

from deploys.concerns.cuda import cuda_manifest

manifest = host.data.get("cuda_manifest")
remove_unlisted = host.data.get("cuda_remove_unlisted", False)
if not isinstance(remove_unlisted, bool):
    raise DeployError(f"cuda_remove_unlisted must be true or false, got {remove_unlisted!r}")
if manifest is not None:
    if not isinstance(manifest, str):
        raise DeployError(f"cuda_manifest must be a path, got {manifest!r}")
    cuda_manifest(manifest, remove_unlisted=remove_unlisted)
