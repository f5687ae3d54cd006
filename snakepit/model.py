"""The cluster's data: its schema, and the validated `Cluster` the deploys read.

Group data files (``group_data/*.py``) are plain Python assignments that pyinfra merges per
host. Each host's merged data is validated against `HostData` (every key, its type, default
and meaning: ``docs/data.md`` is rendered from it), then `build_cluster` checks what spans
keys and hosts (ids, groups, partitions) and returns one frozen `Cluster`. Anything wrong
raises `DataError` naming the host and the field (the glue adds the file) before any
operation is planned. Deploys read nothing else: no ``host.data`` lookups, no private
defaults.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, PlainValidator, model_validator

from snakepit import slurm_settings
from snakepit.debian import PACKAGE_RE, check_version
from snakepit.schema import DataError, Field, FieldProblem, Schema, render_model_docs, validate

__all__ = ["ROLES", "Cluster", "DataError", "HostData", "build_cluster"]

NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$")
# What Slurm's NVML plugin makes of a product name (snakepit.slurm.gres_type): lower case, no
# spaces; ':', ',' and '=' would break slurm.conf's Gres= syntax. NVML names fit 96 bytes.
GRES_TYPE_RE = re.compile(r"^[a-z0-9_][a-z0-9_.+-]{0,94}$")
# One public key, one line: "<type> <base64> [comment]" (no options, no second line).
SSH_KEY_RE = re.compile(
    r"(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?"
)
ROLES = ("slurm_head", "slurm_worker")


# -- value types: each says what is allowed ------------------------------------------------


def _rule(check, message: str):
    def validator(value):
        if not check(value):
            raise ValueError(message.format(value=value))
        return value

    return AfterValidator(validator)


def _lax_sequence(value: Any) -> Any:
    # Group data writes lists; the model keeps tuples. Anything else is refused by type.
    return tuple(value) if isinstance(value, list) else value


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _uid_range(value: Any) -> Any:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 1000 <= value[0] <= value[1] <= 59999
    ):
        raise ValueError(
            f"expected [low, high] with 1000 <= low <= high <= 59999 (Debian's range for "
            f"people; lower ids are system accounts'), got {value!r}"
        )
    return tuple(value)


def _normalized_path(value: str) -> bool:
    parts = value.strip("/").split("/")
    return (
        value.startswith("/")
        and "//" not in value
        and not any(part in (".", "..") for part in parts)
        and re.fullmatch(r"[A-Za-z0-9/_.+-]+", value) is not None
    )


Name = Annotated[
    str,
    _rule(lambda v: NAME_RE.match(v), "{value!r} is not a valid name (lowercase, digits, - and _)"),
]
NonEmpty = Annotated[
    str, _rule(lambda v: v.strip() != "", "expected a non-empty string, got {value!r}")
]
AbsolutePath = Annotated[
    str,
    _rule(_normalized_path, "{value!r} is not a plain, normalized absolute path"),
    AfterValidator(lambda v: v.rstrip("/") or "/"),
]
Mode = Annotated[
    str,
    _rule(lambda v: re.match(r"^0?[0-7]{3,4}$", v), "{value!r} is not an octal mode like '0750'"),
    # A setuid/setgid directory on shared storage hands files' ids to whoever writes
    # there; a world-writable one without the sticky bit lets anyone replace others' files.
    _rule(lambda v: not int(v, 8) & 0o6000, "{value!r} sets the setuid or setgid bit"),
    _rule(
        lambda v: not int(v, 8) & 0o002 or int(v, 8) & 0o1000,
        "{value!r} is world-writable without the sticky bit (e.g. '1777')",
    ),
]
# What an export or a mount point must never be: the system itself (or a part of it) served
# to, or hidden under a mount on, every host of the subnet.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                "/root", "/run", "/sbin", "/sys", "/usr")  # fmt: skip
TEMPORARY_DIRS = ("/tmp", "/var/tmp")  # noqa: S108 (refused here, never used)
SYSTEM_PATHS = frozenset(
    ("/", *SYSTEM_TREES, *TEMPORARY_DIRS, "/home", "/var", "/var/cache", "/var/lib", "/var/log",
     "/var/spool")
)  # fmt: skip


def _not_system_path(value: str) -> bool:
    return value not in SYSTEM_PATHS and not any(
        value.startswith(tree + "/") for tree in SYSTEM_TREES
    )


SharedPath = Annotated[
    AbsolutePath,
    _rule(_not_system_path, "{value!r} is a system path (never exported or mounted over)"),
]


def _ssh_key(value: str) -> bool:
    """One OpenSSH public key line whose base64 blob really holds a key of its stated type."""
    if not SSH_KEY_RE.fullmatch(value):
        return False
    kind, blob = value.split()[:2]
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return False
    size = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else 0
    return len(raw) >= 32 and raw[4 : 4 + size].decode("ascii", "replace") == kind


SshKey = Annotated[str, _rule(_ssh_key, "is not an OpenSSH public key line")]
# Accounts Debian or our packages create: a human given one of these names would take it over.
SYSTEM_ACCOUNTS = frozenset(
    [
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "nobody",
        "_apt",
        "messagebus",
        "sshd",
        "munge",
        "mysql",
        "statd",
        "_rpc",
        "systemd-network",
        "systemd-resolve",
        "systemd-timesync",
        "systemd-coredump",
    ]
)
IpAddress = Annotated[str, _rule(_is_address, "{value!r} is not an IP address")]
HostName = Annotated[
    str,
    _rule(
        lambda v: _is_address(v) or re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", v),
        "{value!r} is not a host name or an IP address",
    ),
]
NoProxyEntry = Annotated[
    str,
    _rule(
        lambda v: _is_network(v) or re.fullmatch(r"\.?[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", v),
        "{value!r} is not a host, .domain, address or network for no_proxy",
    ),
]
Package = Annotated[str, _rule(PACKAGE_RE.match, "{value!r} is not a Debian package name")]
Positive = Annotated[int, Field(ge=1)]


def _gres_types(value: Any) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else value
    if not isinstance(values, list | tuple) or not values:
        raise ValueError(f"expected a GRES type or a non-empty list of them, got {value!r}")
    for item in values:
        if not isinstance(item, str) or not GRES_TYPE_RE.match(item):
            raise ValueError(
                f"{item!r} is not a GRES type as Slurm names GPU models "
                "(lower case, spaces as _: 'nvidia_titan_xp')"
            )
    if len(set(values)) != len(values):
        raise ValueError(f"a GRES type is listed twice: {list(values)}")
    return tuple(values)


# One GRES type, or a list of them; validated to a tuple.
GresTypes = Annotated[str | tuple[str, ...], PlainValidator(_gres_types)]


def Strings(item: Any = NonEmpty) -> Any:
    return Annotated[tuple[item, ...], BeforeValidator(_lax_sequence)]


def _one_or_more(value: Any) -> Any:
    # One manifest path, or a list of them (one per release): the model keeps a tuple.
    return (value,) if isinstance(value, str) else _lax_sequence(value)


PathOrPaths = Annotated[tuple[NonEmpty, ...], BeforeValidator(_one_or_more)]


# -- the schema of group data --------------------------------------------------------------


class GroupSpec(Schema):
    """A group with a fixed gid (the same on every host and on NFS)."""

    name: Name = Field(description="group name")
    gid: Positive = Field(description="fixed group id")


class UserSpec(Schema):
    """A user with a fixed uid. Humans need only name, uid and ssh_keys."""

    name: Annotated[
        Name,
        _rule(lambda v: v not in SYSTEM_ACCOUNTS, "{value!r} is a system account's name"),
    ] = Field(description="login name (not a system account's)")
    uid: int = Field(description="fixed user id, inside `uid_range`")
    group: Name | None = Field(
        None, description="primary group (a `groups` entry); default: `default_user_group`"
    )
    groups: Strings(Name) = Field((), description="supplementary groups (`groups` entries)")
    home: AbsolutePath | None = Field(None, description="home directory; default /home/<name>")
    shell: AbsolutePath = Field("/bin/bash", description="login shell")
    ssh_keys: Strings(SshKey) = Field(
        (), description="OpenSSH public key lines, one per key, put in authorized_keys"
    )
    sudo: bool = Field(False, description="passwordless sudo (/etc/sudoers.d/snakepit-admins)")
    comment: str = Field("", description="GECOS comment")


class SudoRule(Schema):
    """One sudoers rule: who may run every command as whom, without a password."""

    who: str = Field(
        pattern=r"^%?[a-z_][a-z0-9_-]{0,31}$",
        description="a user name, or %group (a `groups` entry)",
    )
    runas: str = Field(
        "ALL",
        pattern=r"^(ALL|[a-z_][a-z0-9_-]{0,31})$",
        description="the user they may act as (`sudo -u`): ALL, or a user name",
    )


class PartitionSpec(Schema):
    """A Slurm partition: one per GPU model; its members are the inventory group of its name."""

    name: Name = Field(description="partition name = inventory group of its workers")
    gpu_type: GresTypes = Field(
        description="its GPU model as Slurm's NVML plugin names it (nvidia-smi's product name, "
        "lower case, spaces as `_`: `nvidia_titan_xp`; `--gres=gpu:<type>:N`); a list where "
        "nodes have several models (without a driver, the first is assumed)"
    )
    default: bool = Field(False, description="the default partition (exactly one)")
    max_time: str = Field(
        "INFINITE",
        description="MaxTime: INFINITE, minutes, or [days-]hours:minutes:seconds",
    )
    config: Annotated[dict[str, Any], Field(strict=False)] = Field(
        default_factory=dict,
        description="more PartitionName settings (e.g. DefMemPerCPU), one line each",
    )

    @model_validator(mode="after")
    def _check(self) -> PartitionSpec:
        if not re.fullmatch(r"INFINITE|UNLIMITED|\d+|(\d+-)?\d+(:\d{2}){0,2}", self.max_time):
            raise FieldProblem("max_time", f"{self.max_time!r} is not a Slurm time limit")
        for key, value in self.config.items():
            problem = slurm_settings.check_partition_setting(key, value)
            if problem:
                raise FieldProblem(f"config.{key}", problem)
        return self


class NodeData(Schema):
    """What a worker's partition file declares; unset values come from the host's facts."""

    gpus: int | None = Field(None, ge=0, description="GPU count; default: detected")
    cpus: Positive | None = Field(None, description="CPUs; default: detected")
    sockets: Positive | None = Field(None, description="sockets; default: detected")
    cores_per_socket: Positive | None = Field(None, description="cores per socket")
    threads_per_core: Positive | None = Field(None, description="threads per core")
    gpu_device_glob: str = Field(
        "/dev/nvidia[0-9]*",
        pattern=r"^/dev/[A-Za-z0-9_*?\[\]-]+$",
        description="GPU character devices, counted where no driver answers",
    )


class SlurmPackages(Schema):
    """The Debian packages of each Slurm daemon (the release's own Slurm by default)."""

    # auth/jwt (slurmrestd's tokens) is a plugin every daemon and client loads when
    # slurm.conf's AuthAltTypes names it, workers' included.
    controller: Strings(Package) = Field(
        ("slurmctld", "slurm-client", "slurm-wlm-jwt-plugin"), description="head"
    )
    database: Strings(Package) = Field(("slurmdbd",), description="head, accounting")
    node: Strings(Package) = Field(
        ("slurmd", "slurm-client", "slurm-wlm-jwt-plugin"), description="workers"
    )
    version: str | None = Field(
        None, description="exact Debian version of every Slurm package; None: apt's candidate"
    )

    @model_validator(mode="after")
    def _check(self) -> SlurmPackages:
        if self.version is not None:
            check_version(self.version)
        return self


class SlurmRestd(Schema):
    """slurmrestd, Slurm's REST API on the head (JWT tokens: ``scontrol token``)."""

    enabled: bool = Field(True, description="run slurmrestd on the head")
    listen: str = Field(
        "0.0.0.0:6820",
        pattern=r"^[0-9a-fA-F.:\[\]]+:\d{1,5}$",
        description="address:port it listens on",
    )
    user: Name = Field("nobody", description="it runs as (never root or SlurmUser)")
    group: Name = Field("nogroup", description="its group")
    packages: Strings(Package) = Field(("slurmrestd",), description="its Debian packages")


class SlurmSettings(Schema):
    """Slurm, shared by slurmctld and slurmdbd (head) and configless slurmd (workers)."""

    cluster_name: Name = Field(description="ClusterName (renaming loses state and accounting)")
    version: Literal["22.05", "24.11"] = Field(
        "22.05",
        description="Slurm major version the hosts' release ships (Debian 12: 22.05, "
        "Debian 13: 24.11); a run stops when the head's release ships another",
    )
    packages: SlurmPackages = Field(default_factory=SlurmPackages, description="see below")
    memory_reserve_mib: int = Field(
        2048,
        ge=0,
        le=262144,
        description="RealMemory = detected memory minus this (the OS keeps it)",
    )
    database: Name = Field("slurm_acct_db", description="slurmdbd's MariaDB database")
    database_user: Name = Field("slurm", description="slurmdbd's MariaDB user")
    restd: SlurmRestd = Field(default_factory=SlurmRestd, description="see below")
    config: Annotated[dict[str, Any], Field(strict=False)] = Field(
        default_factory=dict,
        description="slurm.conf settings over the defaults (table below); None removes one",
    )

    @model_validator(mode="after")
    def _check(self) -> SlurmSettings:
        for key, value in self.config.items():
            problem = slurm_settings.check_setting(self.version, key, value)
            if problem:
                raise FieldProblem(f"config.{key}", problem)
        if self.restd.enabled and slurm_settings.jwt_key_path(self.conf) is None:
            raise FieldProblem(
                "restd.enabled",
                "slurmrestd takes JWT tokens: slurm.config needs AuthAltTypes with auth/jwt "
                "and AuthAltParameters with jwt_key=<path>",
            )
        return self

    @property
    def conf(self) -> dict[str, str]:
        """Every global slurm.conf setting but the derived ones, in render order."""
        return slurm_settings.merged(self.config, self.version)

    @property
    def restart_keys(self) -> frozenset[str]:
        return slurm_settings.VERSIONS[self.version].restart_keys


class NfsExport(Schema):
    """A directory the head exports and the workers mount."""

    path: SharedPath = Field(description="on the head; never a system path (/, /etc, /usr, ...)")
    mount_point: SharedPath = Field(description="on the workers; never a system path")
    access: Literal["ro", "rw"] = Field(description="what the workers may do")
    owner: Name = Field(description="owner of the exported directory (a user, or root)")
    group: Name = Field(description="its group (a `groups` entry, or root)")
    mode: Mode = Field(
        description="its octal mode, e.g. '0750': no setuid/setgid, world-writable only if sticky"
    )
    keep_existing: bool = Field(
        False,
        description="an existing directory keeps its owner and mode (made with these only "
        "when missing)",
    )


class DirectorySpec(Schema):
    """A directory with its owner and mode."""

    path: AbsolutePath = Field(description="where")
    owner: Name = Field(description="its owner (a user, or root)")
    group: Name = Field(description="its group (a `groups` entry, or root)")
    mode: Mode = Field(description="its octal mode, e.g. '0750'")


class StorageSettings(Schema):
    """Shared storage: NFS from the head, or (the sandbox) volumes at the same paths."""

    mode: Literal["nfs", "shared-volume"] = Field(
        "nfs", description="nfs; shared-volume where the kernel has no NFS (the sandbox)"
    )
    exports: Strings(NfsExport) = Field((), description="the exported directories")
    mount_options: Strings() = Field(
        ("nosuid", "nodev", "hard", "bg", "noatime"),
        description="NFS mount options on the workers; must keep nosuid and nodev",
    )
    worker_directories: Strings(DirectorySpec) = Field(
        (), description="directories workers get before the mounts (e.g. /data)"
    )

    @model_validator(mode="after")
    def _check(self) -> StorageSettings:
        # A file on the server would otherwise be a setuid binary or a device on every
        # worker: root on the head's disk is root everywhere.
        options = set(self.mount_options)
        for needed in ("nosuid", "nodev"):
            if needed not in options:
                raise FieldProblem("mount_options", f"must include {needed!r}")
        for bad in ("suid", "dev", "defaults"):
            if bad in options:
                raise FieldProblem("mount_options", f"{bad!r} undoes nosuid/nodev")
        return self


class ProxySettings(Schema):
    """The caching HTTP proxy (squid) on the head, used by the workers' apt."""

    port: Positive = Field(8123, le=65535, description="squid's port")
    cache_size_mib: Positive = Field(20000, description="squid's disk cache")
    no_proxy: Strings(NoProxyEntry) = Field(
        ("localhost", "127.0.0.1"),
        description="more no_proxy entries (the cluster's hosts and subnet are added)",
    )


class HostData(Schema):
    """Every key a host's merged group data may set (``group_data/*.py``)."""

    cluster_subnet: str = Field(
        description="the cluster's network: exports, the proxy and no_proxy are limited to it"
    )
    cluster_head_address: HostName | None = Field(
        None, description="address workers use for the head; default: its inventory name"
    )
    secrets_file: str | None = Field(
        None,
        description="the secrets file (YAML, 0600); $SNAKEPIT_SECRETS wins; default ./secrets.yaml",
    )
    timezone: str = Field("Etc/UTC", description="zoneinfo name for every host")
    base_packages: Strings(Package) = Field((), description="packages every host gets")
    uid_range: Annotated[tuple[int, int], BeforeValidator(_uid_range)] = Field(
        (1000, 59999), description="[low, high] allowed for `users` uids"
    )
    default_user_group: Name = Field(
        "users", description="primary group of users that name none (a `groups` entry)"
    )
    groups: Strings(GroupSpec) = Field((), description="groups with fixed gids")
    users: Strings(UserSpec) = Field((), description="users with fixed uids")
    sudo_rules: Strings(SudoRule) = Field(
        (), description="more passwordless sudo rules (/etc/sudoers.d/snakepit-admins)"
    )
    root_ssh_keys: Strings(SshKey) = Field(
        (), description="public keys added to root's authorized_keys (other keys stay)"
    )
    address: IpAddress | None = Field(
        None,
        description="this host's address in every host's /etc/hosts; default: its "
        "inventory ssh_hostname when that is an IP address",
    )
    slurm: SlurmSettings = Field(description="Slurm settings")
    slurm_partitions: Strings(PartitionSpec) = Field(description="partitions, one per GPU model")
    storage: StorageSettings = Field(default_factory=StorageSettings, description="storage")
    proxy: ProxySettings = Field(default_factory=ProxySettings, description="the proxy")
    node: NodeData = Field(default_factory=NodeData, description="(workers) declared hardware")
    cuda_manifest: PathOrPaths | None = Field(
        None,
        description="(workers) manifests/<name>.yaml installed before slurmd, or a list of "
        "them, one per release: the one whose target is the worker's distro and release "
        "applies; a local repository's manifest (cuDNN) is listed beside them (one per "
        "release too) and installed as well; None: unmanaged",
    )
    cuda_drain_timeout_s: Positive = Field(
        3600,
        description="(workers) a manifest change drains the node first and waits this long "
        "for its jobs to end; a node still busy then is skipped (nothing installed, its host "
        "fails) and left as cuda_busy_at_deadline says",
    )
    cuda_busy_at_deadline: Literal["drained", "resumed"] = Field(
        "drained",
        description="(workers) a node still busy at the drain deadline stays drained (no new "
        "jobs; the next run retries) or is resumed (jobs keep coming; the change waits for "
        "a quieter run); only a drain the change set is lifted",
    )
    cuda_rollout_batch: Positive = Field(
        1,
        description="(workers) `python -m tools.cuda rollout`: workers converged at once, "
        "each batch after the one before",
    )
    cuda_rollout_max_failures: Positive = Field(
        1,
        description="(workers) `python -m tools.cuda rollout` stops after this many failed "
        "workers; the batches after are left untouched",
    )
    cuda_remove_unlisted: bool = Field(
        True,
        description="(workers) remove vendor packages the manifest does not list, so that a "
        "switch leaves exactly the new manifest; False: they stay, unheld, and drift reports "
        "them as extra",
    )


# -- the validated cluster -----------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """A partition as the cluster has it: its data and its members (the inventory group)."""

    name: str
    gpu_types: tuple[str, ...]  # GRES types; the first is assumed where no driver answers
    default: bool
    max_time: str
    config: Mapping[str, Any]
    members: tuple[str, ...]


@dataclass(frozen=True)
class NodeSpec:
    """One worker: its partition and what its data declares (None: take it from facts)."""

    host: str
    partition: str
    gpu_types: tuple[str, ...]  # its partition's GRES types
    gpu_count: int | None = None
    cpus: int | None = None
    sockets: int | None = None
    cores_per_socket: int | None = None
    threads_per_core: int | None = None
    gpu_device_glob: str = "/dev/nvidia[0-9]*"
    cuda_manifests: tuple[str, ...] = ()  # the worker's release chooses one; (): unmanaged
    cuda_remove_unlisted: bool = True
    cuda_drain_timeout_s: int = 3600
    cuda_busy_at_deadline: str = "drained"


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
    partitions: tuple[Partition, ...]
    nodes: tuple[NodeSpec, ...]
    uid_range: tuple[int, int] = (1000, 59999)
    workers: tuple[str, ...] = ()
    secrets_file: str | None = None
    sudo_rules: tuple[SudoRule, ...] = ()
    # Per host (head and workers): keys added to root's authorized_keys.
    root_ssh_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # (address, name) of every host with a known address, for /etc/hosts.
    hosts: tuple[tuple[str, str], ...] = ()

    def node(self, host: str) -> NodeSpec:
        for node in self.nodes:
            if node.host == host:
                return node
        raise KeyError(host)

    @property
    def default_partition(self) -> Partition:
        return next(p for p in self.partitions if p.default)

    @property
    def proxy_url(self) -> str:
        return f"http://{self.head}:{self.proxy.port}"


def build_cluster(
    head: tuple[str, Mapping[str, Any]],
    workers: Sequence[tuple[str, Mapping[str, Any]]],
    groups: Mapping[str, Sequence[str]],
    ssh_hostnames: Mapping[str, str | None] | None = None,
) -> Cluster:
    """Validate the merged data of the head and each worker into a `Cluster`.

    ``head`` and ``workers`` are (host name, merged host data); ``groups`` maps inventory
    group names to their members (for partitions); ``ssh_hostnames`` what the inventory
    connects each host by (its /etc/hosts address when that is an IP and data sets none).
    """
    head_name, head_raw = head
    if not HOSTNAME_RE.match(head_name):
        raise DataError("inventory", f"head name {head_name!r} is not a valid hostname")
    data = validate(HostData, head_raw, host=head_name)

    def error(field: str, problem: str) -> DataError:
        return DataError(field, problem, host=head_name)

    try:
        network = ipaddress.ip_network(data.cluster_subnet, strict=True)
    except ValueError as problem:
        raise error(
            "cluster_subnet", f"{data.cluster_subnet!r} is not a network: {problem}"
        ) from None
    if network.prefixlen == 0:
        raise error("cluster_subnet", "must not be the whole internet")
    if not re.match(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", data.timezone):
        raise error("timezone", f"{data.timezone!r} is not a zoneinfo name like Etc/UTC")
    _check_groups(data, error)
    users = _users(data, error)
    partitions = _partitions(data, groups, [name for name, _ in workers], error)
    _check_storage(data, users, error)
    _check_sudo_rules(data, users, error)
    worker_data = {name: _worker_data(name, raw) for name, raw in workers}
    nodes = tuple(_node(name, worker_data[name], partitions) for name, _ in workers)
    every_host = {head_name: data, **worker_data}
    ssh_hostnames = ssh_hostnames or {}
    hosts = []
    for name, host_data in every_host.items():
        address = _host_address(host_data.address, ssh_hostnames.get(name))
        if address is None:
            continue
        for other_address, other in hosts:
            if other_address == address:
                raise DataError(
                    "address", f"{address} is also {other}'s address (/etc/hosts)", host=name
                )
        hosts.append((address, name))

    return Cluster(
        head=head_name,
        head_address=data.cluster_head_address or head_name,
        subnet=str(network),
        timezone=data.timezone,
        base_packages=data.base_packages,
        groups=data.groups,
        users=users,
        slurm=data.slurm,
        storage=data.storage,
        proxy=data.proxy,
        partitions=partitions,
        nodes=nodes,
        uid_range=data.uid_range,
        workers=tuple(name for name, _ in workers),
        secrets_file=data.secrets_file,
        sudo_rules=data.sudo_rules,
        root_ssh_keys={name: d.root_ssh_keys for name, d in every_host.items()},
        hosts=tuple(hosts),
    )


def _host_address(declared: str | None, ssh_hostname: str | None) -> str | None:
    """The host's /etc/hosts address: its data's ``address`` (checked by the schema), else
    an IP ssh_hostname."""
    if declared is not None:
        return str(ipaddress.ip_address(declared))
    try:
        return str(ipaddress.ip_address(ssh_hostname or ""))
    except ValueError:
        return None  # reached by name: resolution is DNS's job


def _check_sudo_rules(data: HostData, users: Sequence[UserSpec], error) -> None:
    user_names = {u.name for u in users}
    group_names = {g.name for g in data.groups}
    for index, rule in enumerate(data.sudo_rules):
        where = f"sudo_rules[{index}]"
        if rule.who.startswith("%"):
            if rule.who[1:] not in group_names:
                raise error(f"{where}.who", f"unknown group {rule.who[1:]!r} (not in groups)")
        elif rule.who not in user_names:
            raise error(f"{where}.who", f"unknown user {rule.who!r} (not in users)")
        if rule.runas not in user_names | {"ALL", "root"}:
            raise error(f"{where}.runas", f"unknown user {rule.runas!r} (not in users)")


def _check_groups(data: HostData, error) -> None:
    names: dict[str, str] = {}
    gids: dict[int, str] = {}
    for index, group in enumerate(data.groups):
        if group.name in names:
            raise error(
                f"groups[{index}].name",
                f"duplicate group name {group.name!r} (also {names[group.name]})",
            )
        if group.gid in gids:
            raise error(
                f"groups[{index}].gid",
                f"duplicate gid {group.gid} (also group {gids[group.gid]!r})",
            )
        names[group.name], gids[group.gid] = f"groups[{index}]", group.name


def _users(data: HostData, error) -> tuple[UserSpec, ...]:
    group_names = {g.name for g in data.groups}
    low, high = data.uid_range
    users: list[UserSpec] = []
    names: dict[str, str] = {}
    uids: dict[int, str] = {}
    for index, user in enumerate(data.users):
        where = f"users[{index}]"
        if not low <= user.uid <= high:
            raise error(f"{where}.uid", f"{user.uid} is outside the allowed range {low}-{high}")
        if user.name in names:
            raise error(
                f"{where}.name", f"duplicate user name {user.name!r} (also {names[user.name]})"
            )
        if user.uid in uids:
            raise error(f"{where}.uid", f"duplicate uid {user.uid} (also user {uids[user.uid]!r})")
        names[user.name], uids[user.uid] = where, user.name
        primary = user.group or data.default_user_group
        for key, group in [("group", primary)] + [
            (f"groups[{i}]", g) for i, g in enumerate(user.groups)
        ]:
            if group not in group_names:
                if key == "group" and user.group is None:
                    raise error(
                        "default_user_group",
                        f"unknown group {group!r} (not in groups; {user.name!r} and every "
                        "user that names no group get it)",
                    )
                raise error(f"{where}.{key}", f"unknown group {group!r} (not in groups)")
        users.append(
            user.model_copy(update={"group": primary, "home": user.home or f"/home/{user.name}"})
        )
    for group in data.groups:
        if group.name in names and uids.get(group.gid) not in (group.name, None):
            raise error("groups", f"group {group.name!r} gid {group.gid} is another user's uid")
    return tuple(users)


def _partitions(
    data: HostData, inventory_groups: Mapping[str, Sequence[str]], workers: Sequence[str], error
) -> tuple[Partition, ...]:
    partitions: list[Partition] = []
    member_of: dict[str, str] = {}
    for index, partition in enumerate(data.slurm_partitions):
        where = f"slurm_partitions[{index}]"
        name = partition.name
        if any(p.name == name for p in partitions):
            raise error(f"{where}.name", f"duplicate partition {name!r}")
        members = tuple(inventory_groups.get(name, ()))
        for member in members:
            if member not in workers:
                raise DataError(
                    "inventory",
                    f"unknown partition member {member!r}: inventory group {name!r} lists it "
                    "but it is not in slurm_worker",
                )
            if member in member_of:
                raise error(
                    f"{where}.name",
                    f"{member!r} is in partitions {member_of[member]!r} and {name!r}",
                )
            member_of[member] = name
        partitions.append(
            Partition(
                name=name,
                gpu_types=partition.gpu_type,
                default=partition.default,
                max_time=partition.max_time,
                config=dict(partition.config),
                members=members,
            )
        )
    defaults = [p.name for p in partitions if p.default]
    if len(defaults) != 1:
        raise error(
            "slurm_partitions", f"exactly one partition needs default: True, got {defaults}"
        )
    for worker in workers:
        if worker not in member_of:
            raise DataError(
                "inventory",
                f"worker {worker!r} is in no partition group "
                f"({', '.join(p.name for p in partitions)})",
            )
    for index, partition in enumerate(partitions):
        if workers and not partition.members:
            raise error(
                f"slurm_partitions[{index}].name",
                f"partition {partition.name!r} has no members: add inventory group "
                f"{partition.name!r} with its workers, or remove the partition",
            )
    return tuple(partitions)


def _check_storage(data: HostData, users: Sequence[UserSpec], error) -> None:
    known_users = {"root"} | {u.name for u in users}
    known_groups = {"root"} | {g.name for g in data.groups}
    exports = data.storage.exports
    for index, directory in enumerate(data.storage.worker_directories):
        if directory.owner not in known_users:
            raise error(
                f"storage.worker_directories[{index}].owner",
                f"unknown user {directory.owner!r} (not in users)",
            )
        if directory.group not in known_groups:
            raise error(
                f"storage.worker_directories[{index}].group",
                f"unknown group {directory.group!r} (not in groups)",
            )
    for index, export in enumerate(exports):
        if export.owner not in known_users:
            raise error(
                f"storage.exports[{index}].owner", f"unknown user {export.owner!r} (not in users)"
            )
        if export.group not in known_groups:
            raise error(
                f"storage.exports[{index}].group",
                f"unknown group {export.group!r} (not in groups)",
            )
    # The SlurmUser's home stays local on every host: whoever can write a shared one
    # (authorized_keys, .profile) logs in as the account that can drain nodes, and even a
    # read-only one lets the head's copy decide logins on every worker.
    slurm_user = data.slurm.conf.get("SlurmUser")
    slurm_home = next((u.home for u in users if u.name == slurm_user), None)
    for index, export in enumerate(exports):
        for attribute in ("path", "mount_point"):
            value = getattr(export, attribute)
            if slurm_home and f"{slurm_home}/".startswith(f"{value}/"):
                raise error(
                    f"storage.exports[{index}].{attribute}",
                    f"{value!r} holds the SlurmUser's home {slurm_home!r}: keep it local",
                )
    for attribute in ("path", "mount_point"):
        values = [getattr(e, attribute) for e in exports]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise error("storage.exports", f"two exports share the {attribute} {duplicates[0]!r}")


def _worker_data(host: str, raw: Mapping[str, Any]) -> HostData:
    if not HOSTNAME_RE.match(host):
        raise DataError("inventory", f"worker name {host!r} is not a valid hostname")
    return validate(HostData, raw, host=host)


def _node(host: str, data: HostData, partitions: tuple[Partition, ...]) -> NodeSpec:
    partition = next(p for p in partitions if host in p.members)
    declared = data.node
    return NodeSpec(
        host=host,
        partition=partition.name,
        gpu_types=partition.gpu_types,
        gpu_count=declared.gpus,
        cpus=declared.cpus,
        sockets=declared.sockets,
        cores_per_socket=declared.cores_per_socket,
        threads_per_core=declared.threads_per_core,
        gpu_device_glob=declared.gpu_device_glob,
        cuda_manifests=data.cuda_manifest or (),
        cuda_remove_unlisted=data.cuda_remove_unlisted,
        cuda_drain_timeout_s=data.cuda_drain_timeout_s,
        cuda_busy_at_deadline=data.cuda_busy_at_deadline,
    )


def render_docs() -> str:
    """docs/data.md: every key of group data, the slurm.conf defaults, the CUDA manifests'
    and the secrets file's keys."""
    from snakepit.cuda.manifest import render_manifest_docs
    from snakepit.secrets import render_secrets_docs

    return (
        "# The cluster's data\n\n"
        "Generated from `snakepit/model.py` by `python -m snakepit.docs`; do not edit.\n"
        "Every key of `group_data/*.py` (merged per host by pyinfra), its type, default and\n"
        "meaning. Unknown keys are refused with the nearest valid name.\n\n"
        + render_model_docs(HostData)
        + "\n## slurm.conf defaults (`slurm.config` overrides them; `None` removes one)\n\n"
        + slurm_settings.render_defaults_table()
        + "\n## CUDA manifests (`manifests/*.yaml`) and their source files\n\n"
        + render_manifest_docs()
        + "\n## The secrets file\n\n"
        + render_secrets_docs()
    )
