"""Supported releases and the Slurm mixes a cluster may run (snakepit.targets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from snakepit.parsers.os_release import OsRelease, parse_os_release
from snakepit.slurm import render_slurmdbd_conf, restart_fingerprint
from snakepit.slurm_settings import RELEASES, VERSIONS
from snakepit.targets import UnsupportedTargets, check_targets
from tests.unit.production_data import group_data, production_cluster

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "os-release"


def release(name: str) -> OsRelease:
    return parse_os_release((FIXTURES / name).read_text())


def test_parses_real_os_release_files():
    assert release("debian-12") == OsRelease("debian", "12", "Debian GNU/Linux 12 (bookworm)")
    assert release("debian-13") == OsRelease("debian", "13", "Debian GNU/Linux 13 (trixie)")
    assert release("ubuntu-18.04") == OsRelease("ubuntu", "18.04", "Ubuntu 18.04.6 LTS")
    assert release("debian-sid") == OsRelease("debian", "", "Debian GNU/Linux trixie/sid")


def test_an_empty_file_names_an_unknown_release():
    assert parse_os_release("").name == "unknown release"


def test_each_supported_release_ships_its_slurm():
    assert {r: v.version for r, v in RELEASES.items()} == {"12": "22.05", "13": "24.11"}


@pytest.mark.parametrize(
    ("newer", "older", "allowed"),
    [
        ("22.05", "22.05", True),
        ("22.05", "20.11", True),  # two back: Slurm's window until 24.05
        ("24.11", "23.02", True),  # three back: the window from 24.11
        ("24.11", "22.05", False),  # four back: Debian 12 -> 13 skips too many
        ("22.05", "24.11", False),  # slurmd newer than slurmctld
    ],
)
def test_slurms_compatibility_window(newer, older, allowed):
    assert VERSIONS[newer].accepts(older) is allowed


def cluster_releases(head: str, worker: str, **changed: str) -> dict[str, OsRelease]:
    cluster = production_cluster()
    found = {cluster.head: release(head), **{w: release(worker) for w in cluster.workers}}
    return {**found, **{name: release(r) for name, r in changed.items()}}


def problems(head: str, worker: str, version: str = "22.05", **changed: str) -> list[str]:
    cluster = production_cluster(slurm={**group_data("all")["slurm"], "version": version})
    try:
        check_targets(cluster, cluster_releases(head, worker, **changed))
    except UnsupportedTargets as error:
        return list(error.problems)
    return []


def test_an_all_debian_12_or_all_debian_13_cluster_is_accepted():
    assert problems("debian-12", "debian-12") == []
    assert problems("debian-13", "debian-13", version="24.11") == []


def test_an_unsupported_release_is_one_line_naming_host_and_release():
    assert problems("debian-12", "debian-12", mlc4="ubuntu-18.04") == [
        "mlc4: Ubuntu 18.04.6 LTS is not supported "
        "(supported: Debian 12 (Slurm 22.05), Debian 13 (Slurm 24.11))"
    ]
    assert problems("debian-sid", "debian-12")[0].startswith(
        "mlchead: Debian GNU/Linux trixie/sid is not supported"
    )


def test_the_heads_slurm_must_be_the_one_the_data_writes_slurm_conf_for():
    assert problems("debian-13", "debian-13") == [
        "mlchead: Debian GNU/Linux 13 (trixie) ships Slurm 24.11, but slurm.version is 22.05 "
        "(slurm.conf is written for it)"
    ]


def test_a_worker_newer_than_the_head_is_refused():
    assert problems("debian-12", "debian-12", mlc6="debian-13") == [
        "mlc6: slurmd 24.11 (Debian 13) with slurmctld and slurmdbd 22.05 on mlchead "
        "(Debian 12): Slurm 22.05 accepts daemons of 20.11 to 22.05 only"
    ]


def test_debian_12_workers_under_a_debian_13_head_are_outside_slurms_window():
    found = problems("debian-13", "debian-12", version="24.11")
    assert len(found) == 7
    assert found[0] == (
        "mlc0: slurmd 22.05 (Debian 12) with slurmctld and slurmdbd 24.11 on mlchead "
        "(Debian 13): Slurm 24.11 accepts daemons of 23.02 to 24.11 only"
    )


@pytest.mark.parametrize(
    ("change", "restarts_22_05", "restarts_24_11"),
    [
        ("SelectType=select/linear", True, False),  # 24.11's reconfigure takes plugins
        ("TaskPlugin=task/affinity", True, False),
        ("SlurmctldPort=6999", True, True),  # scontrol(1): not the listening ports
        ("AuthAltTypes=auth/none", True, True),  # nor the authentication
        ("SchedulerType=sched/builtin", False, False),
    ],
)
def test_which_change_restarts_the_daemons_follows_the_version(
    change, restarts_22_05, restarts_24_11
):
    base = "ClusterName=a\nSelectType=select/cons_tres\nTaskPlugin=task/cgroup\n"
    key = change.partition("=")[0]
    changed = "\n".join(
        change if line.startswith(key + "=") else line for line in base.splitlines()
    )
    changed += "" if key + "=" in base else "\n" + change
    for version, restarts in (("22.05", restarts_22_05), ("24.11", restarts_24_11)):
        keys = VERSIONS[version].restart_keys
        differ = restart_fingerprint(base, restart_keys=keys) != restart_fingerprint(
            changed, restart_keys=keys
        )
        assert differ is restarts, (version, change)


def test_pid_files_where_each_releases_units_let_the_daemons_write():
    for version, ctld, dbd in (
        ("22.05", "/run/slurmctld.pid", "/run/slurmdbd.pid"),  # Debian 12: run as root
        ("24.11", "/run/slurmctld/slurmctld.pid", "/run/slurmdbd/slurmdbd.pid"),  # as slurm
    ):
        cluster = production_cluster(slurm={**group_data("all")["slurm"], "version": version})
        assert cluster.slurm.conf["SlurmctldPidFile"] == ctld
        assert cluster.slurm.conf["SlurmdPidFile"] == "/run/slurmd.pid"  # root on both
        assert f"\nPidFile={dbd}\n" in render_slurmdbd_conf(cluster, "password-12chars")
