"""Install a manifest on a clean host and check it: every package at its exact version and
held, nothing else from the vendor, ``nvidia-smi`` on PATH. `python -m tools.cuda test`
runs it in a throwaway container:

    pyinfra @docker/<container> deploys/tools/manifest_test.py --data manifest=manifests/X.yaml -y
"""

from deploys.tools.options import ManifestTestOptions
from glue import context
from operations import cuda

manifest = cuda.resolve_manifest(context.tool_options(ManifestTestOptions).manifest)

cuda.manifest_installed(
    name=f"Install exactly the {len(manifest.packages)} packages of {manifest.name}",
    manifest=manifest,
)
cuda.manifest_verified(
    name=f"Check every package of {manifest.name} and nvidia-smi",
    manifest=manifest,
)
