"""Tests for snakepit.storage: /etc/exports and the workers' systemd mount units."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from snakepit.model import NfsExport
from snakepit.storage import (
    StorageError,
    check_exports,
    mount_unit,
    mount_unit_name,
    render_exports,
)
from tests.unit.production_data import group_data, production_cluster

REPO = Path(__file__).resolve().parents[2]


# --- /etc/exports -----------------------------------------------------------------------------


def export_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_exports_go_to_the_subnet_only():
    text = render_exports(production_cluster())
    assert export_lines(text) == [
        "/snakepit/shared 192.168.0.0/16(ro,sync,no_subtree_check,root_squash)",
        "/data/rw 192.168.0.0/16(rw,sync,no_subtree_check,root_squash)",
        "/snakepit/home 192.168.0.0/16(ro,sync,no_subtree_check,root_squash)",
        "/data/sw 192.168.0.0/16(ro,sync,no_subtree_check,root_squash)",
    ]
    assert "*" not in text
    assert "no_root_squash" not in text
    assert text.endswith("\n")


def test_exports_follow_the_subnet_in_the_data():
    text = render_exports(production_cluster(cluster_subnet="10.20.0.0/16"))
    clients = {line.split()[1].split("(")[0] for line in export_lines(text)}
    assert clients == {"10.20.0.0/16"}


def test_exports_refuse_a_subnet_wider_than_a_slash_8():
    with pytest.raises(StorageError, match="wider than a /8"):
        render_exports(production_cluster(cluster_subnet="10.0.0.0/7"))


def test_rendered_exports_pass_the_check():
    check_exports(render_exports(production_cluster()))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("/data *(rw,sync)", "exported to everyone"),
        ("/data *(ro)", "exported to everyone"),
        ("/data host*(rw)", "exported to everyone"),
        ("/data 192.168.1.0/24(rw) *.example.org(ro)", "exported to everyone"),
        ("/data (rw)", "exported to everyone"),  # no client: everyone, to exportfs
        ("/data 192.168.1.0/24", "options need ro or rw"),
        ("/data 192.168.1.0/24(sync,no_subtree_check)", "options need ro or rw"),
        ("/data 192.168.1.0/24(rw", "options need ro or rw"),
        ("/data", "needs a path and clients"),
        ("data 192.168.1.0/24(rw)", "needs a path and clients"),
    ],
)
def test_check_exports_rejects(line, problem):
    text = f"# header\n\n{line}\n"
    with pytest.raises(StorageError, match=problem) as raised:
        check_exports(text)
    assert "line 3" in str(raised.value)


def test_check_exports_accepts_networks_and_comments():
    check_exports(
        "# comment\n   # indented comment\n\n"
        "/data 192.168.1.0/24(ro,sync)\n"
        "/data/rw 10.0.0.0/8(rw) 192.168.1.0/24(ro)\n"
    )


def test_check_exports_rejects_a_host_address_with_a_prefix():
    with pytest.raises(ValueError):
        check_exports("/data 192.168.1.5/24(rw)\n")


# --- systemd mount units ----------------------------------------------------------------------

ESCAPE_PATHS = [
    "/data/ro",
    "/data/rw",
    "/home/slurm",
    "/data/home",
    "/snakepit/shared",
    "/data/my-share",
    "/data/a-b-c/d-e",
    "/data/sw.v2",
    "/data/sw-1.2",
    "/data/a_b",
    "/data/a:b",
    "/data/x~y",
    "/data/ro+",
    "/data/ro/",
    "/data/.hidden",
    "/data/café",
    "/mnt",
]


def systemd_escape(path: str) -> str:
    result = subprocess.run(
        ["systemd-escape", "--path", "--suffix=mount", path],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.skipif(shutil.which("systemd-escape") is None, reason="needs systemd-escape")
@pytest.mark.parametrize("path", ESCAPE_PATHS)
def test_mount_unit_name_matches_systemd_escape(path):
    assert mount_unit_name(path) == systemd_escape(path)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/data/ro", "data-ro.mount"),
        ("/data/my-share", "data-my\\x2dshare.mount"),
        ("/data/sw.v2", "data-sw.v2.mount"),
        ("/.x/y", "\\x2ex-y.mount"),
        ("/data/x~y", "data-x\\x7ey.mount"),
    ],
)
def test_mount_unit_name_known_escapes(path, name):
    # The same as systemd 252's systemd-escape, for machines without systemd.
    assert mount_unit_name(path) == name


def test_production_mount_unit_names_are_distinct():
    exports = production_cluster().storage.exports
    names = [mount_unit_name(e.mount_point) for e in exports]
    assert names == [
        "data-ro.mount",
        "data-rw.mount",
        "data-home.mount",
        "data-sw.mount",
    ]


def unit_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            fields[key] = value
    return fields


def test_mount_unit_for_a_read_only_export():
    cluster = production_cluster()
    export = cluster.storage.exports[0]
    text = mount_unit(cluster, export)
    fields = unit_fields(text)
    assert fields["What"] == "mlchead:/snakepit/shared"
    assert fields["Where"] == "/data/ro"
    assert fields["Type"] == "nfs"
    assert fields["Options"].split(",") == ["nosuid", "nodev", "hard", "bg", "noatime", "ro"]
    assert fields["WantedBy"] == "remote-fs.target"
    assert fields["After"] == "network-online.target"
    assert fields["Wants"] == "network-online.target"
    assert [line for line in text.splitlines() if line.startswith("[")] == [
        "[Unit]",
        "[Mount]",
        "[Install]",
    ]


def test_mount_unit_for_a_read_write_export():
    cluster = production_cluster()
    export = NfsExport(
        path="/data/scratch",
        mount_point="/scratch",
        access="rw",
        owner="slurm",
        group="slurm",
        mode="1777",
    )
    fields = unit_fields(mount_unit(cluster, export))
    assert fields["What"] == "mlchead:/data/scratch"
    assert fields["Where"] == "/scratch"
    assert fields["Options"] == "nosuid,nodev,hard,bg,noatime,rw"


def test_mount_unit_options_come_from_the_data():
    options = ["nosuid", "nodev", "soft", "timeo=50"]
    storage = {**group_data("all")["storage"], "mount_options": options}
    cluster = production_cluster(storage=storage)
    export = cluster.storage.exports[1]
    assert unit_fields(mount_unit(cluster, export))["Options"] == "nosuid,nodev,soft,timeo=50,rw"
