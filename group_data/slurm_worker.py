"""GPU workers: configless slurmd, NFS mounts, the exact CUDA manifest."""

# The exact CUDA/NVIDIA package manifest workers install before slurmd (a file in
# manifests/, see docs/cuda-manifests.md); None: the GPU stack is not managed. A partition
# file may set its own (older GPUs may need an older driver).
cuda_manifest = None
