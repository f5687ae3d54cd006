"""The pure planner and drift: every case on hand-made BOMs, and real drift on fixture BOMs."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from pathlib import Path

from snakepit.cuda.aptsource import apt_files, update_command
from snakepit.cuda.drift import (
    EXTRA,
    MISSING,
    NOT_HELD,
    VERSION,
    compute_drift,
    drifted_hosts,
    host_drift_from_json,
    policy_names,
    render_json,
    render_table,
)
from snakepit.cuda.manifest import (
    CudaManifest,
    ManifestPackage,
    Metapackage,
    ReleaseMatch,
    Target,
    VendorSource,
    load_manifest,
)
from snakepit.cuda.plan import plan_changes, unavailable
from snakepit.parsers.apt import AptPolicy, AptSource, AptVersion
from snakepit.parsers.dpkg import Bom, DebPackage, parse_dpkg_list

REPO = Path(__file__).resolve().parents[2]
URL = "http://10.0.0.1:8750/cuda/repos/debian12/x86_64/"
VENDOR_LINE = "http://10.0.0.1:8750/cuda/repos/debian12/x86_64  Packages"
DEBIAN_LINE = "http://deb.debian.org/debian bookworm/main amd64 Packages"
SOURCE = VendorSource(
    name="nvidia-cuda",
    url=URL,
    suite="/",
    components=(),
    key_url=URL + "3bf863cc.pub",
    key_fingerprint="EB693B3035CD5710E231E123A4B469963BF863CC",
    keyring="/usr/share/keyrings/cuda-archive-keyring.gpg",
    release=ReleaseMatch("NVIDIA CUDA"),
    pin_priority=600,
)
WANTED = {
    "cuda-11-5:amd64": "11.5.1-1",
    "cuda-cudart-11-5:amd64": "11.5.117-1",
    "libnvidia-compute-495:amd64": "495.29.05-0ubuntu1",
    "cuda-toolkit-config-common:all": "11.5.117-1",
}


def manifest(wanted: dict[str, str] = WANTED) -> CudaManifest:
    packages = tuple(
        ManifestPackage(*key.split(":"), version) for key, version in sorted(wanted.items())
    )
    return CudaManifest(
        name="cuda-11-5",
        created=datetime(2022, 1, 10, tzinfo=UTC),
        metapackage=Metapackage("cuda-11-5", "11.5.1-1"),
        target=Target("debian", "12", "amd64"),
        source=SOURCE,
        packages=packages,
    )


def bom(entries: dict[str, tuple[str, str]]) -> Bom:
    """{"name:arch": (version, "ii"|"hi"|"iU"|"rc"...)} plus dpkg itself."""
    packages = [DebPackage("dpkg", "amd64", "1.21.23", "i", "i")]
    for key, (version, flags) in entries.items():
        name, arch = key.split(":")
        packages.append(DebPackage(name, arch, version, flags[0], flags[1], flags[2:]))
    return Bom(packages)


def in_sync(**changes: tuple[str, str]) -> Bom:
    entries = {key: (version, "hi") for key, version in WANTED.items()}
    entries.update({key.replace("__", ":"): value for key, value in changes.items()})
    return bom(entries)


def policy(name: str, *rows: tuple[str, str]) -> AptPolicy:
    """rows: (version, "vendor"|"debian")."""
    versions = tuple(
        AptVersion(
            version,
            False,
            (
                AptSource(
                    600 if origin == "vendor" else 500,
                    VENDOR_LINE if origin == "vendor" else DEBIAN_LINE,
                ),
            ),
        )
        for version, origin in rows
    )
    return AptPolicy(name, None, rows[0][0] if rows else None, versions)


def plan_for(host_bom: Bom, policies=None, remove_unlisted=False, wanted=WANTED):
    m = manifest(wanted)
    drift = compute_drift(m, host_bom, policies or {})
    return drift, plan_changes(drift, m, remove_unlisted)


# -- drift and plan -------------------------------------------------------------------------


def test_host_in_sync_has_an_empty_plan_and_no_commands():
    drift, plan = plan_for(in_sync())
    assert drift.in_sync
    assert plan.empty and plan.commands() == []
    assert plan.summary() == "cuda-11-5: all 4 packages at the manifest's versions and held"


def test_fresh_host_installs_everything_in_one_transaction_then_holds():
    drift, plan = plan_for(bom({}))
    assert [p.kinds for p in drift.packages] == [(MISSING,)] * 4
    assert [a.verb for a in plan.actions] == ["install"] * 4
    install, hold = plan.commands()
    words = shlex.split(install)
    assert words[:3] == ["DEBIAN_FRONTEND=noninteractive", "apt-get", "-y"]
    assert "--allow-downgrades" in words and "--purge" not in words
    assert words[words.index("--allow-downgrades") + 1 :] == [
        "cuda-11-5=11.5.1-1",
        "cuda-cudart-11-5=11.5.117-1",
        "cuda-toolkit-config-common=11.5.117-1",
        "libnvidia-compute-495=495.29.05-0ubuntu1",
    ]
    assert hold == (
        "apt-mark hold cuda-11-5 cuda-cudart-11-5 cuda-toolkit-config-common libnvidia-compute-495"
    )


def test_versions_compare_as_debian_versions_not_strings():
    # As strings "11.5.50-1" > "11.5.117-1"; as Debian versions it is older.
    drift, plan = plan_for(in_sync(**{"cuda-cudart-11-5__amd64": ("11.5.50-1", "hi")}))
    (package,) = drift.packages
    assert package.kinds == (VERSION,) and package.direction == "upgrade"
    assert [a.render() for a in plan.actions] == [
        "unhold    cuda-cudart-11-5 11.5.50-1  (to change it)",
        "upgrade   cuda-cudart-11-5 11.5.50-1 -> 11.5.117-1",
    ]
    unhold, install, _ = plan.commands()
    assert unhold == "apt-mark unhold cuda-cudart-11-5"
    # Every manifest package is named in the transaction, not only the one that changes.
    assert install.count("=") >= 4 + 4


def test_downgrade_of_an_unheld_newer_package():
    drift, plan = plan_for(in_sync(**{"cuda-cudart-11-5__amd64": ("11.5.120-1", "ii")}))
    (package,) = drift.packages
    assert package.kinds == (VERSION, NOT_HELD) and package.direction == "downgrade"
    assert package.describe() == "version (newer than the manifest), not-held"
    assert [a.render() for a in plan.actions] == [
        "downgrade cuda-cudart-11-5 11.5.120-1 -> 11.5.117-1"
    ]
    assert plan.summary() == "cuda-11-5: 1 to downgrade"
    assert not plan.commands()[0].startswith("apt-mark unhold")


def test_only_holds_missing_means_no_apt_get():
    _, plan = plan_for(in_sync(**{"cuda-11-5__amd64": ("11.5.1-1", "ii")}))
    assert [a.verb for a in plan.actions] == ["hold"]
    assert plan.commands() == [
        "apt-mark hold cuda-11-5 cuda-cudart-11-5 cuda-toolkit-config-common libnvidia-compute-495"
    ]


def test_broken_and_removed_packages():
    _, plan = plan_for(
        in_sync(
            **{
                "cuda-cudart-11-5__amd64": ("11.5.117-1", "iU"),
                "libnvidia-compute-495__amd64": ("495.29.05-0ubuntu1", "rc"),
            }
        )
    )
    assert [a.render() for a in plan.actions] == [
        "reinstall cuda-cudart-11-5 11.5.117-1 -> 11.5.117-1  (unpacked)",
        "install   libnvidia-compute-495 (none) -> 495.29.05-0ubuntu1",
    ]


def _extras():
    host = in_sync(
        **{
            "cuda-11-4__amd64": ("11.4.3-1", "hi"),
            "libnuma1__amd64": ("2.0.16-1", "ii"),
            "nvidia-utils-470__amd64": ("470.82.01-0ubuntu1", "ii"),
        }
    )
    policies = {
        "cuda-11-4": policy("cuda-11-4", ("11.4.3-1", "vendor")),
        "libnuma1": policy("libnuma1", ("2.0.16-1", "debian")),
        "nvidia-utils-470": policy("nvidia-utils-470", ("470.82.01-0ubuntu1", "vendor")),
    }
    return host, policies


def test_extra_vendor_packages_are_found_by_origin_and_kept_unheld_by_default():
    host, policies = _extras()
    drift, plan = plan_for(host, policies)
    assert [(p.name, p.kinds, p.held) for p in drift.packages] == [
        ("cuda-11-4", (EXTRA,), True),
        ("nvidia-utils-470", (EXTRA,), False),
    ]
    assert [a.render() for a in plan.actions] == [
        "unhold    cuda-11-4 11.4.3-1  (not in the manifest)"
    ]
    assert plan.kept == ("cuda-11-4:amd64", "nvidia-utils-470:amd64")
    assert plan.commands() == ["apt-mark unhold cuda-11-4"]


def test_remove_unlisted_removes_extras_in_the_same_transaction():
    host, policies = _extras()
    _, plan = plan_for(host, policies, remove_unlisted=True)
    assert [a.verb for a in plan.actions] == ["unhold", "remove", "remove"]
    unhold, install, _ = plan.commands()
    assert unhold == "apt-mark unhold cuda-11-4"
    words = shlex.split(install)
    assert "--purge" in words
    assert words[-2:] == ["cuda-11-4-", "nvidia-utils-470-"]
    assert "cuda-11-5=11.5.1-1" in words
    assert plan.render()[0] == "cuda-11-5: 2 to remove, 1 to unhold"


def test_foreign_architecture_is_qualified_for_apt():
    wanted = {**WANTED, "libnvidia-compute-495:i386": "495.29.05-0ubuntu1"}
    _, plan = plan_for(bom({}), wanted=wanted)
    install = plan.commands()[0]
    assert "libnvidia-compute-495:i386=495.29.05-0ubuntu1" in install
    assert "libnvidia-compute-495=495.29.05-0ubuntu1" in install
    host = bom({"libnvidia-compute-495:i386": ("1", "ii"), "bash:amd64": ("5", "ii")})
    assert policy_names(host, "amd64", ["x"]) == ["x", "bash", "dpkg", "libnvidia-compute-495:i386"]


def test_unavailable_names_each_missing_version_and_what_is_offered():
    m = manifest()
    policies = {
        "cuda-11-5": policy("cuda-11-5", ("11.5.1-1", "vendor")),
        # Offered, but only by Debian: not the vendor's build.
        "cuda-cudart-11-5": policy("cuda-cudart-11-5", ("11.5.117-1", "debian")),
        "libnvidia-compute-495": policy(
            "libnvidia-compute-495", ("495.46-0ubuntu1", "vendor"), ("495.29.05-0ubuntu1", "vendor")
        ),
    }
    missing = unavailable(m.packages, SOURCE, "amd64", policies)
    assert [item.render() for item in missing] == [
        "cuda-cudart-11-5=11.5.117-1 (the repository offers no version at all)",
        "cuda-toolkit-config-common=11.5.117-1 (the repository offers no version at all)",
    ]


# -- real BOMs: the December 2021 install against the production manifest -----------------


def test_real_drift_of_the_december_install_against_the_production_manifest():
    """The 2021-12 install got Ubuntu's driver build: the exact manifest flags it."""
    production = load_manifest(REPO / "manifests" / "cuda-11-5.yaml")
    december = parse_dpkg_list(
        (
            REPO / "tests/fixtures/dpkg-boms/ubuntu1804-cuda-11-5-20211207185021-final_bom.txt"
        ).read_text()
    )
    drift = compute_drift(production, december, {})
    by_name = {p.name: p for p in drift.packages}
    driver = by_name["nvidia-driver-495"]
    assert driver.kinds == (VERSION, NOT_HELD)
    assert (driver.found, driver.wanted) == ("495.44-0ubuntu0.18.04.1", "495.29.05-0ubuntu1")
    assert driver.direction == "downgrade"
    assert all(NOT_HELD in p.kinds for p in drift.packages)
    plan = plan_changes(drift, production)
    assert "downgrade nvidia-driver-495 495.44-0ubuntu0.18.04.1 -> 495.29.05-0ubuntu1" in [
        a.render() for a in plan.actions
    ]


# -- rendering ------------------------------------------------------------------------------


def test_table_and_json_rendering_round_trip():
    drifted, _ = plan_for(in_sync(**{"cuda-cudart-11-5__amd64": ("11.5.120-1", "ii")}))
    clean, _ = plan_for(in_sync())
    results = {"worker1": drifted, "worker2": clean, "worker3": "unreachable"}
    table = render_table(results).splitlines()
    assert table[0].split() == [
        "HOST",
        "MANIFEST",
        "PACKAGE",
        "ARCH",
        "WANTED",
        "INSTALLED",
        "DRIFT",
    ]
    assert table[1].split()[:6] == [
        "worker1",
        "cuda-11-5",
        "cuda-cudart-11-5",
        "amd64",
        "11.5.117-1",
        "11.5.120-1",
    ]
    assert table[1].endswith("version (newer than the manifest), not-held")
    assert "in sync: 4 packages at the manifest's versions and held" in table[2]
    assert table[3].endswith("not checked: unreachable")
    assert drifted_hosts(results) == ["worker1", "worker3"]
    data = json.loads(render_json(results))
    assert data["drifted"] == ["worker1", "worker3"]
    assert data["hosts"]["worker2"]["in_sync"] is True
    assert host_drift_from_json(data["hosts"]["worker1"]) == drifted


def test_apt_files_render_signed_by_pin_and_blacklist():
    listing, prefs, unattended = apt_files(SOURCE, "amd64")
    assert listing.path == "/etc/apt/sources.list.d/nvidia-cuda.list"
    assert listing.content.splitlines()[-1] == (
        "deb [arch=amd64 signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] " + URL + " /"
    )
    assert "Pin: release l=NVIDIA CUDA\nPin-Priority: 600\n" in prefs.content
    for pattern in ("nvidia-", "libnvidia-", "cuda-"):
        assert f'"{pattern}";' in unattended.content
    assert "Dir::Etc::SourceList=/etc/apt/sources.list.d/nvidia-cuda.list" in update_command(SOURCE)
