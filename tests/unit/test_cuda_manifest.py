"""The manifest schema: the production lock file, round trips, and errors naming file+field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from snakepit.cuda.aptsource import apt_files
from snakepit.cuda.manifest import (
    ManifestError,
    ManifestPackage,
    ReleaseMatch,
    dump_manifest,
    dump_source_file,
    for_release,
    load_manifest,
    load_source_file,
    one_per_release,
    render_manifest_docs,
)
from snakepit.parsers.dpkg import parse_dpkg_list

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = REPO / "manifests" / "cuda-11-5.yaml"
SOURCE_FILE = REPO / "manifests" / "sources" / "nvidia-cuda-ubuntu1804.yaml"
EXTERNAL = (
    REPO / "tests/fixtures/dpkg-boms/ubuntu1804-cuda-11-5-20220110152810-external_packages.txt"
)


def test_production_manifest_is_the_fixture_vendor_set():
    manifest = load_manifest(PRODUCTION)
    vendor = parse_dpkg_list(EXTERNAL.read_text())
    assert len(manifest.packages) == len(vendor) == 77
    assert {p.key: p.version for p in manifest.packages} == {
        key: package.version for key, package in vendor.items()
    }
    assert manifest.metapackage.name == "cuda-11-5"
    assert manifest.metapackage.version == "11.5.1-1"
    # What a name grep for cuda/nvidia missed is in, by origin.
    names = {p.name for p in manifest.packages}
    assert {"libcublas-11-5", "libnpp-11-5", "gds-tools-11-5", "nsight-systems-2021.3.3"} <= names
    by_key = manifest.by_key()
    assert by_key["nvidia-driver-495:amd64"].version == "495.29.05-0ubuntu1"
    assert by_key["libnvidia-compute-495:amd64"].arch == "amd64"
    assert by_key["cuda-toolkit-config-common:all"].version == "11.5.117-1"


def test_the_packages_that_bring_the_driver_are_known_by_name():
    manifest = load_manifest(PRODUCTION)
    names = {p.name for p in manifest.driver_packages}
    assert {"cuda-drivers", "cuda-drivers-495", "nvidia-driver-495"} <= names
    assert "nvidia-kernel-common-495" in names
    assert not names & {"libnvidia-compute-495", "cuda-11-5", "nvidia-utils-495"}


def test_production_manifest_points_at_nvidia():
    manifest = load_manifest(PRODUCTION)
    source = manifest.source
    assert (
        source.url == "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu1804/x86_64/"
    )
    assert source.key_url.endswith("/3bf863cc.pub")
    assert source.key_fingerprint == "EB693B3035CD5710E231E123A4B469963BF863CC"
    assert source.is_flat and source.components == ()
    assert source.pin_priority == 600
    assert source.release.pin() == "release l=NVIDIA CUDA"
    assert (manifest.target.distro, manifest.target.release) == ("ubuntu", "18.04")
    before, after = manifest.bom_paths()
    assert len(parse_dpkg_list(before.read_text())) < len(parse_dpkg_list(after.read_text()))
    assert load_source_file(SOURCE_FILE) == (source, manifest.target)


def test_dump_then_load_gives_the_same_manifest(tmp_path):
    manifest = load_manifest(PRODUCTION)
    for name in ("cuda-11-5.before.txt", "cuda-11-5.after.txt"):
        shutil.copy(PRODUCTION.parent / name, tmp_path / name)
    copy = tmp_path / "cuda-11-5.yaml"
    copy.write_text(dump_manifest(manifest))
    assert load_manifest(copy) == manifest
    assert dump_manifest(load_manifest(copy)) == copy.read_text()


def test_source_file_round_trip(tmp_path):
    source, target = load_source_file(SOURCE_FILE)
    path = tmp_path / "source.yaml"
    path.write_text(dump_source_file(source, target, "a comment"))
    assert load_source_file(path) == (source, target)


def test_source_offers_matches_apt_cache_policy_lines():
    source, _ = load_source_file(SOURCE_FILE)
    url = "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu1804/x86_64"
    assert source.offers(f"{url}  Packages")
    assert not source.offers("http://archive.ubuntu.com/ubuntu bionic-updates/main amd64 Packages")
    assert not source.offers("/var/lib/dpkg/status")


DEBIAN12 = REPO / "manifests" / "sources" / "debian12-nvidia.yaml"


def test_distribution_as_vendor_offers_only_its_components_and_suites():
    source, _ = load_source_file(DEBIAN12)
    assert source.offers("http://deb.debian.org/debian bookworm/non-free amd64 Packages")
    assert source.offers("http://deb.debian.org/debian bookworm/contrib amd64 Packages")
    assert source.offers(
        "http://deb.debian.org/debian-security bookworm-security/non-free amd64 Packages"
    )
    assert source.offers("http://deb.debian.org/debian bookworm-updates/non-free amd64 Packages")
    # main is Debian's ordinary packages (what DKMS pulls in), not the vendor's
    assert not source.offers("http://deb.debian.org/debian bookworm/main amd64 Packages")
    assert not source.offers(
        "http://deb.debian.org/debian-security bookworm-security/main amd64 Packages"
    )
    # another suite of the same URL (backports) is not listed
    assert not source.offers(
        "http://deb.debian.org/debian bookworm-backports/non-free amd64 Packages"
    )
    assert not source.offers("/var/lib/dpkg/status")


def test_distribution_as_vendor_apt_files_one_line_per_suite_and_no_pin():
    source, _ = load_source_file(DEBIAN12)
    files = apt_files(source, "amd64")
    assert [f.path for f in files] == [
        "/etc/apt/sources.list.d/debian-nvidia.list",
        "/etc/apt/apt.conf.d/51debian-nvidia-unattended-upgrades",
    ]
    options = "[arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
    components = "contrib non-free non-free-firmware"
    assert files[0].content.splitlines()[1:] == [
        f"deb {options} http://deb.debian.org/debian bookworm {components}",
        f"deb {options} http://deb.debian.org/debian bookworm-updates {components}",
        f"deb {options} http://deb.debian.org/debian-security bookworm-security {components}",
    ]


def test_a_pin_needs_both_release_and_priority(tmp_path):
    data = yaml.safe_load(DEBIAN12.read_text())
    data["source"]["pin_priority"] = 600
    path = tmp_path / "source.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ManifestError, match=r"source\.pin_priority.*exactly when release is"):
        load_source_file(path)


DEBIAN13_MANIFEST = REPO / "manifests" / "nvidia-550-debian13.yaml"
DEBIAN12_MANIFEST = REPO / "manifests" / "nvidia-535-debian12.yaml"


def test_the_workers_release_chooses_its_manifest():
    bookworm, trixie = load_manifest(DEBIAN12_MANIFEST), load_manifest(DEBIAN13_MANIFEST)
    both = (bookworm, trixie)
    assert for_release(both, "debian", "12") is bookworm
    assert for_release(both, "debian", "13") is trixie
    assert for_release(both, "debian", "14") is None
    assert for_release(both, "ubuntu", "12") is None
    assert one_per_release(both) is None
    assert one_per_release((bookworm, bookworm)) == (
        "nvidia-535-debian12 and nvidia-535-debian12 are both for debian 12 amd64: "
        "list one per release"
    )


def test_debian_production_manifests_are_the_driver_stack_from_debian():
    for path, release, branch in (
        (DEBIAN12_MANIFEST, "12", "535."),
        (DEBIAN13_MANIFEST, "13", "550."),
    ):
        manifest = load_manifest(path)
        versions = {p.name: p.version for p in manifest.packages}
        assert manifest.target.describe() == f"debian {release} amd64"
        assert manifest.source.key_url is None and manifest.source.release is None
        for name in ("nvidia-smi", "libcuda1", "nvidia-kernel-dkms", "nvidia-persistenced"):
            assert versions[name].startswith(branch), (name, versions[name])
        # DKMS's compiler comes from main: Debian's ordinary packages, not the vendor's
        assert not {"dkms", "gcc", "make"} & set(versions)


def test_release_pin_with_origin():
    assert ReleaseMatch("NVIDIA CUDA", "NVIDIA").pin() == "release o=NVIDIA,l=NVIDIA CUDA"


# -- errors name the file and the field ---------------------------------------------------


def _broken(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(PRODUCTION.read_text())
    edit(data)
    for name in ("cuda-11-5.before.txt", "cuda-11-5.after.txt"):
        shutil.copy(PRODUCTION.parent / name, tmp_path / name)
    path = tmp_path / "cuda-11-5.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _set(*keys, value):
    def edit(data):
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return edit


def _delete(*keys):
    def edit(data):
        node = data
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return edit


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        (_set("schema", value=2), "schema", "must be 1"),
        (_delete("name"), "name", "is missing"),
        (_set("name", value="Bad Name"), "name", "does not match"),
        (_set("created", value="yesterday"), "created", "not an ISO 8601 time"),
        (_set("created", value="2022-01-10T15:28:10"), "created", "time zone"),
        (_set("target", "release", value=18.04), "target.release", "quoted string"),
        (_set("target", "architecture", value=""), "target.architecture", "non-empty"),
        (_set("source", "url", value="ftp://x/"), "source.url", "not an http(s) URL"),
        (_set("source", "key_fingerprint", value="3BF863CC"), "source.key_fingerprint", "40-digit"),
        (
            _set("source", "keyring", value="cuda.gpg"),
            "source.keyring",
            "under /usr/share/keyrings/",
        ),
        (
            _set("source", "keyring", value="/etc/apt/trusted.gpg.d/cuda.gpg"),
            "source.keyring",
            "must be a .gpg file under /usr/share/keyrings/ or /etc/apt/keyrings/",
        ),
        (
            _set("source", "suite", value="stable\ndeb [trusted=yes] http://evil/ ./"),
            "source.suite",
            "is not one apt word",
        ),
        (_set("source", "pin_priority", value=1001), "source.pin_priority", "outside 501..999"),
        (
            _set("source", "pin_priority", value="600"),
            "source.pin_priority",
            "expected int, got str",
        ),
        (_set("source", "components", value=["main"]), "source.components", "flat"),
        (_delete("source", "release", "label"), "source.release.label", "is missing"),
        (_set("source", "typo", value=1), "source.typo", "unknown key"),
        (_set("packages", value=[]), "packages", "non-empty list"),
        (
            _set("packages", 3, "version", value="x.y"),
            "packages[3].version",
            "not a Debian version",
        ),
        (_set("packages", 3, "version", value=11.5), "packages[3].version", "quoted string"),
        (_set("packages", 4, "name", value="Cuda_Thing"), "packages[4].name", "does not match"),
        (
            _set(
                "packages", 5, value={"name": "cuda-11-5", "arch": "amd64", "version": "11.5.1-1"}
            ),
            "packages[5].name",
            "listed twice",
        ),
        (_delete("packages", 6, "arch"), "packages[6].arch", "is missing"),
        (_set("metapackage", "version", value="11.5.0-1"), "metapackage", "not in packages"),
        (_set("boms", "after", value="gone.txt"), "boms.after", "not a file"),
    ],
)
def test_bad_field_is_named_with_the_file(tmp_path, edit, field, problem):
    path = _broken(tmp_path, edit)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.field == field
    assert caught.value.path == str(path)
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_unreadable_and_non_yaml_files(tmp_path):
    with pytest.raises(ManifestError, match="cannot be read"):
        load_manifest(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("packages: [\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ManifestError, match="must be a mapping"):
        load_manifest(bad)


def test_unknown_key_names_the_nearest_valid_one(tmp_path):
    def misspell(data):
        data["packages"][3]["verison"] = data["packages"][3].pop("version")

    path = _broken(tmp_path, misspell)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(caught.value).startswith(
        f"{path}: packages[3].verison: unknown key (did you mean 'version'?)"
    )
    assert caught.value.field == "packages[3].verison"


def test_source_file_unknown_key_names_the_nearest_valid_one(tmp_path):
    data = yaml.safe_load(SOURCE_FILE.read_text())
    data["source"]["pin_prority"] = data["source"].pop("pin_priority")
    path = tmp_path / "source.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ManifestError) as caught:
        load_source_file(path)
    assert str(caught.value).startswith(
        f"{path}: source.pin_prority: unknown key (did you mean 'pin_priority'?)"
    )


def test_repeated_yaml_key_is_refused_with_the_file_and_the_key(tmp_path):
    for name in ("cuda-11-5.before.txt", "cuda-11-5.after.txt"):
        shutil.copy(PRODUCTION.parent / name, tmp_path / name)
    text = PRODUCTION.read_text().replace("  suite: /\n", "  suite: /\n  suite: main\n", 1)
    path = tmp_path / "cuda-11-5.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.field == "source.suite"
    assert str(caught.value).startswith(f"{path}: source.suite: is a duplicate key (line ")


def test_repeated_key_in_a_flow_mapping_is_refused(tmp_path):
    for name in ("cuda-11-5.before.txt", "cuda-11-5.after.txt"):
        shutil.copy(PRODUCTION.parent / name, tmp_path / name)
    text = PRODUCTION.read_text().replace("arch: amd64,", "arch: amd64, arch: i386,", 1)
    path = tmp_path / "cuda-11-5.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=r"packages\[0\]\.arch: is a duplicate key"):
        load_manifest(path)


def test_missing_schema_and_a_python_built_manifest_are_checked_too(tmp_path):
    path = _broken(tmp_path, _delete("schema"))
    with pytest.raises(ManifestError, match=r": schema: is missing$"):
        load_manifest(path)
    with pytest.raises(ValueError, match="not a Debian version"):
        ManifestPackage("cuda-11-5", "amd64", "x.y")


def test_manifest_docs_list_every_key():
    docs = render_manifest_docs()
    for key in ("pin_priority", "key_fingerprint", "packages", "boms", "origin", "schema: 1"):
        assert key in docs
    assert "`ReleaseMatch`" in docs
