"""The sandbox's container recipe, without Docker: what makes Slurm's cgroup plugins work."""

from __future__ import annotations

import runpy

import pytest

from tools.sandbox import image
from tools.sandbox.cluster import (
    RUN_OPTIONS,
    Sandbox,
    SandboxHost,
    fake_gpu_options,
    render_group_data,
    render_inventory,
)
from tools.sandbox.fleet import Fleet, FleetError, Worker, from_dict


def test_containers_get_their_own_cgroup_namespace_and_no_host_cgroup_bind():
    assert RUN_OPTIONS["cgroupns"] == "private"
    assert RUN_OPTIONS["cap_add"] == ["SYS_ADMIN", "SYS_NICE"]
    assert "volumes" not in RUN_OPTIONS  # the image's init mounts /sys/fs/cgroup itself
    assert "privileged" not in RUN_OPTIONS


def test_each_fake_gpu_has_its_own_device_rule_and_no_wildcard():
    worker = fake_gpu_options(Worker("worker1", "txp", 3))
    assert worker["device_cgroup_rules"] == [f"c 195:{m} rwm" for m in (0, 1, 2)]
    assert worker["environment"]["SANDBOX_FAKE_GPUS"] == "0 1 2"
    assert worker["environment"]["container"] == "docker"
    assert fake_gpu_options(None) == {}  # the head: no GPU device allowed, none made


def test_a_worker_without_a_driver_may_use_its_gpus_but_has_no_device_files():
    worker = fake_gpu_options(Worker("worker3", "txp", 2, driver=False))
    assert worker["device_cgroup_rules"] == ["c 195:0 rwm", "c 195:1 rwm"]
    assert worker["environment"]["SANDBOX_FAKE_GPUS"] == ""


def test_the_image_init_mounts_writable_cgroups_then_runs_systemd():
    assert f'CMD ["{image.INIT_PATH}"]' in image.IMAGE_CHANGES
    assert image.recipe()["init"] == image.INIT_SCRIPT  # a change rebuilds the image
    lines = image.INIT_SCRIPT.splitlines()
    assert lines[0] == "#!/bin/sh" and lines[-1] == 'exec /sbin/init "$@"'
    assert "mount -t tmpfs -o mode=0755,nosuid,nodev,noexec cgroup /sys/fs/cgroup" in lines
    assert "mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd" in lines
    assert "mknod -m 0666" in image.INIT_SCRIPT and "ro" not in image.INIT_SCRIPT.split()


def test_sandbox_runs_the_production_slurm_settings(tmp_path):
    sandbox = Sandbox("unit", state_root=tmp_path)
    files = render_group_data(sandbox, "172.30.0.0/16")
    path = tmp_path / "all.py"
    path.write_text(files["all.py"])
    overrides = runpy.run_path(str(path))
    assert "slurm" not in overrides  # ProctrackType, TaskPlugin: as in production
    assert overrides["cluster_subnet"] == "172.30.0.0/16"
    assert overrides["storage"]["mode"] == "shared-volume"


def test_a_debian_13_sandbox_runs_its_slurm_with_the_production_settings(tmp_path):
    sandbox = Sandbox("unit", state_root=tmp_path)
    path = tmp_path / "all.py"
    path.write_text(render_group_data(sandbox, "172.30.0.0/16", release="13")["all.py"])
    overrides = runpy.run_path(str(path))
    production = runpy.run_path("group_data/all.py")["slurm"]
    assert overrides["slurm"] == {**production, "version": "24.11"}


def test_one_image_per_release_from_the_same_recipe():
    bookworm, trixie = image.recipe("12"), image.recipe("13")
    assert (bookworm["suite"], trixie["suite"]) == ("bookworm", "trixie")
    assert "deb http://deb.debian.org/debian-security trixie-security main" in trixie["sources"]
    differ = {key for key in bookworm if bookworm[key] != trixie[key]}
    assert differ == {"suite", "sources"}
    assert image.image_tag("12") != image.image_tag("13")
    assert image.image_tag() == image.image_tag(image.DEFAULT_RELEASE) == image.image_tag("12")


SPEC = {
    "partitions": {
        "txp": {
            "gpu_type": "geforce_rtx_2080_ti",
            "gpus": 2,
            "workers": {"worker1": {}, "worker2": {"gpus": 1}, "worker3": {"driver": False}},
        },
        "a100": {"gpu_type": "nvidia_a100-sxm4-80gb", "gpus": 4, "workers": {"worker4": None}},
    }
}


def test_a_fleet_spec_gives_partitions_models_and_per_worker_gpus(tmp_path):
    fleet = from_dict(SPEC)
    assert [(w.name, w.partition, w.gpus, w.driver) for w in fleet.workers] == [
        ("worker1", "txp", 2, True),
        ("worker2", "txp", 1, True),
        ("worker3", "txp", 2, False),
        ("worker4", "a100", 4, True),
    ]
    assert from_dict(fleet.to_dict()) == fleet  # what `up` saves is a spec again

    sandbox = Sandbox("unit", state_root=tmp_path)
    files = render_group_data(sandbox, "172.30.0.0/16", fleet)
    path = tmp_path / "all.py"
    path.write_text(files["all.py"])
    partitions = runpy.run_path(str(path))["slurm_partitions"]
    assert [(p["name"], p["gpu_type"], p["default"]) for p in partitions] == [
        ("txp", "geforce_rtx_2080_ti", True),
        ("a100", "nvidia_a100-sxm4-80gb", False),
    ]
    assert partitions[0]["max_time"]  # production's txp lends its settings
    assert files["txp.py"].endswith('node = {"gpus": 2}\n')
    assert files["a100.py"].endswith('node = {"gpus": 4}\n')

    hosts = [SandboxHost("head", "head", "c", "10.0.0.2")] + [
        SandboxHost(w.name, "worker", "c", f"10.0.0.{i}") for i, w in enumerate(fleet.workers, 3)
    ]
    (tmp_path / "unit").mkdir()
    inventory = tmp_path / "unit" / "inventory.py"
    inventory.write_text(render_inventory(sandbox, hosts, fleet))
    groups = runpy.run_path(str(inventory))
    assert [name for name, _ in groups["slurm_worker"]] == [w.name for w in fleet.workers]
    assert [name for name, _ in groups["a100"]] == ["worker4"]
    data = dict(groups["txp"])
    assert data["worker2"]["node"] == {"gpus": 1}  # differs from its partition's 2
    assert "node" not in data["worker1"] and "node" not in data["worker3"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"partitions": {}}, "partitions: a mapping of at least one partition"),
        ({"partitions": {"txp": {"gpu": 2}}}, "partitions.txp: unknown key 'gpu'"),
        ({"partitions": {"txp": {"gpus": -1}}}, "partitions.txp.gpus: a GPU count"),
        (
            {"partitions": {"txp": {"workers": {"w1": {"driver": "no"}}}}},
            "partitions.txp.workers.w1.driver: true or false",
        ),
        (
            {"partitions": {"a": {"workers": {"w1": {}}}, "b": {"workers": {"w1": {}}}}},
            "worker w1 is in more than one place",
        ),
        ({"partitions": {"txp": {"gpu_type": "Bad Type"}}}, "gpu_type: 'Bad Type' is not"),
    ],
)
def test_a_bad_fleet_spec_names_the_field(spec, message):
    with pytest.raises(FleetError, match=message.replace("(", r"\(")):
        from_dict(spec, "fleet.yaml")


def test_up_keeps_a_file_the_user_edited_and_writes_ours_beside_it(tmp_path, capsys):
    sandbox = Sandbox("unit", state_root=tmp_path)
    sandbox.state_dir.mkdir()
    target = sandbox.state_dir / "group_data" / "txp.py"
    target.parent.mkdir()
    sandbox._write_generated({"group_data/txp.py": "node = {'gpus': 2}\n"})
    assert target.read_text() == "node = {'gpus': 2}\n"
    sandbox._write_generated({"group_data/txp.py": "node = {'gpus': 3}\n"})
    assert target.read_text() == "node = {'gpus': 3}\n"  # still ours: rewritten

    target.write_text("node = {'gpus': 8}  # mine\n")
    sandbox._write_generated({"group_data/txp.py": "node = {'gpus': 1}\n"})
    assert target.read_text() == "node = {'gpus': 8}  # mine\n"
    assert (target.parent / "txp.py.generated").read_text() == "node = {'gpus': 1}\n"
    assert f"kept your edited {target}" in capsys.readouterr().err
    assert Fleet.uniform(2).workers[1] == Worker("worker2", "txp", 2)


def test_a_sandbox_takes_only_its_own_network_not_one_whose_name_contains_it(tmp_path):
    from types import SimpleNamespace

    class Networks:
        def __init__(self):
            self.made = []

        def list(self, names):  # Docker's name filter matches part of a name
            existing = [SimpleNamespace(name="vf-pytest-fleet-net")]
            return [n for n in existing + self.made if any(w in n.name for w in names)]

        def create(self, name, **_):
            self.made.append(SimpleNamespace(name=name))
            return self.made[-1]

    sandbox = Sandbox("pytest-fleet", state_root=tmp_path)
    sandbox._client = SimpleNamespace(networks=Networks())
    assert sandbox._ensure_network().name == "pytest-fleet-net"
    assert sandbox._ensure_network() is sandbox._client.networks.made[0]  # found again
