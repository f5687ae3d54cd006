"""Settings for the whole Snakepit cluster (every host reads them).

Loaded and validated by `snakepit.model.build_cluster`; a bad value stops the run before any
host is touched, naming this file and the field.
"""

# The network the cluster lives on: NFS exports, the proxy and no_proxy are limited to it.
cluster_subnet = "192.168.0.0/16"

# Zoneinfo name for every host.
timezone = "Etc/UTC"

# Packages every host gets (admins' tools and what users build with): the Puppet project's
# list, which its CI checked (iputils-ping ... make), plus a few of ours.
base_packages = [
    "vim",
    "iputils-ping",
    "git",
    "wget",
    "tmux",
    "screen",
    "htop",
    "nano",
    "build-essential",
    "make",
    "unzip",
    "curl",
    "rsync",
    "less",
    "tzdata",
]

# Users and groups get fixed ids so files on NFS mean the same everywhere. The Puppet
# project's plan: human uids from 2000 (relops and releng) and 2100 (translations), groups
# from 3000. The team groups are ours (it had the lists, not the groups): 3001-3003.
uid_range = [1000, 59999]
# Users that name no primary group get this one (Debian's own `users`, gid 100).
default_user_group = "users"
groups = [
    {"name": "users", "gid": 100},
    {"name": "snakepit", "gid": 1777},
    {"name": "slurm", "gid": 1877},
    {"name": "admin", "gid": 3000},
    {"name": "relops", "gid": 3001},
    {"name": "releng", "gid": 3002},
    {"name": "translations", "gid": 3003},
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
    # Human users (the Puppet project's, keys exactly as it had them): relops are admins
    # (%admin below), everyone is in slurm (the shared /data/rw). Add one like this; every
    # other key is optional (docs/data.md):
    # {"name": "alice", "uid": 2104, "groups": ["slurm"],
    #  "ssh_keys": ["ssh-ed25519 AAAAC3Nza... alice@laptop"]},
    {
        "name": "aerickson",
        "uid": 2001,
        "groups": ["relops", "slurm", "admin"],
        "ssh_keys": [
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCVIzgS4A6o6HZ5QoQvYbRz2Ztwdu1saKSFHz2PfvDiLrhbNzrxekJ+KCYIo0KjmxQGbPFfWYmLQCm1ARdqtU2hBTcm/NQrKZDendLwiX1EGBHvrwy4bwdlm72Hp+O1czb8tyvwgJMfVjmwWMG0FTRHunrv8eFyp9AmSlnDP+BQkEii41f7UY8tdZGbYChLKjHz2px2lhKj1jRt879Vy4zLw9l6wjfJ40A88Cf1rfsblfKP7iS5umeGvtqtSDbOU1dbiH73IJci/GTQiptr/Scu7MBMq/clzD/WGC+cIdregaG7AhZLcr4kqpk2lrAWpfRK/LgHa7vYy8XvRHt+oTpF aerickson@aerickson-45094.local",
        ],
    },
    {
        "name": "mcornmesser",
        "uid": 2002,
        "groups": ["relops", "slurm", "admin"],
        "ssh_keys": [
            "ssh-rsa AAAAB3NzaC1yc2EAAAABJQAAAgEAgl+gdJm/ugZQJhjWRldBMoijBAxX9aK4djspM+X+59SqdLidnHG7IyOyzniUVa5IgL8ak91v59zgTM4K9VmLdbH1EttiryJ2juYygBClFQC3p7NiHLhtuJOrrMbb7K53I6dJVxui8f3Rj58nV7Y3wvrdmoxKboVYGLNCWcVhEOFpfvr+RftMPfAgOTBgAXqWt3954OGmDLAPVCUruuNrZpFYZ4WBEVsZYFvljXz7eBZCS1HyeYtDDmNECGSKMvyR1C32kGpDfK+I8cngaZAdhUpEYVWJeIQmACUoilgx8A/K0GfPmnncfi3QJUrucFAmA8f87k4PczamTMszmdmOiXVzKCID2DtH/uunTtDe7toIuA2A0fCYeFGkvEgIUAIifhifduJdbvNuVJ/AmEcOAN9PIAzhGQh7WhPRagJeydgtB2hQihRSaVVQgSNUJA8trAQKAArB/cJSZgIu9PED6ZuRzUWpA3HPzVxyx9v73d/c0ZnacF8VP74ucOaqi+z/QUe3dPKg14x4kJQHthPJm8oVS04sWQjRVTyXgcEnHyYiEOhAq5XCd1Pss7hLICKuc9L4/AKMoKpzf2mqPuhfEHJ77MGHXfGFwY08rFpU54wRiO7tyX09w+S1CKImjoz3mjYZu42W6gIyLbCzxbMaV9aRK27Tn/A1j1NBcQvGEn0= rsa-key-20170619",
            "ssh-rsa AAAAB3NzaC1yc2EAAAABJQAAAQEA1zBG1hfe9OgISQxo0tQgy9VfTWk81mIadB90aSowIfdUZdGg0qoDKY5JHKMxi1BOwzN/UnEO+PeS3pIRY/2Xr7ywMgnoqYo9mkF/Q0EHnjVwjJxWfza9eEvI0SoBpPu1FlCgk+unzedEaJTc0KzNKEjRxVL4/XXvIgV4U/BukYAEYAsPFWXIvkSNi9GrNrAkKRuXCVOItBQjYGP+hg9vbnGOAmzIzgAmxxxos/LH7+z/59H0Cmm4wgzgm5JCRyIIHueYkHJYswx1crr1KQTooghJf+mGV1Iif+ymVylk2nnsdfQLqYHgSte4BnXV9NZGa1PIGmA/+wHVUfaiXNtjOQ== rsa-key-20170620",
        ],
    },
    {
        "name": "jmoss",
        "uid": 2003,
        "groups": ["relops", "slurm", "admin"],
        "ssh_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/I95HQM/Wr9XZkQzXfhFSpqmIiGx0fIegDNtkkoOHW jwmoss88@gmail.com",
        ],
    },
    {
        "name": "mgoossens",
        "uid": 2004,
        "groups": ["relops", "slurm", "admin"],
        "ssh_keys": [
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC0m3qIAdqfCARGJDDeCl65M3UGEpE0uNOvHHw/f+of/XJrnA2vsLdpLEM9M3J5/7MtuB2ePpqHf2K46O2mvCvHq/cJuwUJ7au9OiG6NQngTIYuCjS/u+39vVQz30g25cHpWohsmZce0huSFwXo8+JNgAHUSUcnpExWalCE2zNQ/3ua9xHKoCEg5Radusy2suoQVx+BeD5vy3BV2swjUXBhNCG302NaSE6PhX9zZOyfLjLcdgmltjrsl2jKk0yFdAPNdTOBOSZnZQjD85ATR9gcZwPpPhBMjd+wnqXd5jJJ0MyUcUzkB/8dri+DT5LrhyHCi88exfp8dsHJHN/THaQJalwYtZzKNa30qBotwpjxNp56uZgdynZVZqw3KED8mdOD5/CDSTfSqBpRl0Yv5ITAQ/N901u714xUEzHO3AIW2e7XTLMuOQm5TlCoAHq9Df1z+jKK0tfa1l3U53c9JO18gRmpLYWLnvkcYsjwyDVg60rGaBKhHue2jadQNUD74n8= michellemoz",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQDsrIZwueImmSOERVYfVdLa99WnNKVYJRVkPgF/f4S9hzXBSBu+vyINBY9S9dg/ZXpS+gLtHSbmAf5oUCWjPLQvmqWFyG49JtHkinYUbIxghp+/MTlsqP3JA/P1BWUKE1aACOgEENi7v6QG4CkrpYD7/jbBar2kPXe/jYm0gtKirIMVylejk1Kt6xdvCnAo57QXVHXm6HM7JAXH7YjE27i/XZICR2c2Uc8DxjyIfmRZZ3uacOJPXrxO6iq727Anu04gkr1ckhinUhkqwDLqLLJwUyBc0gsXE8bTiskPqCYaGNKR8YJKcrBCVhYAplYh2UNEVkzXW5uZE9PP0osGRB347St/y8BebkAEPlmPgrHFDtRbPc1qX592H6Xq5IcUB/18htgPcE2Jp+W4YywoYT14oYbhbtGW3OySmhOk58dR8Q+uAQBzAd4oOxK3shDGEJi1lWkClpZ4uhHHQWbeyaKq62oY0qSmzPjAZt1nt3Dd9h58R/X/s32hNlP55xPNgHQbroIYqAIERWUaaB9hRUCciKG3ZbJoTgsVOoEIj60Tt29J4vysddBc8Sha31ImM4wMGhMR75lJE4y9mFTNxkSl2q4PzIiar0xoIa0K57E8xrqNXWP3b4zLT6d/0qfeAFKdVbgJTGuaHGQ42L2Ri0RxLvroYjxiOY9zfOCW+7CrLQ== mozyubi01",
        ],
    },
    {
        "name": "rcurran",
        "uid": 2006,
        "groups": ["relops", "slurm", "admin"],
        "ssh_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF1CXyzAMcQKec/QAYuprXjtMAZeSdbxMuJ107DIF45j rcurran@mozilla.com",
        ],
    },
    {
        "name": "bhearsum",
        "uid": 2008,
        "groups": ["releng", "slurm"],
        "ssh_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtBhVQFi++zDdhoDzh/eCVrnRwnuUAIzDa5LQr0LBjX",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC2fC5l1mt0f0wM+xKA/sEgEMq/nPfFSTrNK42XOicnyXBF7WyGP+bFrLnCBOfBSHMTW0zW5Km5Ewotu7JR/VZ74CZv3wgv0eGoTWkm6zBD7G0AvcI5HRuBJMjrGPoXcbdpkKUPDLG4I4Ijp3avCi//tcFOTdXv2Y9XSMR827YhMS7IsamVsaCEYmKJrv/gYy0kH4wrtLCiCv+bKz4vQ0aNB+qa93715/KzbZmZ0kWAOUcz869950qz8c5uSM/CqoOhq9SCKU6zoaR8gF3rJk7OTQpWnMeegWS1GBNWSXU2pB6zrijUjjBZHIFFcYCP3Wz+pxQBmuFqzSN62TKvbLezzomyJBXjBwYxRBGLRDm/1wk3y++INkHYWuzi93RdnUg1t+0u/eHw4pguqyNp+m7FPrc6iZkOncQLbhZmTvZFlopVrMZAB/UwTz1+srDG3rBmRT571t27eAaY5A+OuvWh4u0akS8QzhO2uhY+QjixuXsFyNipsEpoq+GwxwjKuoM= bhearsum@voot",
        ],
    },
    {
        "name": "gabriel",
        "uid": 2009,
        "groups": ["releng", "slurm"],
        "ssh_keys": [
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQDckeV1kqxcageX4KWL9Shq+sig7tUTYexXmB5dMC3oIAOl5pSYu0f6AOA1xkzlJPRturYJG10O1Kuzv4EY3EyoF+DQG0Gremb+iWdGvZutzGwWSXitcwZZ8bUoq3TADuEdhWDfsyGf3vYlO/IbmoO1Sedc4cD//Xre8q0D1rXWDkV+Ik43WA9qcpIo1pIklS8Y1iT4r6oSC0fFM5ELqyJilZj/gy3vjT8fWSXt6KTIs2Qkc5Ayz5Y7FUlRf9MplzyQKoxKtT+MsaaNoVgKJea/OVnwyFcEvMGZytJZN7GpqSUJO4W9Fp8PQX1bJ5PxjKVcHZ/Pmt9XnmkBAaSpvr5nCSZ1sleO/z5Att6NulUbqUChSKeoFacCyQ7IYwX1myVOFCi4rLrDzCYwPxIjroWh+VuNZoXUUrAL4BFHB7Df2skDsyznm1OqUTqk06TNfCQOf7Xt5DGsw2eAPA5xD0qlOrVBNhOVIVwETNqZSTSvBQgqcIGBh1XbbbJSbi8tww96tXK831hQ+83EASUi3MpMz3ZcoeFVE6P/TMJCiGygRsvgyv4z0AJ1AYi9viWxAfmQVd661k84qiN547GU9A6HwMABsw4p+mg3LsvMtU7ka1aiKwpmIFJq+8HNmBvdYKGXsMwxQwmXpuYgry2yV+2GYn4XbArNz8qPUszxzXZwqQ== Mozilla_key",
        ],
    },
    {
        "name": "epavlov",
        "uid": 2100,
        "groups": ["translations", "slurm"],
        "ssh_keys": [
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQDb6LUzoc8YPetUGjDAit0cVXYWVIzT4wigXd+yDdxA15380qvWJzit1mQI7zs713I/hj17PL2JeDMywN4BUWYixmZZ3O5aY1MZAyVD6DSVKfl7P4gTIPBABTI7z+g11bQTFpExzIbJLvbYTFTsYkz7QM0IfzYjHOFI18zYeU2wqg1E9Iluq1mlVI2rmFZ8k4fd2xuNk2agFAqHgdeQIYnLvvadQeuwKw0qp5KeRzA7ONc7fuRBFDv9aBZkZgRBy6AZGU8sspi5Km2ofnJmfD/N1LxzdNK0L/tMmZos0Ldp/SEq8qpa0l3HInlZO/iWH2eNUhwr2hnUNP8NKDqafQ0YYZ+Z4lZChpVzEGjmkpV9TqWJpYeL0fMm4wdm97zab+2Ze0LpriFxOr2rjDq8/kQJIWZGk+Hr+hySur5nWYJMK/9P0n9JPaCbgD2ZrSZeglp95HPxVnGzToBqwWNAfpMMrUYCxyo8hQsQuIPWb7TI4Hphl9R1pwqYo0JHvVaxadJgbNL6o09w1OZ52lz5Prb9s5r13O1kgNPY5Hf6B1bk8HQulTlCQUfFcchWmDIRrYNJP+qqcSfvMf1blw1/aWkeAmQIJDBpHBBie0Buwk7LkNmKyZn2qMgTIRDAkruI4LmGb35vAcNJMldaJsxfdY89jjOqfKtth6DXxR8OfiAbDw== Mozilla_key",
        ],
    },
    {
        "name": "marco",
        "uid": 2101,
        "groups": ["translations", "slurm"],
        "ssh_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBTegMjKcArfphyQu1UNQIJDytGDa2MUYiKOLeeusITm",
        ],
    },
    {
        "name": "gtatum",
        "uid": 2102,
        "groups": ["translations", "slurm"],
        "ssh_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGi4XBeEsfB6Cm5G0wERRJjv+/WoHjuZXw76K/RbpBAF gtatum@mozilla.com",
        ],
    },
    {
        "name": "sylvestre",
        "uid": 2103,
        "groups": ["translations", "slurm"],
        "ssh_keys": [
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCd44oAGXWBvYT4UKQ13KJ90dtQI+wUvkmpy/rHJB0l4M2EUf0JBLKAQAWt7eOeb8IkD3L7xggw4Ri85hxLmHA83S63FamX+PKFwJtNl3S1mdd9EBrH6bLA+wnZUeg5/ASMVdfseC+GfQ6qJMD3AuxhvNmtuPH7eIAGyQnd4soLBy59Nbv+qQFkW3fNwmCNLpfS08FOjDVxfyV8GCgKMQRqXGs5eD/8TBSd4cmXsY9Mime9IJWNURbc2T9yZuRmUyJQvvnFYvU0qMUS8SKIr1YckCrWh1QmxNKVrXXr1HIZOkmeSk8cjT7gA3HBEIntPbApzaEuJ6pl4Xm5yXIFRFNV0X9qk1vGugRgwd3gBi3ZErSlsc7CEmbqG/52abZ6oVLpBbSD73dGCniVBolzNmONFDWlWODc6bxUx91LkD6xwVdPrhM2vktVT/B/L6liIuRNhsWMNATysfDQzD+46fU2KriAge+aJgUZvW5lOPnaGpFvYlqguExLj1gkpi687vc= sylvestre@mindoro",
        ],
    },
]

# More sudo rules (/etc/sudoers.d/snakepit-admins), the Puppet project's: the admin group
# may do anything, and epavlov may act as slurm (`sudo -i -u slurm`).
sudo_rules = [
    {"who": "%admin", "runas": "ALL"},
    {"who": "epavlov", "runas": "slurm"},
]

# Slurm, shared by slurmctld (head) and slurmd (workers, configless). Every key, its default
# and the slurm.conf defaults table are in docs/data.md.
slurm = {
    # The Puppet project's name: renaming loses slurmctld's state and the accounting history.
    "cluster_name": "slurmpit",
    # Debian 12 ships Slurm 22.05: which settings need a restart follows the version.
    "version": "22.05",
    # RealMemory declared = detected memory minus this, so the OS keeps some.
    "memory_reserve_mib": 2048,
    # slurmdbd's MariaDB database and user (the password lives in the secrets file).
    "database": "slurm_acct_db",
    "database_user": "slurm",
    # slurm.conf over the defaults (docs/data.md); None removes a default. Memory per CPU
    # is set per partition (below).
    "config": {},
    # slurmrestd on the head, as the Puppet project ran it (treydock/puppet-slurm's
    # defaults): 0.0.0.0:6820, JWT tokens, as nobody.
    "restd": {"enabled": True, "listen": "0.0.0.0:6820"},
}

# One partition per GPU model; members are the inventory group of the same name. gpu_type is
# the model as Slurm's NVML plugin names it (users submit --gres=gpu:nvidia_titan_xp:2); a
# node whose nvidia-smi reports another model is refused.
# Jobs that ask for no memory get DefMemPerCPU per CPU, and at most MaxMemPerCPU (the
# Puppet project's values); DefMemPerCPU x CPUs must fit every node's RealMemory (checked).
slurm_partitions = [
    {"name": "txp", "gpu_type": "nvidia_titan_xp", "default": True, "max_time": "INFINITE"},
    {"name": "g2080", "gpu_type": "nvidia_geforce_rtx_2080_ti", "max_time": "INFINITE"},
    {"name": "q6000", "gpu_type": "quadro_rtx_6000", "max_time": "INFINITE"},
]
slurm_partitions = [
    {**partition, "config": {"DefMemPerCPU": 2000, "MaxMemPerCPU": 2300}}
    for partition in slurm_partitions
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
            "keep_existing": True,
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
            "keep_existing": True,
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
    # The workers' /data, where the mounts live: only root and slurm's group enter.
    "worker_directories": [{"path": "/data", "owner": "root", "group": "slurm", "mode": "0750"}],
}

# Caching HTTP proxy on the head (squid): apt on the workers goes through it.
proxy = {
    "port": 8123,
    "cache_size_mib": 20000,
    "no_proxy": ["localhost", "127.0.0.1"],
}
