"""Partition txp: mlc0-mlc3, 8x NVIDIA TITAN Xp, 48 CPUs (2 sockets x 12 cores x 2 threads)."""

node = {"gpus": 8, "cpus": 48, "sockets": 2, "cores_per_socket": 12, "threads_per_core": 2}
