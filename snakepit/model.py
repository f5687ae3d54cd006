"""The cluster's data as typed, validated objects.

Group data files (``group_data/*.py``) are plain Python assignments that pyinfra merges per
host. Deploys never read ``host.data`` themselves: `build_cluster` turns the merged data of
the head and of every worker into one `Cluster`, checking every field, and raises
`DataError` naming the host, the field and (when the caller knows it) the file, before any
operation is planned.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$")
STORAGE_MODES = ("nfs", "shared-volume")
# One public key, one line: "<type> <base64> [comment]" (no options, no second line).
SSH_KEY_RE = re.compile(
    r"(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?"
)
ROLES = ("slurm_head", "slurm_worker")


class DataError(ValueError):
    """Bad cluster data; the message names where it is and what is wrong."""

    def __init__(self, field_path: str, problem: str, *, host: str | None = None):
        self.field_path = field_path
        self.problem = problem
        self.host = host
        self.source: str | None = None
        super().__init__(self._message())

    def with_source(self, source: str | None) -> DataError:
        self.source = source
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        where = f"{self.source}: " if self.source else ""
        who = f"host {self.host}: " if self.host else ""
        return f"{where}{who}{self.field_path}: {self.problem}"


# -- typed objects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSpec:
    name: str
    gid: int


@dataclass(frozen=True)
class UserSpec:
    name: str
    uid: int
    group: str  # primary group
    groups: tuple[str, ...] = ()
    home: str = ""
    shell: str = "/bin/bash"
    ssh_keys: tuple[str, ...] = ()
    sudo: bool = False
    comment: str = ""


@dataclass(frozen=True)
class PartitionSpec:
    name: str
    default: bool
    gpu_type: str
    max_time: str = "INFINITE"
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeSpec:
    """What the data declares for one worker; None means "take it from the facts"."""

    host: str
    partition: str
    gpu_type: str
    gpu_count: int | None = None
    cpus: int | None = None
    sockets: int | None = None
    cores_per_socket: int | None = None
    threads_per_core: int | None = None
    gpu_device_glob: str = "/dev/nvidia[0-9]*"
    cuda_manifest: str | None = None  # manifests/<name>.yaml installed before slurmd


@dataclass(frozen=True)
class SlurmSettings:
    cluster_name: str
    proctrack_type: str
    task_plugin: str
    select_type_parameters: str
    return_to_service: int
    memory_reserve_mib: int
    database: str
    database_user: str
    extra_config: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NfsExport:
    path: str  # on the head
    mount_point: str  # on the workers
    access: str  # "ro" or "rw"
    owner: str
    group: str
    mode: str


@dataclass(frozen=True)
class StorageSettings:
    mode: str
    exports: tuple[NfsExport, ...]
    mount_options: tuple[str, ...]


@dataclass(frozen=True)
class ProxySettings:
    port: int
    cache_size_mib: int
    no_proxy: tuple[str, ...]


@dataclass(frozen=True)
class Cluster:
    head: str
    head_address: str
    subnet: str
    timezone: str
    base_packages: tuple[str, ...]
    groups: tuple[GroupSpec, ...]
    users: tuple[UserSpec, ...]
    slurm: SlurmSettings
    storage: StorageSettings
    proxy: ProxySettings
    partitions: tuple[PartitionSpec, ...]
    nodes: tuple[NodeSpec, ...]
    uid_range: tuple[int, int] = (1000, 59999)
    workers: tuple[str, ...] = field(default=())

    def node(self, host: str) -> NodeSpec:
        for node in self.nodes:
            if node.host == host:
                return node
        raise KeyError(host)

    @property
    def default_partition(self) -> PartitionSpec:
        return next(p for p in self.partitions if p.default)

    @property
    def proxy_url(self) -> str:
        return f"http://{self.head}:{self.proxy.port}"


# -- field readers ---------------------------------------------------------------------------


class _Reader:
    """Reads one mapping's fields with types checked, naming the field on error."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "", host: str | None = None):
        self.data = data
        self.prefix = prefix
        self.host = host

    def path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.prefix}[{key}]"
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str | int, problem: str) -> DataError:
        return DataError(self.path(key), problem, host=self.host)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, none=False):
        if key not in self.data or (self.data[key] is None and not none):
            if default is ...:
                raise self.error(key, "is missing")
            return default
        value = self.data[key]
        if value is None and none:
            return None
        if kind is int and isinstance(value, bool):
            raise self.error(key, f"expected int, got bool ({value!r})")
        if not isinstance(value, kind):
            expected = (
                kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            )
            raise self.error(key, f"expected {expected}, got {type(value).__name__} ({value!r})")
        return value

    def name(self, key: str, default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value is not default and not NAME_RE.match(value):
            raise self.error(key, f"{value!r} is not a valid name (lowercase, digits, - and _)")
        return value

    def positive(self, key: str, default: Any = ..., *, none: bool = False) -> int | None:
        value = self.get(key, int, default, none=none)
        if value is not None and value is not default and value < 1:
            raise self.error(key, f"must be >= 1, got {value}")
        return value

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, (list, tuple), default)
        if value is default:
            return value
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise DataError(
                    f"{self.path(key)}[{index}]",
                    f"expected a non-empty string, got {item!r}",
                    host=self.host,
                )
        return tuple(value)

    def mapping(self, key: str) -> _Reader:
        value = self.get(key, Mapping)
        return _Reader(value, self.path(key), self.host)

    def items(self, key: str) -> list[_Reader]:
        value = self.get(key, (list, tuple))
        readers = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise DataError(
                    f"{self.path(key)}[{index}]",
                    f"expected a mapping, got {type(item).__name__}",
                    host=self.host,
                )
            readers.append(_Reader(item, f"{self.path(key)}[{index}]", self.host))
        return readers


def _absolute(reader: _Reader, key: str) -> str:
    value = reader.get(key, str)
    parts = value.strip("/").split("/")
    if (
        not value.startswith("/")
        or "//" in value
        or any(part in (".", "..") for part in parts)
        or not re.fullmatch(r"[A-Za-z0-9/_.+-]+", value)
    ):
        raise reader.error(key, f"{value!r} is not a plain, normalized absolute path")
    return value.rstrip("/") or "/"


# -- building the cluster --------------------------------------------------------------------


def build_cluster(
    head: tuple[str, Mapping[str, Any]],
    workers: Sequence[tuple[str, Mapping[str, Any]]],
    groups: Mapping[str, Sequence[str]],
) -> Cluster:
    """Validate the merged data of the head and each worker into a `Cluster`.

    ``head`` and ``workers`` are (host name, merged host data); ``groups`` maps inventory
    group names to their members (for partitions).
    """
    head_name, head_data = head
    r = _Reader(head_data, host=head_name)
    if not HOSTNAME_RE.match(head_name):
        raise DataError("inventory", f"head name {head_name!r} is not a valid hostname")

    subnet = r.get("cluster_subnet", str)
    try:
        network = ipaddress.ip_network(subnet, strict=True)
    except ValueError as error:
        raise r.error("cluster_subnet", f"{subnet!r} is not a network: {error}") from None
    if network.prefixlen == 0:
        raise r.error("cluster_subnet", "must not be the whole internet")

    uid_range = _uid_range(r)
    group_specs = _groups(r)
    user_specs = _users(r, group_specs, uid_range)
    partitions = _partitions(r, groups, [name for name, _ in workers])
    nodes = tuple(_node(name, data, partitions) for name, data in workers)

    return Cluster(
        head=head_name,
        head_address=r.get("cluster_head_address", str, head_name),
        subnet=str(network),
        timezone=_timezone(r),
        base_packages=r.strings("base_packages"),
        groups=group_specs,
        users=user_specs,
        slurm=_slurm(r.mapping("slurm")),
        storage=_storage(r.mapping("storage"), network, user_specs, group_specs),
        proxy=_proxy(r.mapping("proxy")),
        partitions=partitions,
        nodes=nodes,
        uid_range=uid_range,
        workers=tuple(name for name, _ in workers),
    )


def _uid_range(r: _Reader) -> tuple[int, int]:
    value = r.get("uid_range", (list, tuple))
    if (
        len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 0 < value[0] <= value[1]
    ):
        raise r.error("uid_range", f"expected [low, high] with 0 < low <= high, got {value!r}")
    return int(value[0]), int(value[1])


def _timezone(r: _Reader) -> str:
    value = r.get("timezone", str)
    if not re.match(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", value):
        raise r.error("timezone", f"{value!r} is not a zoneinfo name like Etc/UTC")
    return value


def _groups(r: _Reader) -> tuple[GroupSpec, ...]:
    specs: list[GroupSpec] = []
    seen_names: dict[str, str] = {}
    seen_ids: dict[int, str] = {}
    for item in r.items("groups"):
        name = item.name("name")
        gid = item.positive("gid")
        if name in seen_names:
            raise item.error("name", f"duplicate group name {name!r} (also {seen_names[name]})")
        if gid in seen_ids:
            raise item.error("gid", f"duplicate gid {gid} (also group {seen_ids[gid]!r})")
        seen_names[name], seen_ids[gid] = item.prefix, name
        specs.append(GroupSpec(name, gid))
    return tuple(specs)


def _users(
    r: _Reader, groups: tuple[GroupSpec, ...], uid_range: tuple[int, int]
) -> tuple[UserSpec, ...]:
    group_names = {g.name for g in groups}
    specs: list[UserSpec] = []
    seen_names: dict[str, str] = {}
    seen_ids: dict[int, str] = {}
    for item in r.items("users"):
        name = item.name("name")
        uid = item.positive("uid")
        if not uid_range[0] <= uid <= uid_range[1]:
            raise item.error(
                "uid", f"{uid} is outside the allowed range {uid_range[0]}-{uid_range[1]}"
            )
        if name in seen_names:
            raise item.error("name", f"duplicate user name {name!r} (also {seen_names[name]})")
        if uid in seen_ids:
            raise item.error("uid", f"duplicate uid {uid} (also user {seen_ids[uid]!r})")
        seen_names[name], seen_ids[uid] = item.prefix, name
        group = item.name("group", name)
        member_of = item.strings("groups", ())
        for index, g in enumerate((group, *member_of)):
            if g not in group_names:
                key = "group" if index == 0 else f"groups[{index - 1}]"
                raise item.error(key, f"unknown group {g!r} (not in groups)")
        keys = item.strings("ssh_keys", ())
        for index, key in enumerate(keys):
            if not SSH_KEY_RE.fullmatch(key):
                raise DataError(
                    f"{item.path('ssh_keys')}[{index}]",
                    "is not an OpenSSH public key line",
                    host=item.host,
                )
        specs.append(
            UserSpec(
                name=name,
                uid=uid,
                group=group,
                groups=member_of,
                home=item.get("home", str, f"/home/{name}"),
                shell=item.get("shell", str, "/bin/bash"),
                ssh_keys=keys,
                sudo=item.get("sudo", bool, False),
                comment=item.get("comment", str, ""),
            )
        )
    for group in groups:
        if group.name in seen_names and seen_ids.get(group.gid) not in (group.name, None):
            raise r.error("groups", f"group {group.name!r} gid {group.gid} is another user's uid")
    return tuple(specs)


def _partitions(
    r: _Reader, inventory_groups: Mapping[str, Sequence[str]], workers: Sequence[str]
) -> tuple[PartitionSpec, ...]:
    partitions: list[PartitionSpec] = []
    member_of: dict[str, str] = {}
    for item in r.items("slurm_partitions"):
        name = item.name("name")
        if any(p.name == name for p in partitions):
            raise item.error("name", f"duplicate partition {name!r}")
        members = tuple(inventory_groups.get(name, ()))
        for member in members:
            if member not in workers:
                raise item.error(
                    "name",
                    f"unknown partition member {member!r}: inventory group {name!r} lists it "
                    "but it is not in slurm_worker",
                )
            if member in member_of:
                raise item.error(
                    "name", f"{member!r} is in partitions {member_of[member]!r} and {name!r}"
                )
            member_of[member] = name
        partitions.append(
            PartitionSpec(
                name=name,
                default=item.get("default", bool, False),
                gpu_type=item.name("gpu_type"),
                max_time=item.get("max_time", str, "INFINITE"),
                members=members,
            )
        )
    defaults = [p.name for p in partitions if p.default]
    empty_defaults = [p.name for p in partitions if p.default and not p.members]
    if len(defaults) == 1 and empty_defaults and workers:
        raise r.error(
            "slurm_partitions",
            f"default partition {empty_defaults[0]!r} has no members (inventory group)",
        )
    if len(defaults) != 1:
        raise r.error(
            "slurm_partitions", f"exactly one partition needs default: True, got {defaults}"
        )
    for worker in workers:
        if worker not in member_of:
            raise DataError(
                "inventory",
                f"worker {worker!r} is in no partition group "
                f"({', '.join(p.name for p in partitions)})",
            )
    return tuple(partitions)


def _node(host: str, data: Mapping[str, Any], partitions: tuple[PartitionSpec, ...]) -> NodeSpec:
    if not HOSTNAME_RE.match(host):
        raise DataError("inventory", f"worker name {host!r} is not a valid hostname")
    r = _Reader(data, host=host)
    partition = next(p for p in partitions if host in p.members)
    declared = r.mapping("node") if "node" in data else _Reader({}, "node", host)
    return NodeSpec(
        host=host,
        partition=partition.name,
        gpu_type=partition.gpu_type,
        gpu_count=_non_negative(declared, "gpus"),
        cpus=declared.positive("cpus", None, none=True),
        sockets=declared.positive("sockets", None, none=True),
        cores_per_socket=declared.positive("cores_per_socket", None, none=True),
        threads_per_core=declared.positive("threads_per_core", None, none=True),
        gpu_device_glob=declared.get("gpu_device_glob", str, "/dev/nvidia[0-9]*"),
        cuda_manifest=r.get("cuda_manifest", str, None, none=True),
    )


def _non_negative(reader: _Reader, key: str) -> int | None:
    value = reader.get(key, int, None, none=True)
    if value is not None and value < 0:
        raise reader.error(key, f"must be >= 0, got {value}")
    return value


def _slurm(r: _Reader) -> SlurmSettings:
    extra = r.get("extra_config", Mapping, {})
    for key, value in extra.items():
        if not re.match(r"^[A-Za-z]+$", str(key)) or "\n" in str(value):
            raise r.error("extra_config", f"bad slurm.conf setting {key!r}={value!r}")
    return_to_service = r.get("return_to_service", int)
    if return_to_service not in (0, 1, 2):
        raise r.error("return_to_service", f"must be 0, 1 or 2, got {return_to_service}")
    reserve = r.get("memory_reserve_mib", int)
    if reserve < 0:
        raise r.error("memory_reserve_mib", f"must be >= 0, got {reserve}")
    return SlurmSettings(
        cluster_name=r.name("cluster_name"),
        proctrack_type=r.get("proctrack_type", str),
        task_plugin=r.get("task_plugin", str),
        select_type_parameters=r.get("select_type_parameters", str),
        return_to_service=return_to_service,
        memory_reserve_mib=reserve,
        database=r.name("database"),
        database_user=r.name("database_user"),
        extra_config=tuple(sorted((str(k), str(v)) for k, v in extra.items())),
    )


def _storage(
    r: _Reader,
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
    users: tuple[UserSpec, ...],
    groups: tuple[GroupSpec, ...],
) -> StorageSettings:
    known_users = {"root"} | {u.name for u in users}
    known_groups = {"root"} | {g.name for g in groups}
    mode = r.get("mode", str)
    if mode not in STORAGE_MODES:
        raise r.error("mode", f"must be one of {', '.join(STORAGE_MODES)}, got {mode!r}")
    exports = []
    for item in r.items("exports"):
        access = item.get("access", str)
        if access not in ("ro", "rw"):
            raise item.error("access", f"must be 'ro' or 'rw', got {access!r}")
        mode_text = item.get("mode", str)
        if not re.match(r"^0?[0-7]{3,4}$", mode_text):
            raise item.error("mode", f"{mode_text!r} is not an octal mode like '0750'")
        if item.name("owner") not in known_users:
            raise item.error("owner", f"unknown user {item.data['owner']!r} (not in users)")
        if item.name("group") not in known_groups:
            raise item.error("group", f"unknown group {item.data['group']!r} (not in groups)")
        exports.append(
            NfsExport(
                path=_absolute(item, "path"),
                mount_point=_absolute(item, "mount_point"),
                access=access,
                owner=item.name("owner"),
                group=item.name("group"),
                mode=mode_text,
            )
        )
    for attribute in ("path", "mount_point"):
        values = [getattr(e, attribute) for e in exports]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise r.error("exports", f"two exports share the {attribute} {duplicates[0]!r}")
    options = r.strings("mount_options")
    return StorageSettings(mode=mode, exports=tuple(exports), mount_options=options)


def _proxy(r: _Reader) -> ProxySettings:
    port = r.positive("port")
    if port > 65535:
        raise r.error("port", f"{port} is not a TCP port")
    return ProxySettings(
        port=port,
        cache_size_mib=r.positive("cache_size_mib"),
        no_proxy=r.strings("no_proxy", ()),
    )
