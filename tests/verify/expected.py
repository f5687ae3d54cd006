"""What a converged cluster should look like, as plain values, from a pyinfra inventory.

The only module of the verify suite that knows the cluster model: it loads the inventory
the way the pyinfra CLI does (the repository's ``group_data/``, then the ``group_data/``
beside the inventory file, e.g. a sandbox's overrides), validates it with the deploys' own
loader, and copies out what a read-only check compares against. When the model changes,
this is the one file to adapt. Nothing here connects to a host or reads a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from glue.loading import cluster_from_inventory
from snakepit.slurm_settings import VERSIONS

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Group:
    name: str
    gid: int


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    group: str  # primary group
    groups: frozenset[str]  # supplementary groups
    home: str
    shell: str
    sudo_runas: frozenset[str]  # what `sudo -l` lists, e.g. "ALL : ALL", "slurm"; empty: none


@dataclass(frozen=True)
class Export:
    path: str  # on the head
    mount_point: str  # on the workers
    owner: str
    group: str
    mode: int
    access: str  # "ro" or "rw"
    keep_existing: bool  # owner and mode are the data's only when it made the directory


@dataclass(frozen=True)
class Directory:
    path: str
    owner: str
    group: str
    mode: int


@dataclass(frozen=True)
class Worker:
    name: str
    partition: str
    gpu_types: tuple[str, ...]  # its partition's GRES types (Slurm's names of GPU models)
    gpus: int | None  # None: as many as the worker's GPU device files
    gpu_device_glob: str  # the worker's GPU device files, e.g. /dev/nvidia[0-9]*


@dataclass(frozen=True)
class Target:
    """How the inventory reaches one host (pyinfra's ssh_* data; None where unset)."""

    name: str
    role: str  # "head" or "worker"
    address: str
    user: str | None
    port: int | None
    key: str | None
    strict_host_key_checking: str | None
    known_hosts_file: str | None


@dataclass(frozen=True)
class Expected:
    cluster_name: str
    head: str
    workers: tuple[Worker, ...]
    groups: tuple[Group, ...]
    users: tuple[User, ...]
    storage_mode: str  # "nfs": mounted by systemd; "shared-volume": units only rendered
    exports: tuple[Export, ...]
    mount_options: tuple[str, ...]
    worker_directories: tuple[Directory, ...]
    restd_listen: str | None  # slurmrestd's address:port; None: not run
    restd_api: str  # the REST API version the Slurm version serves (v0.0.38)
    hosts: tuple[tuple[str, str], ...]  # (address, name) in every host's /etc/hosts
    root_ssh_keys: dict[str, tuple[str, ...]]  # per host: keys root accepts
    proxy_port: int
    proxy_url: str
    targets: tuple[Target, ...]

    def __repr__(self) -> str:  # short, for tracebacks
        return f"Expected(cluster {self.cluster_name!r}: {self.head} + {len(self.workers)} workers)"

    @property
    def worker_names(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.workers)

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    def target(self, host: str) -> Target | None:
        """The inventory host that ``host`` (a name or an ssh address) is, if any."""
        for target in self.targets:
            if host in (target.name, target.address):
                return target
        return None


def load(inventory_path: str | Path) -> Expected:
    """The expected state of the cluster that ``inventory_path`` describes."""
    with ctx_state.use(State()):
        inventory = make_inventory(str(Path(inventory_path).resolve()), cwd=str(REPO))
    cluster = cluster_from_inventory(inventory)
    return Expected(
        cluster_name=cluster.slurm.cluster_name,
        head=cluster.head,
        workers=tuple(
            Worker(n.host, n.partition, n.gpu_types, n.gpu_count, n.gpu_device_glob)
            for n in cluster.nodes
        ),
        groups=tuple(Group(g.name, g.gid) for g in cluster.groups),
        users=tuple(
            User(
                name=u.name,
                uid=u.uid,
                group=u.group,
                groups=frozenset(u.groups),
                home=u.home,
                shell=u.shell,
                sudo_runas=_sudo_runas(cluster, u),
            )
            for u in cluster.users
        ),
        storage_mode=cluster.storage.mode,
        exports=tuple(
            Export(
                e.path, e.mount_point, e.owner, e.group, int(e.mode, 8), e.access, e.keep_existing
            )
            for e in cluster.storage.exports
        ),
        mount_options=cluster.storage.mount_options,
        worker_directories=tuple(
            Directory(d.path, d.owner, d.group, int(d.mode, 8))
            for d in cluster.storage.worker_directories
        ),
        restd_listen=cluster.slurm.restd.listen if cluster.slurm.restd.enabled else None,
        restd_api=VERSIONS[cluster.slurm.version].rest_api,
        hosts=cluster.hosts,
        root_ssh_keys=dict(cluster.root_ssh_keys),
        proxy_port=cluster.proxy.port,
        proxy_url=cluster.proxy_url,
        targets=tuple(
            _target(host, "head" if host.name == cluster.head else "worker")
            for host in inventory
            if host.name == cluster.head or host.name in cluster.workers
        ),
    )


def _sudo_runas(cluster, user) -> frozenset[str]:
    """The run-as lists `sudo -l -U <user>` shows for the user's rules."""
    runas = {"ALL : ALL"} if user.sudo else set()
    own = {user.name} | {f"%{g}" for g in (user.group, *user.groups)}
    runas |= {rule.runas for rule in cluster.sudo_rules if rule.who in own}
    return frozenset(runas)


def _target(host, role: str) -> Target:
    data = host.data
    port = data.get("ssh_port")
    return Target(
        name=host.name,
        role=role,
        address=data.get("ssh_hostname") or host.name,
        user=data.get("ssh_user"),
        port=int(port) if port else None,
        key=data.get("ssh_key"),
        strict_host_key_checking=data.get("ssh_strict_host_key_checking"),
        known_hosts_file=data.get("ssh_known_hosts_file"),
    )
