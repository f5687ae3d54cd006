"""The workers: slurmd with its GPUs, the shared storage, apt through the head's proxy."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.role("worker")

APT_PROXY_CONF = "/etc/apt/apt.conf.d/01snakepit-proxy"


def test_slurmd_is_running_and_enabled(host):
    slurmd = host.service("slurmd")
    assert slurmd.is_running
    assert slurmd.is_enabled


def test_slurm_sees_the_gpus_this_worker_has(host, expected, target):
    worker = expected.worker(target.name)
    # The glob is expanded on the host ($1 unquoted), as the deploy's GPU detection does.
    devices = host.check_output(
        "sh -c %s sh %s",
        'for d in $1; do [ -c "$d" ] && echo "$d"; done; true',
        worker.gpu_device_glob,
    ).split()
    if worker.gpus is not None:
        assert len(devices) == worker.gpus, f"declared {worker.gpus} GPUs, found {devices}"
    line = host.check_output("scontrol show node -o %s", target.name)
    fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
    # gpu:<type>:<count>[,...]: one entry per GPU model, each a type its partition declares.
    gres = [entry.split(":") for entry in fields["Gres"].split(",")]
    assert all(name == "gpu" and kind in worker.gpu_types for name, kind, _ in gres), gres
    assert sum(int(count) for _, _, count in gres) == len(devices), gres


def test_mount_unit_is_rendered_for_the_export(host, expected, export):
    unit = host.check_output("systemd-escape --path --suffix=mount %s", export.mount_point)
    rendered = host.file(f"/etc/systemd/system/{unit}")
    assert rendered.is_file
    text = rendered.content_string
    options = ",".join([*expected.mount_options, export.access])
    for line in (f"What={expected.head}:{export.path}", f"Where={export.mount_point}"):
        assert line in text.splitlines()
    assert f"Options={options}" in text.splitlines()
    assert host.run("systemctl cat %s", unit).rc == 0  # systemd has read it
    if expected.storage_mode == "nfs":
        mount = host.service(unit)
        assert mount.is_running
        assert mount.is_enabled
        assert host.mount_point(export.mount_point).filesystem.startswith("nfs")


def test_shared_storage_is_mounted_as_exported(host, export):
    # What users see: the head's directory (owner, mode), read-only where the export is.
    mount = host.mount_point(export.mount_point)
    assert mount.exists
    assert export.access in mount.options
    directory = host.file(export.mount_point)
    if export.keep_existing:
        return  # the head's directory as it was found (never re-owned or re-moded)
    assert (directory.user, directory.group) == (export.owner, export.group)
    assert oct(directory.mode) == oct(export.mode)


def test_worker_directories_have_their_owner_and_mode(host, expected):
    for wanted in expected.worker_directories:
        directory = host.file(wanted.path)
        assert directory.is_directory
        assert (directory.user, directory.group) == (wanted.owner, wanted.group)
        assert oct(directory.mode) == oct(wanted.mode)


def test_apt_goes_through_the_heads_proxy(host, expected):
    assert host.file(APT_PROXY_CONF).is_file
    setting = host.check_output("apt-config dump Acquire::http::Proxy")
    assert f'Acquire::http::Proxy "{expected.proxy_url}";' in setting.splitlines()
