"""The sandbox's container recipe, without Docker: what makes Slurm's cgroup plugins work."""

from __future__ import annotations

import runpy

from tools.sandbox import image
from tools.sandbox.cluster import (
    FAKE_GPUS_PER_WORKER,
    RUN_OPTIONS,
    Sandbox,
    fake_gpu_options,
    render_group_data,
)


def test_containers_get_their_own_cgroup_namespace_and_no_host_cgroup_bind():
    assert RUN_OPTIONS["cgroupns"] == "private"
    assert RUN_OPTIONS["cap_add"] == ["SYS_ADMIN", "SYS_NICE"]
    assert "volumes" not in RUN_OPTIONS  # the image's init mounts /sys/fs/cgroup itself
    assert "privileged" not in RUN_OPTIONS


def test_each_fake_gpu_has_its_own_device_rule_and_no_wildcard():
    worker = fake_gpu_options("worker")
    minors = [str(m) for m in range(FAKE_GPUS_PER_WORKER)]
    assert worker["device_cgroup_rules"] == [f"c 195:{m} rwm" for m in minors]
    assert worker["environment"]["SANDBOX_FAKE_GPUS"] == " ".join(minors)
    assert worker["environment"]["container"] == "docker"
    assert fake_gpu_options("head") == {}  # no GPU device allowed, none made


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
    path.write_text(render_group_data(sandbox, "172.30.0.0/16", "13")["all.py"])
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
