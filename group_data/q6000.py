"""Partition q6000: mlc6, 8x Quadro RTX 6000, 56 CPUs (2 sockets x 14 cores x 2 threads)."""

node = {"gpus": 8, "cpus": 56, "sockets": 2, "cores_per_socket": 14, "threads_per_core": 2}
