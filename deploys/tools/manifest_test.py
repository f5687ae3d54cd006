"""Install a manifest on a clean host and check it: every package at its exact version and
held, nothing else from the vendor, ``nvidia-smi`` on PATH. `python -m tools.cuda test`
runs it in a throwaway container:

    pyinfra @docker/<container> deploys/tools/manifest_test.py --data manifest=manifests/X.yaml -y
"""

from pyinfra import host
from pyinfra.api import DeployError

from operations import cuda

if not isinstance(host.data.get("manifest"), str):
    raise DeployError("give the manifest to test: --data manifest=manifests/<name>.yaml")
manifest = cuda.resolve_manifest(host.data.get("manifest"))

cuda.manifest_installed(
    name=f"Install exactly the {len(manifest.packages)} packages of {manifest.name}",
    manifest=manifest,
)
cuda.manifest_verified(
    name=f"Check every package of {manifest.name} and nvidia-smi",
    manifest=manifest,
)
