"""The one schema: every key refused when misspelled, docs/data.md current, and the everyday
changes an admin makes touch only data files (each performed here on a copy of the data,
checked in what is rendered)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from snakepit import slurm_settings
from snakepit.model import HostData, build_cluster, render_docs
from snakepit.schema import DataError, Schema, _submodels
from snakepit.slurm import (
    DetectedNode,
    parse_conf,
    plan_nodes,
    render_gres_conf,
    render_slurm_conf,
    restart_fingerprint,
)
from tests.unit.production_data import PARTITION_HOSTS, group_data
from tests.unit.test_slurm import PRODUCTS, gpus, hardware

REPO = Path(__file__).resolve().parents[2]


# -- docs/data.md ----------------------------------------------------------------------------


def test_docs_data_md_is_generated_from_the_schema():
    assert (REPO / "docs" / "data.md").read_text() == render_docs(), (
        "docs/data.md is stale: run `python -m snakepit.docs`"
    )


def test_docs_list_every_key_and_every_slurm_default():
    text = render_docs()
    for model, key in _every_key(HostData):
        assert f"| `{key}` |" in text, f"{model.__name__}.{key} is not documented"
        assert model.model_fields[key].description, f"{model.__name__}.{key} has no meaning"
    for key in slurm_settings.DEFAULTS:
        assert f"| `{key}` |" in text


# -- a typo in any key is refused with the nearest name --------------------------------------


def _every_key(model: type[Schema], seen=None) -> list[tuple[type[Schema], str]]:
    seen = set() if seen is None else seen
    if model in seen:
        return []
    seen.add(model)
    keys = []
    for name, field in model.model_fields.items():
        keys.append((model, name))
        for child in _submodels(field.annotation):
            keys += _every_key(child, seen)
    return keys


def _misspell(key: str) -> str:
    """Swap two letters in the middle (ssh_keys -> ssh_kyes): a typical typo."""
    i = max(1, len(key) // 2 - 1)
    swapped = key[:i] + key[i + 1] + key[i] + key[i + 2 :] if len(key) > 3 else key + "s"
    return swapped if swapped != key else key[:i] + key[i + 1 :]  # comment -> coment


def _where(model: type[Schema]) -> tuple[str, ...]:
    """The data path (keys, with 0 for a list item) at which `model` sits in HostData."""
    paths = {
        HostData: (),
        slurm_settings_model(): ("slurm",),
    }
    for path, found in _model_paths(HostData, ()):
        paths.setdefault(found, path)
    return paths[model]


def slurm_settings_model():
    return HostData.model_fields["slurm"].annotation


def _model_paths(model, path):
    for name, field in model.model_fields.items():
        for child in _submodels(field.annotation):
            origin = str(field.annotation)
            child_path = (*path, name, 0) if "tuple" in origin else (*path, name)
            yield child_path, child
            yield from _model_paths(child, child_path)


def _head_data() -> dict[str, Any]:
    data = group_data("all")
    data["users"].append({"name": "bob", "uid": 2000, "ssh_keys": []})
    data["node"] = {}
    data["slurm"]["packages"] = {}
    return data


TYPO_CASES = [(m, k) for m, k in _every_key(HostData)]


@pytest.mark.parametrize(
    ("model", "key"), TYPO_CASES, ids=[f"{m.__name__}.{k}" for m, k in TYPO_CASES]
)
def test_a_misspelled_key_is_refused_with_the_nearest_name(model, key):
    data = _head_data()
    target: Any = data
    for part in _where(model):
        target = target[part]
    typo = _misspell(key)
    target[typo] = target.pop(key, "x")
    with pytest.raises(DataError) as caught:
        _build(head=data)
    message = str(caught.value)
    assert f"{typo}: unknown key (did you mean {key!r}?)" in message, message
    assert message.startswith("host mlchead: ")


def test_typos_named_in_the_issue_are_refused():
    cases = {
        ("users", 1, "ssh_key"): "users[1].ssh_key: unknown key (did you mean 'ssh_keys'?)",
        ("users", 1, "sudoer"): "users[1].sudoer: unknown key (did you mean 'sudo'?)",
        ("slurm", "extra_conifg"): "slurm.extra_conifg: unknown key",
        ("node", "gpu"): "node.gpu: unknown key (did you mean 'gpus'?)",
    }
    for path, expected in cases.items():
        data = _head_data()
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = True
        with pytest.raises(DataError) as caught:
            _build(head=data)
        assert expected in str(caught.value)


def test_pyinfra_connection_keys_are_not_the_schemas_business():
    # glue.loading strips them before validation; the schema itself refuses them.
    data = _head_data()
    data["ssh_hostnme"] = "10.0.0.1"
    with pytest.raises(DataError, match="ssh_hostnme: unknown key"):
        _build(head=data)


# -- the everyday changes: data files only ---------------------------------------------------


def _build(head: dict[str, Any] | None = None, partition_files=None, hosts=None):
    head = head if head is not None else group_data("all")
    hosts = hosts or PARTITION_HOSTS
    partition_files = partition_files or {}
    workers = []
    for partition, names in hosts.items():
        own = partition_files.get(
            partition, group_data(partition) if partition in PARTITION_HOSTS else {}
        )
        for name in names:
            workers.append((name, {**head, **group_data("slurm_worker"), **own}))
    groups = {**hosts, "slurm_worker": [name for name, _ in workers]}
    return build_cluster(("mlchead", head), workers, groups)


def _rendered(cluster) -> tuple[str, str]:
    detected = {}
    for node in cluster.nodes:
        count = node.gpu_count or 0
        detected[node.host] = DetectedNode(
            hardware(cpus=56, sockets=2, cores=14, threads=2),
            gpus(count, PRODUCTS[node.gpu_types[0]]),
            tuple(f"/dev/nvidia{i}" for i in range(count)),
        )
    lines = plan_nodes(cluster, detected)
    return render_slurm_conf(cluster, lines), render_gres_conf(lines)


def test_add_a_human_user_as_documented():
    data = group_data("all")
    # exactly the shape of the comment in group_data/all.py
    data["users"].append(
        {
            "name": "alice",
            "uid": 2104,
            "groups": ["slurm"],
            "ssh_keys": [
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/I95HQM/Wr9XZkQzXfhFSpqmIiGx0fIegDNtkkoOHW "
                "alice@laptop"
            ],
        }
    )
    alice = _build(head=data).users[-1]
    assert (alice.name, alice.uid, alice.group, alice.groups) == (
        "alice",
        2104,
        "users",
        ("slurm",),
    )
    assert alice.home == "/home/alice"


def test_add_a_partition_with_a_new_gpu_model():
    data = group_data("all")
    data["slurm_partitions"].append(
        {"name": "h100", "gpu_type": "nvidia_h100_80gb_hbm3", "config": {"DefMemPerCPU": 4000}}
    )
    hosts = {**PARTITION_HOSTS, "h100": ["mlc7"]}
    files = {"h100": {"node": {"gpus": 4}}}
    cluster = _build(head=data, partition_files=files, hosts=hosts)
    slurm_conf, gres_conf = _rendered(cluster)
    _settings, nodes, partitions = parse_conf(slurm_conf)
    assert " Gres=gpu:nvidia_h100_80gb_hbm3:4 " in nodes["mlc7"]
    assert partitions["h100"] == (
        "PartitionName=h100 Nodes=mlc7 Default=NO MaxTime=INFINITE DefMemPerCPU=4000 State=UP"
    )
    assert "NodeName=mlc7 Name=gpu Type=nvidia_h100_80gb_hbm3 File=/dev/nvidia[0-3]" in gres_conf


def test_change_a_slurm_conf_setting():
    data = group_data("all")
    data["slurm"]["config"]["SchedulerType"] = "sched/builtin"  # a default, overridden
    data["slurm"]["config"]["MaxJobCount"] = 20000  # a new one
    data["slurm"]["config"]["MpiDefault"] = None  # a default, removed
    slurm_conf, _ = _rendered(_build(head=data))
    assert slurm_conf.count("SchedulerType=") == 1
    settings = parse_conf(slurm_conf)[0]
    assert settings["SchedulerType"] == "sched/builtin"
    assert settings["MaxJobCount"] == "20000"
    assert "MpiDefault" not in settings
    assert "DefMemPerCPU" not in settings  # set per partition


def test_raise_the_slurm_version():
    before = _build()
    data = group_data("all")
    data["slurm"]["version"] = "24.11"
    data["slurm"]["packages"] = {"version": "24.11.5-4+deb13u1"}
    after = _build(head=data)
    assert after.slurm.version == "24.11"
    assert after.slurm.packages.version == "24.11.5-4+deb13u1"
    assert after.slurm.packages.node == ("slurmd", "slurm-client", "slurm-wlm-jwt-plugin")
    # Which keys a restart applies follows the version.
    assert "ControlMachine" in before.slurm.restart_keys
    assert "ControlMachine" not in after.slurm.restart_keys
    conf = "ClusterName=a\nControlMachine=h\n"
    assert restart_fingerprint(conf, restart_keys=before.slurm.restart_keys) != (
        restart_fingerprint(conf.replace("=h", "=g"), restart_keys=before.slurm.restart_keys)
    )
    assert restart_fingerprint(conf, restart_keys=after.slurm.restart_keys) == (
        restart_fingerprint(conf.replace("=h", "=g"), restart_keys=after.slurm.restart_keys)
    )
    # A setting 24.11 no longer knows is refused when the version is raised.
    data = copy.deepcopy(data)
    data["slurm"]["config"]["LaunchType"] = "launch/slurm"
    with pytest.raises(DataError, match=r"not a slurm\.conf setting of Slurm 24\.11"):
        _build(head=data)
