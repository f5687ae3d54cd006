"""Settings for the whole Snakepit cluster (every host reads them).

Loaded and validated by `snakepit.model.build_cluster`; a bad value stops the run before any
host is touched, naming this file and the field.
"""

# The network the cluster lives on: NFS exports, the proxy and no_proxy are limited to it.
cluster_subnet = "192.168.0.0/16"

# Zoneinfo name for every host.
timezone = "Etc/UTC"

# Packages every host gets (admins' tools and what users build with).
base_packages = [
    "vim",
    "git",
    "tmux",
    "htop",
    "build-essential",
    "curl",
    "rsync",
    "less",
    "tzdata",
]

# Users and groups get fixed ids so files on NFS mean the same everywhere.
uid_range = [1000, 59999]
# Users that name no primary group get this one (Debian's own `users`, gid 100).
default_user_group = "users"
groups = [
    {"name": "users", "gid": 100},
    {"name": "snakepit", "gid": 1777},
    {"name": "slurm", "gid": 1877},
    {"name": "admin", "gid": 3000},
]
users = [
    {
        "name": "slurm",
        "uid": 1877,
        "group": "slurm",
        "groups": ["snakepit"],
        "home": "/home/slurm",
        "shell": "/bin/bash",
        "comment": "Slurm workload manager",
    },
    {
        "name": "admin",
        "uid": 3000,
        "group": "admin",
        "home": "/home/admin",
        "sudo": True,  # passwordless, through /etc/sudoers.d/snakepit-admins
        "comment": "cluster administrator",
    },
    # Human users, uids from 2000; every other key is optional (docs/data.md), e.g.
    # {"name": "alice", "uid": 2001, "groups": ["snakepit"],
    #  "ssh_keys": ["ssh-ed25519 AAAAC3Nza... alice@laptop"]},
]

# Slurm, shared by slurmctld (head) and slurmd (workers, configless). Every key, its default
# and the slurm.conf defaults table are in docs/data.md.
slurm = {
    "cluster_name": "snakepit",
    # Debian 12 ships Slurm 22.05: which settings need a restart follows the version.
    "version": "22.05",
    # RealMemory declared = detected memory minus this, so the OS keeps some.
    "memory_reserve_mib": 2048,
    # slurmdbd's MariaDB database and user (the password lives in the secrets file).
    "database": "slurm_acct_db",
    "database_user": "slurm",
    # slurm.conf over the defaults (docs/data.md); None removes a default.
    "config": {
        # Jobs that ask for no memory get this much per CPU (not the whole node), so jobs
        # share nodes by cores and GPUs.
        "DefMemPerCPU": 4096,
    },
}

# One partition per GPU model; members are the inventory group of the same name.
slurm_partitions = [
    {"name": "txp", "gpu_type": "titanxp", "default": True, "max_time": "INFINITE"},
    {"name": "g2080", "gpu_type": "rtx2080ti", "max_time": "INFINITE"},
    {"name": "q6000", "gpu_type": "quadro6000", "max_time": "INFINITE"},
]

# Shared storage: the head exports, the workers mount (nfs). Paths, owners and modes are the
# Puppet project's (mode/owner apply to the exported directory, which is what workers see),
# less its /home/slurm export: the SlurmUser's home stays local on every host (a shared one
# lets whoever writes it log in as slurm; the schema refuses it).
# The sandbox has no NFS in its kernel and uses "shared-volume" (a Docker volume per export).
storage = {
    "mode": "nfs",
    "exports": [
        {
            "path": "/snakepit/shared",
            "mount_point": "/data/ro",
            "access": "ro",
            "owner": "root",
            "group": "root",
            "mode": "0555",
        },
        {
            "path": "/data/rw",
            "mount_point": "/data/rw",
            "access": "rw",
            "owner": "slurm",
            "group": "slurm",
            "mode": "0750",
        },
        {
            "path": "/snakepit/home",
            "mount_point": "/data/home",
            "access": "ro",
            "owner": "root",
            "group": "snakepit",
            "mode": "0775",
        },
        {
            "path": "/data/sw",
            "mount_point": "/data/sw",
            "access": "ro",
            "owner": "slurm",
            "group": "slurm",
            "mode": "0750",
        },
    ],
    # nosuid and nodev are required: a file on the head is never a setuid binary or a device
    # on a worker.
    "mount_options": ["nosuid", "nodev", "hard", "bg", "noatime"],
}

# Caching HTTP proxy on the head (squid): apt on the workers goes through it.
proxy = {
    "port": 8123,
    "cache_size_mib": 20000,
    "no_proxy": ["localhost", "127.0.0.1"],
}
