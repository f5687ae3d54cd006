"""Tests for snakepit.model (validation of the cluster data) and glue.loading.

The production inventory is only loaded as data with pyinfra's own loader: nothing here
connects to a host.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from glue.loading import cluster_from_inventory
from snakepit.model import Cluster, DataError, build_cluster
from tests.unit.production_data import PARTITION_HOSTS, group_data

REPO = Path(__file__).resolve().parents[2]
GROUP_DATA = REPO / "group_data"
GOOD_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMx1bGr9Qh3bJ5E9Q2yQ0mTzX0n8oZ3fW1i7sS4qYc3k bob@laptop"
)


def load_inventory(path: Path, cwd: Path):
    """pyinfra's CLI loader (inventory file + group_data/), without connecting."""
    with ctx_state.use(State()):
        return make_inventory(str(path), cwd=str(cwd))


ALL = group_data("all")


def workers(**node_overrides: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every production worker with its merged data; ``mlc0={"node": ...}`` replaces keys."""
    out = []
    for partition, hosts in PARTITION_HOSTS.items():
        for name in hosts:
            data = {**copy.deepcopy(ALL), **group_data(partition)}
            data.update(node_overrides.get(name, {}))
            out.append((name, data))
    return out


def inventory_groups() -> dict[str, list[str]]:
    groups = {name: list(hosts) for name, hosts in PARTITION_HOSTS.items()}
    groups["slurm_worker"] = [h for hosts in PARTITION_HOSTS.values() for h in hosts]
    groups["slurm_head"] = ["mlchead"]
    return groups


def build(
    change: Callable[[dict[str, Any]], Any] | None = None,
    *,
    head: str = "mlchead",
    worker_data: list[tuple[str, dict[str, Any]]] | None = None,
    groups: dict[str, list[str]] | None = None,
) -> Cluster:
    data = copy.deepcopy(ALL)
    if change is not None:
        change(data)
    return build_cluster(
        (head, data),
        workers() if worker_data is None else worker_data,
        inventory_groups() if groups is None else groups,
    )


def error_of(change: Callable[[dict[str, Any]], Any] | None = None, **kwargs) -> DataError:
    with pytest.raises(DataError) as raised:
        build(change, **kwargs)
    return raised.value


# --- the production data --------------------------------------------------------------------


@pytest.fixture(scope="module")
def production_inventory():
    return load_inventory(REPO / "inventory.py", REPO)


@pytest.fixture(scope="module")
def production(production_inventory) -> Cluster:
    return cluster_from_inventory(production_inventory)


def test_production_inventory_is_only_loaded(production_inventory):
    names = [host.name for host in production_inventory]
    assert names == ["mlchead", *(f"mlc{i}" for i in range(7))]
    assert not any(host.connected for host in production_inventory)


def test_production_head_workers_and_network(production):
    assert production.head == "mlchead"
    assert production.head_address == "mlchead"  # no cluster_head_address: the name
    assert production.workers == tuple(f"mlc{i}" for i in range(7))
    assert production.subnet == "192.168.0.0/16"
    assert production.timezone == "Etc/UTC"
    assert production.proxy_url == "http://mlchead:8123"
    assert production.proxy.no_proxy == ("localhost", "127.0.0.1")
    assert [n.cuda_manifests for n in production.nodes] == [
        ("manifests/nvidia-535-debian12.yaml", "manifests/nvidia-550-debian13.yaml")
    ] * 7
    assert all(n.cuda_remove_unlisted for n in production.nodes)
    assert production.uid_range == (1000, 59999)
    assert "build-essential" in production.base_packages


def test_production_partitions(production):
    by_name = {p.name: p for p in production.partitions}
    assert list(by_name) == ["txp", "g2080", "q6000"]
    assert production.default_partition.name == "txp"
    assert [p.name for p in production.partitions if p.default] == ["txp"]
    assert by_name["txp"].members == ("mlc0", "mlc1", "mlc2", "mlc3")
    assert by_name["g2080"].members == ("mlc4", "mlc5")
    assert by_name["q6000"].members == ("mlc6",)
    # The Puppet cluster's GRES types (Slurm's NVML names), which its users submit.
    assert {p.name: p.gpu_types for p in production.partitions} == {
        "txp": ("nvidia_titan_xp",),
        "g2080": ("nvidia_geforce_rtx_2080_ti",),
        "q6000": ("quadro_rtx_6000",),
    }
    assert {p.max_time for p in production.partitions} == {"INFINITE"}


@pytest.mark.parametrize(
    ("host", "partition", "gpu_type", "cpus", "cores"),
    [
        ("mlc0", "txp", "nvidia_titan_xp", 48, 12),
        ("mlc3", "txp", "nvidia_titan_xp", 48, 12),
        ("mlc4", "g2080", "nvidia_geforce_rtx_2080_ti", 56, 14),
        ("mlc5", "g2080", "nvidia_geforce_rtx_2080_ti", 56, 14),
        ("mlc6", "q6000", "quadro_rtx_6000", 56, 14),
    ],
)
def test_production_node_declarations(production, host, partition, gpu_type, cpus, cores):
    node = production.node(host)
    assert (node.partition, node.gpu_types) == (partition, (gpu_type,))
    assert (node.gpu_count, node.cpus) == (8, cpus)
    assert (node.sockets, node.cores_per_socket, node.threads_per_core) == (2, cores, 2)
    assert node.sockets * node.cores_per_socket * node.threads_per_core == node.cpus
    assert node.gpu_device_glob == "/dev/nvidia[0-9]*"


def test_node_lookup_of_unknown_host(production):
    with pytest.raises(KeyError):
        production.node("mlchead")


def test_production_users_and_groups(production):
    assert {g.name: g.gid for g in production.groups} == {
        "users": 100,
        "snakepit": 1777,
        "slurm": 1877,
        "admin": 3000,
        "relops": 3001,
        "releng": 3002,
        "translations": 3003,
    }
    users = {u.name: u for u in production.users}
    # The Puppet project's realized users: its team lists (the shared `relops` key user was
    # in no list, so Puppet never made it).
    assert {name: u.uid for name, u in users.items() if name not in ("slurm", "admin")} == {
        "aerickson": 2001,
        "mcornmesser": 2002,
        "jmoss": 2003,
        "mgoossens": 2004,
        "rcurran": 2006,
        "bhearsum": 2008,
        "gabriel": 2009,
        "epavlov": 2100,
        "marco": 2101,
        "gtatum": 2102,
        "sylvestre": 2103,
    }
    # As its CI checked: relops in users, slurm and admin; the others in users and slurm.
    assert (users["aerickson"].group, set(users["aerickson"].groups)) == (
        "users",
        {"relops", "slurm", "admin"},
    )
    for name in ("epavlov", "gtatum", "gabriel"):
        assert users[name].group == "users"
        assert set(users[name].groups) - {"releng", "translations"} == {"slurm"}
    assert len(users["mcornmesser"].ssh_keys) == 2
    assert users["gabriel"].ssh_keys[0].startswith("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQDckeV1")
    assert users["bhearsum"].ssh_keys[0].endswith("LBjX")  # no comment, as the seed had it
    slurm, admin = users["slurm"], users["admin"]
    assert (slurm.uid, slurm.group, slurm.groups, slurm.sudo) == (
        1877,
        "slurm",
        ("snakepit",),
        False,
    )
    assert (admin.uid, admin.group, admin.groups, admin.sudo) == (3000, "admin", (), True)
    assert (admin.home, admin.shell) == ("/home/admin", "/bin/bash")


def test_production_slurm_settings(production):
    slurm = production.slurm
    assert slurm.cluster_name == "slurmpit"
    assert slurm.version == "22.05"
    assert slurm.conf["ProctrackType"] == "proctrack/cgroup"
    assert slurm.conf["TaskPlugin"] == "task/cgroup,task/affinity"
    assert slurm.conf["ReturnToService"] == "2"
    assert slurm.memory_reserve_mib == 2048
    assert (slurm.database, slurm.database_user) == ("slurm_acct_db", "slurm")
    assert slurm.config == {}
    assert "DefMemPerCPU" not in slurm.conf
    assert {p.name: dict(p.config) for p in production.partitions} == {
        name: {"DefMemPerCPU": 2000, "MaxMemPerCPU": 2300} for name in ("txp", "g2080", "q6000")
    }
    assert (slurm.restd.enabled, slurm.restd.listen) == (True, "0.0.0.0:6820")
    assert slurm.conf["AuthAltTypes"] == "auth/jwt"
    assert slurm.packages.controller == ("slurmctld", "slurm-client", "slurm-wlm-jwt-plugin")
    assert slurm.packages.version is None


def test_production_storage(production):
    storage = production.storage
    assert storage.mode == "nfs"
    assert storage.mount_options == ("nosuid", "nodev", "hard", "bg", "noatime")
    exports = {e.mount_point: e for e in storage.exports}
    # The SlurmUser's home stays local (the Puppet project exported it read-write).
    assert list(exports) == ["/data/ro", "/data/rw", "/data/home", "/data/sw"]
    rw = exports["/data/rw"]
    assert (rw.path, rw.access, rw.owner, rw.group, rw.mode) == (
        "/data/rw",
        "rw",
        "slurm",
        "slurm",
        "0750",
    )
    assert (exports["/data/ro"].path, exports["/data/ro"].access) == ("/snakepit/shared", "ro")
    assert {e.mount_point for e in storage.exports if e.access == "rw"} == {"/data/rw"}
    # The head's existing /snakepit/* data is never re-owned or re-moded.
    assert {e.path for e in storage.exports if e.keep_existing} == {
        "/snakepit/shared",
        "/snakepit/home",
    }
    assert [(d.path, d.owner, d.group, d.mode) for d in storage.worker_directories] == [
        ("/data", "root", "slurm", "0750")
    ]


def test_production_sudo_rules_root_keys_and_hosts(production):
    assert [(r.who, r.runas) for r in production.sudo_rules] == [
        ("%admin", "ALL"),
        ("epavlov", "slurm"),
    ]
    assert production.root_ssh_keys["mlchead"] == ()
    for worker in production.workers:
        (key,) = production.root_ssh_keys[worker]
        assert key.startswith("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC5UV+5") and key.endswith(
            "6mB6g89 root@mlchead"
        )
    assert production.hosts[0] == ("192.168.1.1", "mlchead")
    assert dict((name, address) for address, name in production.hosts)["mlc6"] == "192.168.1.16"


def test_production_sudoers_drop_in_has_the_seeds_rules(production):
    from deploys.concerns.users import sudoers_content

    lines = sudoers_content(production).splitlines()
    assert lines[1:] == [
        "admin ALL=(ALL:ALL) NOPASSWD: ALL",
        "%admin ALL=(ALL) NOPASSWD: ALL",
        "epavlov ALL=(slurm) NOPASSWD: ALL",
    ]


def test_host_address_from_data_wins_and_must_be_an_ip():
    cluster = build(worker_data=workers(mlc6={"address": "10.0.0.6"}))
    assert ("10.0.0.6", "mlc6") in cluster.hosts
    error = error_of(worker_data=workers(mlc6={"address": "mlc6.example"}))
    assert str(error) == "host mlc6: address: 'mlc6.example' is not an IP address"
    same = {"address": "10.0.0.6"}
    error = error_of(worker_data=workers(mlc5=same, mlc6=same))
    assert str(error) == "host mlc6: address: 10.0.0.6 is also mlc5's address (/etc/hosts)"


# --- values that are accepted and normalised ------------------------------------------------


def test_defaults_and_normalisation():
    def change(data):
        data["users"].append(
            {"name": "bob", "uid": 2000, "group": "snakepit", "ssh_keys": [GOOD_KEY]}
        )
        data["storage"]["exports"][1]["path"] = "/data/rw/"
        data["slurm"]["config"] = {"SchedulerType": "sched/builtin", "MaxJobCount": "5000"}
        data["cluster_head_address"] = "192.168.1.1"

    cluster = build(change)
    bob = cluster.users[-1]
    assert (bob.home, bob.shell, bob.sudo, bob.groups) == ("/home/bob", "/bin/bash", False, ())
    assert bob.ssh_keys == (GOOD_KEY,)
    assert cluster.storage.exports[1].path == "/data/rw"
    conf = cluster.slurm.conf
    assert conf["SchedulerType"] == "sched/builtin" and conf["MaxJobCount"] == "5000"
    assert list(conf).count("SchedulerType") == 1
    # defaults keep their place; the cluster's own settings come after them, sorted
    assert list(conf)[-1] == "MaxJobCount"
    assert cluster.head_address == "192.168.1.1"


def test_user_group_defaults_to_default_user_group():
    # A human user added the way group_data/all.py's comment shows validates.
    def change(data):
        data["users"].append({"name": "bob", "uid": 2000, "groups": ["snakepit"]})

    assert build(change).users[-1].group == "users"

    def other_default(data):
        data["groups"].append({"name": "bob", "gid": 2000})
        data["users"].append({"name": "bob", "uid": 2000})
        data["default_user_group"] = "bob"

    assert build(other_default).users[-1].group == "bob"


def test_node_without_declaration_takes_everything_from_facts():
    node = build(worker_data=workers(mlc6={"node": {}})).node("mlc6")
    assert (node.gpu_count, node.cpus, node.sockets) == (None, None, None)
    assert (node.cores_per_socket, node.threads_per_core) == (None, None)
    assert node.partition == "q6000"


def test_node_may_declare_no_gpus():
    assert build(worker_data=workers(mlc6={"node": {"gpus": 0}})).node("mlc6").gpu_count == 0


# --- bad data: every error names the host and the field -------------------------------------


def _append_user(**user):
    return lambda data: data["users"].append(user)


def _set(path: str, value: Any):
    """A change that sets data[a][b][0][c] = value for path "a.b.0.c"."""

    def change(data):
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value

    return change


def _delete(path: str):
    def change(data):
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        del target[int(last) if last.isdigit() else last]

    return change


BAD_HEAD_DATA = {
    # users
    "duplicate uid": (
        _append_user(name="bob", uid=1877, group="snakepit"),
        "users[13].uid: duplicate uid 1877 (also user 'slurm')",
    ),
    "duplicate user name": (
        _append_user(name="admin", uid=3001, group="admin"),
        "users[13].name: duplicate user name 'admin'",
    ),
    "uid below uid_range": (
        _append_user(name="bob", uid=999, group="snakepit"),
        "users[13].uid: 999 is outside the allowed range 1000-59999",
    ),
    "uid above uid_range": (
        _append_user(name="bob", uid=60000, group="snakepit"),
        "users[13].uid: 60000 is outside the allowed range 1000-59999",
    ),
    "unknown primary group": (
        _append_user(name="bob", uid=2000, group="wheel"),
        "users[13].group: unknown group 'wheel'",
    ),
    "unknown supplementary group": (
        _append_user(name="bob", uid=2000, group="snakepit", groups=["slurm", "docker"]),
        "users[13].groups[1]: unknown group 'docker'",
    ),
    "default user group that does not exist": (
        lambda data: (
            data.update(default_user_group="people"),
            data["users"].append({"name": "bob", "uid": 2000}),
        ),
        "default_user_group: unknown group 'people' (not in groups;",
    ),
    "dss key": (
        _append_user(name="bob", uid=2000, group="snakepit", ssh_keys=["ssh-dss AAAAB3Nza bob"]),
        "users[13].ssh_keys[0]: is not an OpenSSH public key line",
    ),
    "key type without key": (
        _append_user(name="bob", uid=2000, group="snakepit", ssh_keys=[GOOD_KEY, "ssh-ed25519"]),
        "users[13].ssh_keys[1]: is not an OpenSSH public key line",
    ),
    "private key pasted": (
        _append_user(
            name="bob",
            uid=2000,
            group="snakepit",
            ssh_keys=["-----BEGIN OPENSSH PRIVATE KEY-----"],
        ),
        "users[13].ssh_keys[0]: is not an OpenSSH public key line",
    ),
    "user name with upper case": (
        _append_user(name="Bob", uid=2000, group="snakepit"),
        "users[13].name: 'Bob' is not a valid name",
    ),
    "sudo as a string": (
        _set("users.1.sudo", "yes"),
        "users[1].sudo: expected bool, got str ('yes')",
    ),
    "user that is not a mapping": (
        _set("users.0", "slurm"),
        "users[0]: expected Mapping, got str",
    ),
    "users as a mapping": (
        _set("users", {"name": "slurm", "uid": 1877}),
        "users: expected list/tuple, got dict",
    ),
    # groups
    "duplicate gid": (
        lambda data: data["groups"].append({"name": "wheel", "gid": 3000}),
        "groups[7].gid: duplicate gid 3000 (also group 'admin')",
    ),
    "duplicate group name": (
        lambda data: data["groups"].append({"name": "admin", "gid": 3001}),
        "groups[7].name: duplicate group name 'admin'",
    ),
    "gid as a bool": (_set("groups.0.gid", True), "groups[0].gid: expected int, got bool"),
    "gid zero": (_set("groups.0.gid", 0), "groups[0].gid: must be >= 1, got 0"),
    "slurm group gid is the admin user's uid": (
        lambda data: (_set("groups.2.gid", 2999)(data), _set("users.1.uid", 2999)(data)),
        "groups: group 'slurm' gid 2999 is another user's uid",
    ),
    # missing fields and wrong types
    "missing subnet": (_delete("cluster_subnet"), "cluster_subnet: is missing"),
    "subnet None": (_set("cluster_subnet", None), "cluster_subnet: is missing"),
    "missing slurm.cluster_name": (_delete("slurm.cluster_name"), "slurm.cluster_name: is missing"),
    "missing uid": (_delete("users.0.uid"), "users[0].uid: is missing"),
    "missing slurm": (_delete("slurm"), "slurm: is missing"),
    "missing partitions": (_delete("slurm_partitions"), "slurm_partitions: is missing"),
    "ReturnToService as a bool": (
        _set("slurm.config.ReturnToService", True),
        "slurm.config.ReturnToService: expected str or int, got bool (True)",
    ),
    "memory_reserve_mib as a string": (
        _set("slurm.memory_reserve_mib", "2048"),
        "slurm.memory_reserve_mib: expected int, got str ('2048')",
    ),
    "uid as a string": (_set("users.0.uid", "1877"), "users[0].uid: expected int, got str"),
    "proxy port as a string": (_set("proxy.port", "8123"), "proxy.port: expected int, got str"),
    "slurm as a list": (
        _set("slurm", [["cluster_name", "snakepit"]]),
        "slurm: expected Mapping, got list",
    ),
    "storage as a list": (_set("storage", ["nfs"]), "storage: expected Mapping, got list"),
    "base_packages as a string": (
        _set("base_packages", "vim git"),
        "base_packages: expected list/tuple, got str",
    ),
    "empty package name": (
        _set("base_packages", ["vim", ""]),
        "base_packages[1]: '' is not a Debian package name",
    ),
    "package name not a string": (
        _set("base_packages", ["vim", 3]),
        "base_packages[1]: expected str, got int (3)",
    ),
    # uid_range
    "uid_range reversed": (_set("uid_range", [5000, 1000]), "uid_range: expected [low, high]"),
    "uid_range from zero": (_set("uid_range", [0, 1000]), "uid_range: expected [low, high]"),
    "uid_range one value": (_set("uid_range", [1000]), "uid_range: expected [low, high]"),
    "uid_range of bools": (_set("uid_range", [True, 5000]), "uid_range: expected [low, high]"),
    # partitions
    "two default partitions": (
        _set("slurm_partitions.1.default", True),
        "slurm_partitions: exactly one partition needs default: True, got ['txp', 'g2080']",
    ),
    "no default partition": (
        _set("slurm_partitions.0.default", False),
        "slurm_partitions: exactly one partition needs default: True, got []",
    ),
    "default as a string": (
        _set("slurm_partitions.1.default", "no"),
        "slurm_partitions[1].default: expected bool, got str",
    ),
    "duplicate partition": (
        lambda data: data["slurm_partitions"].append({"name": "txp", "gpu_type": "x"}),
        "slurm_partitions[3].name: duplicate partition 'txp'",
    ),
    "partition without gpu_type": (
        _delete("slurm_partitions.2.gpu_type"),
        "slurm_partitions[2].gpu_type: is missing",
    ),
    "gpu_type as nvidia-smi prints it, not as Slurm names it": (
        _set("slurm_partitions.0.gpu_type", "NVIDIA TITAN Xp"),
        "slurm_partitions[0].gpu_type: 'NVIDIA TITAN Xp' is not a GRES type as Slurm names GPU "
        "models (lower case, spaces as _: 'nvidia_titan_xp')",
    ),
    "gpu_type list with a bad entry": (
        _set("slurm_partitions.0.gpu_type", ["nvidia_titan_xp", "gpu:titan"]),
        "slurm_partitions[0].gpu_type: 'gpu:titan' is not a GRES type",
    ),
    "empty gpu_type list": (
        _set("slurm_partitions.0.gpu_type", []),
        "slurm_partitions[0].gpu_type: expected a GRES type or a non-empty list of them, got []",
    ),
    "gpu_type listed twice": (
        _set("slurm_partitions.0.gpu_type", ["nvidia_titan_xp", "nvidia_titan_xp"]),
        "slurm_partitions[0].gpu_type: a GRES type is listed twice: "
        "['nvidia_titan_xp', 'nvidia_titan_xp']",
    ),
    # network, storage, slurm settings, proxy
    "subnet with host bits": (
        _set("cluster_subnet", "192.168.1.1/24"),
        "cluster_subnet: '192.168.1.1/24' is not a network",
    ),
    "subnet prefix too long": (
        _set("cluster_subnet", "192.168.1.0/33"),
        "cluster_subnet: '192.168.1.0/33' is not a network",
    ),
    "subnet not an address": (
        _set("cluster_subnet", "lan"),
        "cluster_subnet: 'lan' is not a network",
    ),
    "subnet is the internet": (
        _set("cluster_subnet", "0.0.0.0/0"),
        "cluster_subnet: must not be the whole internet",
    ),
    "storage mode": (
        _set("storage.mode", "smb"),
        "storage.mode: must be 'nfs' or 'shared-volume', got 'smb'",
    ),
    "export path relative": (
        _set("storage.exports.1.path", "data/rw"),
        "storage.exports[1].path: 'data/rw' is not a plain, normalized absolute path",
    ),
    "mount point with a double slash": (
        _set("storage.exports.0.mount_point", "/data//ro"),
        "storage.exports[0].mount_point: '/data//ro' is not a plain, normalized absolute path",
    ),
    "mount point with a space": (
        _set("storage.exports.0.mount_point", "/data/r o"),
        "storage.exports[0].mount_point: '/data/r o' is not a plain, normalized absolute path",
    ),
    "export path with a shell character": (
        _set("storage.exports.3.path", "/data/$HOME"),
        "storage.exports[3].path: '/data/$HOME' is not a plain, normalized absolute path",
    ),
    "export access": (
        _set("storage.exports.0.access", "rwx"),
        "storage.exports[0].access: must be 'ro' or 'rw', got 'rwx'",
    ),
    "export mode with a 9": (
        _set("storage.exports.2.mode", "0790"),
        "storage.exports[2].mode: '0790' is not an octal mode like '0750'",
    ),
    "export mode symbolic": (
        _set("storage.exports.2.mode", "u=rwx"),
        "storage.exports[2].mode: 'u=rwx' is not an octal mode",
    ),
    "export mode too short": (
        _set("storage.exports.2.mode", "75"),
        "storage.exports[2].mode: '75' is not an octal mode",
    ),
    "export mode as an int": (
        _set("storage.exports.2.mode", 0o750),
        "storage.exports[2].mode: expected str, got int (488)",
    ),
    "export owner": (
        _set("storage.exports.1.owner", "Slurm User"),
        "storage.exports[1].owner: 'Slurm User' is not a valid name",
    ),
    "mount option empty": (
        _set("storage.mount_options", ["nosuid", "nodev", ""]),
        "storage.mount_options[2]: expected a non-empty string",
    ),
    "timezone with spaces": (
        _set("timezone", "Europe Berlin"),
        "timezone: 'Europe Berlin' is not a zoneinfo name",
    ),
    "timezone climbing out": (
        _set("timezone", "../../etc/passwd"),
        "timezone: '../../etc/passwd' is not a zoneinfo name",
    ),
    "timezone with a shell character": (
        _set("timezone", "Etc/UTC;reboot"),
        "timezone: 'Etc/UTC;reboot' is not a zoneinfo name",
    ),
    "ReturnToService 3": (
        _set("slurm.config.ReturnToService", 3),
        "slurm.config.ReturnToService: must be one of 0, 1, 2, got 3",
    ),
    "ReturnToService -1": (
        _set("slurm.config.ReturnToService", -1),
        "slurm.config.ReturnToService: must be one of 0, 1, 2, got -1",
    ),
    "negative memory reserve": (
        _set("slurm.memory_reserve_mib", -1),
        "slurm.memory_reserve_mib: must be >= 0, got -1",
    ),
    "config key with a space": (
        _set("slurm.config", {"Max Job Count": "5"}),
        "slurm.config.Max Job Count: not a slurm.conf setting of Slurm 22.05",
    ),
    "config value with a newline": (
        _set("slurm.config", {"MaxJobCount": "5\nProctrackType=proctrack/linuxproc"}),
        "slurm.config.MaxJobCount: '5\\nProctrackType=proctrack/linuxproc' is not a one-word",
    ),
    "config value with a comment": (
        _set("slurm.config", {"MaxJobCount": "5 # more"}),
        "slurm.config.MaxJobCount: '5 # more' is not a one-word value",
    ),
    "config key slurm.conf does not know": (
        _set("slurm.config", {"SchedulerTyp": "sched/backfill"}),
        "slurm.config.SchedulerTyp: not a slurm.conf setting of Slurm 22.05 "
        "(did you mean 'SchedulerType'?)",
    ),
    "config key that is derived": (
        _set("slurm.config", {"ClusterName": "other"}),
        "slurm.config.ClusterName: ClusterName is set from slurm.cluster_name",
    ),
    "config key removed in 24.11": (
        lambda data: data["slurm"].update(version="24.11", config={"LaunchType": "launch/slurm"}),
        "slurm.config.LaunchType: not a slurm.conf setting of Slurm 24.11",
    ),
    "unsupported Slurm version": (
        _set("slurm.version", "21.08"),
        "slurm.version: must be '22.05' or '24.11', got '21.08'",
    ),
    "Slurm package version not Debian's": (
        _set("slurm.packages", {"version": "latest"}),
        "slurm.packages: 'latest' is not a Debian version",
    ),
    "cluster name": (
        _set("slurm.cluster_name", "Snake Pit"),
        "slurm.cluster_name: 'Snake Pit' is not a valid name",
    ),
    "user named like a system account": (
        _append_user(name="daemon", uid=2000),
        "users[13].name: 'daemon' is a system account's name",
    ),
    "uid_range reaching system ids": (
        _set("uid_range", [500, 59999]),
        "uid_range: expected [low, high] with 1000 <= low <= high <= 59999",
    ),
    "ssh key type without a real key": (
        _append_user(name="bob", uid=2900, ssh_keys=["ssh-ed25519 AAAA"]),
        "users[13].ssh_keys[0]: is not an OpenSSH public key line",
    ),
    "ssh key blob of another type": (
        _append_user(name="bob", uid=2900, ssh_keys=[GOOD_KEY.replace("ssh-ed25519", "ssh-rsa")]),
        "users[13].ssh_keys[0]: is not an OpenSSH public key line",
    ),
    "no_proxy entry with a command": (
        _set("proxy.no_proxy", ["localhost", "x$(touch /tmp/x)"]),
        "proxy.no_proxy[1]: 'x$(touch /tmp/x)' is not a host, .domain, address or network",
    ),
    "head address with a space": (
        _set("cluster_head_address", "head node"),
        "cluster_head_address: 'head node' is not a host name or an IP address",
    ),
    "memory reserve of ten terabytes": (
        _set("slurm.memory_reserve_mib", 10**7),
        "slurm.memory_reserve_mib: must be <= 262144, got 10000000",
    ),
    "max_time with an injected line": (
        _set("slurm_partitions.0.max_time", "INFINITE\nSlurmUser=root"),
        "slurm_partitions[0].max_time: 'INFINITE\\nSlurmUser=root' is not a Slurm time limit",
    ),
    "base package with a shell command": (
        _set("base_packages", ["vim;touch /tmp/x"]),
        "base_packages[0]: 'vim;touch /tmp/x' is not a Debian package name",
    ),
    "partition without an inventory group": (
        lambda data: data["slurm_partitions"].append({"name": "a100", "gpu_type": "a100"}),
        "slurm_partitions[3].name: partition 'a100' has no members",
    ),
    "proxy port too big": (_set("proxy.port", 70000), "proxy.port: must be <= 65535, got 70000"),
    "proxy port zero": (_set("proxy.port", 0), "proxy.port: must be >= 1, got 0"),
    "export owner not a user": (
        _set("storage.exports.1.owner", "snakepit"),
        "storage.exports[1].owner: unknown user 'snakepit' (not in users)",
    ),
    "sudo rule for an unknown group": (
        _set("sudo_rules", [{"who": "%wheel"}]),
        "sudo_rules[0].who: unknown group 'wheel' (not in groups)",
    ),
    "sudo rule for an unknown user": (
        _set("sudo_rules", [{"who": "bob", "runas": "slurm"}]),
        "sudo_rules[0].who: unknown user 'bob' (not in users)",
    ),
    "sudo rule as an unknown user": (
        _set("sudo_rules", [{"who": "epavlov", "runas": "bob"}]),
        "sudo_rules[0].runas: unknown user 'bob' (not in users)",
    ),
    "sudo rule with a misspelled key": (
        _set("sudo_rules", [{"who": "epavlov", "run_as": "slurm"}]),
        "sudo_rules[0].run_as: unknown key (did you mean 'runas'?)",
    ),
    "root key not a key": (
        _set("root_ssh_keys", ["AAAAB3NzaC1yc2E root@mlchead"]),
        "root_ssh_keys[0]: is not an OpenSSH public key line",
    ),
    "worker directory group not a group": (
        _set(
            "storage.worker_directories",
            [{"path": "/data", "owner": "root", "group": "x", "mode": "0750"}],
        ),
        "storage.worker_directories[0].group: unknown group 'x' (not in groups)",
    ),
    "slurmrestd without JWT": (
        _set("slurm.config", {"AuthAltTypes": None}),
        "slurm.restd.enabled: slurmrestd takes JWT tokens",
    ),
    "export group not a group": (
        _set("storage.exports.1.group", "wheel"),
        "storage.exports[1].group: unknown group 'wheel' (not in groups)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_HEAD_DATA))
def test_bad_head_data_names_host_and_field(case):
    change, expected = BAD_HEAD_DATA[case]
    error = error_of(change)
    assert str(error).startswith("host mlchead: "), str(error)
    assert expected in str(error)
    assert error.host == "mlchead"
    assert str(error) == f"host mlchead: {error.field_path}: {error.problem}"


def test_data_error_field_path_and_problem_are_separate():
    error = error_of(_set("slurm.config.ReturnToService", 3))
    assert error.field_path == "slurm.config.ReturnToService"
    assert error.problem == "must be one of 0, 1, 2, got 3"
    assert error.source is None


BAD_NODE_DATA = {
    "cpus as a string": ({"cpus": "48"}, "node.cpus: expected int, got str ('48')"),
    "cpus zero": ({"cpus": 0}, "node.cpus: must be >= 1, got 0"),
    "sockets as a float": ({"sockets": 2.0}, "node.sockets: expected int, got float (2.0)"),
    "gpus as a bool": ({"gpus": True}, "node.gpus: expected int, got bool (True)"),
    "gpus as a string": ({"gpus": "8"}, "node.gpus: expected int, got str ('8')"),
    "gpu glob not a string": (
        {"gpu_device_glob": ["/dev/nvidia0"]},
        "node.gpu_device_glob: expected str, got list",
    ),
}


@pytest.mark.parametrize("case", list(BAD_NODE_DATA))
def test_bad_node_data_names_worker_and_field(case):
    node, expected = BAD_NODE_DATA[case]
    error = error_of(worker_data=workers(mlc5={"node": node}))
    assert str(error).startswith("host mlc5: "), str(error)
    assert expected in str(error)


def test_cuda_manifest_is_per_worker_one_or_one_per_release():
    error = error_of(worker_data=workers(mlc5={"cuda_manifest": {"12": "x.yaml"}}))
    assert str(error).startswith("host mlc5: cuda_manifest: "), str(error)
    cluster = build(
        worker_data=workers(
            mlc4={"cuda_manifest": "manifests/cuda-11-5.yaml"},
            mlc5={"cuda_manifest": ["a.yaml", "b.yaml"]},
            mlc6={"cuda_manifest": None},
        )
    )
    assert cluster.node("mlc4").cuda_manifests == ("manifests/cuda-11-5.yaml",)
    assert cluster.node("mlc5").cuda_manifests == ("a.yaml", "b.yaml")
    assert cluster.node("mlc6").cuda_manifests == ()


def test_node_declaration_as_a_list():
    error = error_of(worker_data=workers(mlc2={"node": [8, 48]}))
    assert str(error).startswith("host mlc2: node: expected Mapping, got list")


def test_negative_gpu_count_is_rejected():
    # A negative count would render "Gres=gpu:nvidia_titan_xp:-1" and slice the device list.
    error = error_of(worker_data=workers(mlc1={"node": {"gpus": -1}}))
    assert str(error).startswith("host mlc1: node.gpus:")


def test_ssh_key_must_be_one_line():
    # A newline smuggles a second, unchecked line into authorized_keys.
    key = GOOD_KEY + '\ncommand="/bin/sh" ssh-rsa AAAAB3NzaC1yc2E evil'
    error = error_of(_append_user(name="bob", uid=2000, group="snakepit", ssh_keys=[key]))
    assert "users[13].ssh_keys[0]: is not an OpenSSH public key line" in str(error)


@pytest.mark.parametrize("path", ["/data/../etc", "/data/./rw"])
def test_export_paths_must_be_normalised(path):
    # systemd-escape --path refuses "..", and "/data/./rw" would get a unit name systemd
    # does not compute for the same mount point.
    error = error_of(_set("storage.exports.1.mount_point", path))
    assert (
        f"storage.exports[1].mount_point: {path!r} is not a plain, normalized absolute path"
        in str(error)
    )


def test_unknown_partition_member():
    groups = inventory_groups()
    groups["g2080"].append("mlchead")
    error = error_of(groups=groups)
    assert str(error).startswith("inventory: unknown partition member 'mlchead'")
    assert "inventory group 'g2080' lists it but it is not in slurm_worker" in str(error)


def test_worker_in_no_partition():
    groups = inventory_groups()
    groups["q6000"].remove("mlc6")
    error = error_of(groups=groups)
    assert error.field_path == "inventory"
    assert "worker 'mlc6' is in no partition group (txp, g2080, q6000)" in str(error)


def test_worker_in_two_partitions():
    groups = inventory_groups()
    groups["q6000"].append("mlc4")
    error = error_of(groups=groups)
    assert "slurm_partitions[2].name: 'mlc4' is in partitions 'g2080' and 'q6000'" in str(error)


def test_bad_host_names():
    assert "head name 'mlc_head'" in str(error_of(head="mlc_head"))
    bad_worker = [(name.replace("mlc6", "mlc 6"), data) for name, data in workers()]
    groups = inventory_groups()
    groups["q6000"] = ["mlc 6"]
    groups["slurm_worker"][-1] = "mlc 6"
    error = error_of(worker_data=bad_worker, groups=groups)
    assert "worker name 'mlc 6' is not a valid hostname" in str(error)


# --- cluster_from_inventory names the file that set the bad field ---------------------------

TINY_INVENTORY = """\
slurm_head = [("h", {"ssh_hostname": "192.0.2.1"})]
txp = [("w0", {"ssh_hostname": "192.0.2.10"})]
slurm_worker = [*txp]
"""
DUPLICATE_UID = """
users = [*users, {"name": "dup", "uid": 1877, "group": "snakepit"}]
"""


def make_repo(root: Path, all_extra: str = "", txp_text: str | None = None) -> Path:
    """A repository-like directory: group_data/ (production plus changes) and an inventory."""
    (root / "group_data").mkdir(parents=True)
    only_txp = '\nslurm_partitions = [p for p in slurm_partitions if p["name"] == "txp"]\n'
    (root / "group_data" / "all.py").write_text(
        (GROUP_DATA / "all.py").read_text() + only_txp + all_extra
    )
    txp = (GROUP_DATA / "txp.py").read_text() if txp_text is None else txp_text
    (root / "group_data" / "txp.py").write_text(txp)
    (root / "inventory.py").write_text(TINY_INVENTORY)
    return root / "inventory.py"


def test_tiny_repo_builds(tmp_path, monkeypatch):
    inventory_file = make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pyinfra", str(inventory_file), "deploys/site.py"])
    cluster = cluster_from_inventory(load_inventory(inventory_file, tmp_path))
    assert (cluster.head, cluster.workers) == ("h", ("w0",))
    assert cluster.node("w0").cpus == 48


def test_error_names_group_data_all(tmp_path, monkeypatch):
    inventory_file = make_repo(tmp_path, all_extra=DUPLICATE_UID)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pyinfra", str(inventory_file), "deploys/site.py"])
    inventory = load_inventory(inventory_file, tmp_path)
    with pytest.raises(DataError) as raised:
        cluster_from_inventory(inventory)
    message = str(raised.value)
    assert message.startswith("group_data/all.py: host h: users[13].uid: duplicate uid 1877")
    assert raised.value.source == "group_data/all.py"


def test_error_names_the_partition_file(tmp_path, monkeypatch):
    inventory_file = make_repo(tmp_path, txp_text='node = {"gpus": 8, "cpus": "48"}\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pytest"])
    with pytest.raises(DataError) as raised:
        cluster_from_inventory(load_inventory(inventory_file, tmp_path))
    assert str(raised.value).startswith(
        "group_data/txp.py: host w0: node.cpus: expected int, got str ('48')"
    )


def test_error_names_the_sandbox_override(tmp_path, monkeypatch):
    # The sandbox's inventory has its own group_data/ that pyinfra applies last.
    make_repo(tmp_path)
    sandbox = tmp_path / ".sandbox"
    (sandbox / "group_data").mkdir(parents=True)
    (sandbox / "group_data" / "all.py").write_text(
        'timezone = "Mars/Olympus Mons"\n'  # not a zoneinfo name: has a space
    )
    inventory_file = sandbox / "inventory.py"
    inventory_file.write_text(TINY_INVENTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pyinfra", str(inventory_file), "deploys/site.py"])
    with pytest.raises(DataError) as raised:
        cluster_from_inventory(load_inventory(inventory_file, tmp_path))
    assert str(raised.value).startswith(".sandbox/group_data/all.py: host h: timezone: ")


def test_inventory_needs_exactly_one_head(tmp_path, monkeypatch):
    make_repo(tmp_path)
    two_heads = tmp_path / "two_heads.py"
    two_heads.write_text(TINY_INVENTORY + 'slurm_head = [*slurm_head, "h2"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pytest"])
    with pytest.raises(DataError, match="needs exactly one host in group slurm_head, found 2"):
        cluster_from_inventory(load_inventory(two_heads, tmp_path))


def test_a_production_value_spread_by_an_override_is_blamed_on_production(tmp_path, monkeypatch):
    # The sandbox spreads production's slurm into its own: a bad production value is
    # production's, not the override's.
    make_repo(tmp_path, all_extra='slurm = {**slurm, "memory_reserve_mib": -1}\n')
    sandbox = tmp_path / ".sandbox"
    (sandbox / "group_data").mkdir(parents=True)
    (sandbox / "group_data" / "all.py").write_text(
        "import runpy\n"
        "__production = runpy.run_path('group_data/all.py')\n"
        'slurm = {**__production["slurm"], "config": {"TaskPlugin": "task/none"}}\n'
    )
    inventory_file = sandbox / "inventory.py"
    inventory_file.write_text(TINY_INVENTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pyinfra", str(inventory_file), "deploys/site.py"])
    with pytest.raises(DataError) as raised:
        cluster_from_inventory(load_inventory(inventory_file, tmp_path))
    assert str(raised.value).startswith("group_data/all.py: host h: slurm.memory_reserve_mib:")


def test_an_inventory_problem_is_blamed_on_the_inventory(tmp_path, monkeypatch):
    inventory_file = make_repo(tmp_path)
    inventory_file.write_text(TINY_INVENTORY + "txp = [*txp, ('h', {})]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pyinfra", str(inventory_file), "deploys/site.py"])
    with pytest.raises(DataError) as raised:
        cluster_from_inventory(load_inventory(inventory_file, tmp_path))
    assert str(raised.value).startswith("inventory.py: inventory: unknown partition member 'h'")


# --- shared storage is never a way in (issue 10) ----------------------------------------------


@pytest.mark.parametrize(
    ("field", "path"),
    [
        (field, path)
        for field in ("path", "mount_point")
        for path in (
            "/", "/etc", "/usr", "/bin", "/sbin", "/boot", "/dev", "/proc", "/sys", "/var",
            "/root", "/home", "/run", "/tmp", "/lib", "/lib64", "/var/lib", "/var/log",
            "/etc/ssh", "/usr/local", "/usr/local/bin", "/proc/1", "/sys/fs/cgroup",
            "/dev/shm", "/boot/efi", "/root/.ssh", "/etc/",
        )
    ],
)  # fmt: skip
def test_system_paths_are_refused_as_exports_and_mount_points(field, path):
    error = error_of(_set(f"storage.exports.1.{field}", path))
    shown = path.rstrip("/") or "/"
    assert str(error) == (
        f"host mlchead: storage.exports[1].{field}: {shown!r} is a system path "
        "(never exported or mounted over)"
    )


@pytest.mark.parametrize("path", ["/data/rw", "/srv/data", "/var/data", "/home/shared", "/opt/x"])
def test_ordinary_paths_are_accepted(path):
    cluster = build(_set("storage.exports.1.mount_point", path))
    assert cluster.storage.exports[1].mount_point == path


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("4755", "'4755' sets the setuid or setgid bit"),
        ("2770", "'2770' sets the setuid or setgid bit"),
        ("6777", "'6777' sets the setuid or setgid bit"),
        ("0777", "'0777' is world-writable without the sticky bit (e.g. '1777')"),
        ("0773", "'0773' is world-writable without the sticky bit (e.g. '1777')"),
        ("666", "'666' is world-writable without the sticky bit (e.g. '1777')"),
    ],
)
def test_dangerous_modes_are_refused(mode, problem):
    error = error_of(_set("storage.exports.2.mode", mode))
    assert str(error) == f"host mlchead: storage.exports[2].mode: {problem}"


@pytest.mark.parametrize("mode", ["1777", "0750", "755", "0555", "1770"])
def test_safe_modes_are_accepted(mode):
    assert build(_set("storage.exports.2.mode", mode)).storage.exports[2].mode == mode


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["hard", "bg"], "must include 'nosuid'"),
        (["nosuid", "hard"], "must include 'nodev'"),
        (["nosuid", "nodev", "suid"], "'suid' undoes nosuid/nodev"),
        (["nosuid", "nodev", "dev"], "'dev' undoes nosuid/nodev"),
        (["defaults", "nosuid", "nodev"], "'defaults' undoes nosuid/nodev"),
    ],
)
def test_mount_options_must_keep_nosuid_and_nodev(options, problem):
    error = error_of(_set("storage.mount_options", options))
    assert str(error) == f"host mlchead: storage.mount_options: {problem}"


def test_default_mount_options_have_nosuid_and_nodev():
    def change(data):
        del data["storage"]["mount_options"]

    assert build(change).storage.mount_options == ("nosuid", "nodev", "hard", "bg", "noatime")


@pytest.mark.parametrize(
    ("field", "path", "access"),
    [
        ("path", "/home/slurm", "rw"),
        ("path", "/home/slurm", "ro"),  # read-only still lets the head's copy rule the workers
        ("mount_point", "/home/slurm", "ro"),
        ("mount_point", "/home/slurm/", "rw"),
    ],
)
def test_the_slurm_users_home_is_never_shared(field, path, access):
    def change(data):
        data["storage"]["exports"][1].update({field: path, "access": access})

    error = error_of(change)
    assert str(error) == (
        f"host mlchead: storage.exports[1].{field}: '/home/slurm' holds the SlurmUser's home "
        "'/home/slurm': keep it local"
    )


def test_a_parent_of_the_slurm_users_home_is_never_shared():
    def change(data):
        data["users"][0]["home"] = "/srv/homes/slurm"
        data["storage"]["exports"][1]["path"] = "/srv/homes"

    error = error_of(change)
    assert "storage.exports[1].path: '/srv/homes' holds the SlurmUser's home" in str(error)
