"""GPU workers: proxy settings, users, munge, NFS mounts, the CUDA manifest, slurmd.

pyinfra inventory.py deploys/worker.py --limit slurm_worker
"""

from deploys.roles import converge

converge(("worker",))
