"""GPU workers: configless slurmd, NFS mounts, the exact CUDA manifest."""
