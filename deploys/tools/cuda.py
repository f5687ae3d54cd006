"""Install the CUDA manifest that each worker's data names, on the workers that name one,
then drain or resume each worker by its GPU health (as the converge does).

    pyinfra INVENTORY deploys/tools/cuda.py -y
    pyinfra INVENTORY deploys/tools/cuda.py --data cuda_manifest=manifests/cuda-11-5.yaml \\
        --data cuda_remove_unlisted=true --dry

``cuda_manifest`` and ``cuda_remove_unlisted`` are the cluster's own data keys
(docs/data.md): ``--data`` overrides them for this run.
"""

from pyinfra import host

from deploys.concerns.cuda import cuda_manifest, gpu_health
from glue import context

if context.is_worker():
    manifests = context.cuda_manifests()  # the CUDA stack's, then any local repository's
    for manifest in manifests:
        spec = context.cluster().node(host.name)
        cuda_manifest(
            manifest,
            remove_unlisted=spec.cuda_remove_unlisted,
            drain_timeout_s=spec.cuda_drain_timeout_s,
            busy_at_deadline=spec.cuda_busy_at_deadline,
            beside=tuple(m for m in manifests if m is not manifest),
        )
    gpu_health()  # as the converge does after slurmd: a broken stack drains the node
