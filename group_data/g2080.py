"""Partition g2080: mlc4-mlc5, 8x RTX 2080 Ti, 56 CPUs (2 sockets x 14 cores x 2 threads)."""

node = {"gpus": 8, "cpus": 56, "sockets": 2, "cores_per_socket": 14, "threads_per_core": 2}
