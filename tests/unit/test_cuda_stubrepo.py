"""The vendor-like stub repository (real dpkg-deb, apt-ftparchive, gpg) and the OpenPGP
parsing that installs and reads apt keyrings without gpg on the hosts."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from debian.debian_support import Version

from facts.cuda import KeyringFingerprints
from snakepit.cuda.openpgp import (
    OpenPGPError,
    dearmor,
    normalize_fingerprint,
    primary_fingerprints,
)
from snakepit.parsers.dpkg import parse_dpkg_list
from snakepit.parsers.nvidia_smi import parse_output, parse_xml
from snakepit.slurm import gres_type
from tools.sandbox.stubrepo import (
    INITIAL,
    NEWER,
    NO_DRIVER_MESSAGE,
    RELEASES,
    STUB_GPU_TYPE,
    StubRepo,
    release_packages,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE_VENDOR = (
    REPO / "tests/fixtures/dpkg-boms/ubuntu1804-cuda-11-5-20220110152810-external_packages.txt"
)


@pytest.fixture(scope="module")
def stub():
    with StubRepo() as repo:
        repo.build()
        yield repo


def test_11_5_1_reproduces_the_fixture_names_and_versions():
    stubs = {p.name: p for p in release_packages("11.5.1")}
    real = parse_dpkg_list(FIXTURE_VENDOR.read_text())
    shared = [name for name in stubs if real.by_name(name)]
    assert len(shared) >= 17
    for name in shared:
        assert stubs[name].version == real.by_name(name)[0].version, name
    assert stubs["libnvidia-compute-495"].multi_arch == "same"


def test_metapackages_float_through_lower_bounds():
    for version in (*INITIAL, NEWER):
        packages = {p.name: p for p in release_packages(version)}
        minor = RELEASES[version].minor
        depends = packages[f"cuda-{minor}"].depends
        assert all(" (>= " in dep for dep in depends), depends
        assert f"cuda-drivers (>= {RELEASES[version].driver.version})" in (
            packages[f"cuda-runtime-{minor}"].depends
        )
    newest = max((v for v in RELEASES if v.startswith("11.5")), key=Version)
    assert newest == NEWER and NEWER not in INITIAL
    assert sum(v.startswith("11.4") for v in INITIAL) >= 2
    assert sum(v.startswith("11.5") for v in INITIAL) >= 2


def test_every_stub_says_so_and_nvidia_smi_prints_a_real_document():
    packages = release_packages("11.5.1")
    assert all("(test stub)" in p.control() and "TEST STUB" in p.control() for p in packages)
    utils = next(p for p in packages if p.name == "nvidia-utils-495")
    files = {path: content for path, content, _ in utils.files}
    assert "TEST STUB" in files["usr/bin/nvidia-smi"]
    report = parse_xml(files["usr/share/nvidia-utils-495-stub/nvidia-smi-q-x.xml"])
    assert report.driver_version == "495.29.05" and report.cuda_version == "11.5"
    assert [gpu.name for gpu in report.gpus] == ["GeForce RTX 2080 Ti"] * 2
    # The sandbox's partition declares this model, so the stub driver's GPUs match it.
    assert {gres_type(gpu.name) for gpu in report.gpus} == {STUB_GPU_TYPE}


def test_built_repository_is_indexed_and_signed(stub, tmp_path):
    packages = (stub.repo / "Packages").read_text()
    assert "Package: cuda-11-5\nArchitecture: amd64\nVersion: 11.5.1-1\n" in packages
    assert "Filename: ./cuda-11-5_11.5.1-1_amd64.deb" in packages
    assert 20 <= stub.package_count() <= 120
    release = (stub.repo / "Release").read_text()
    assert "Label: NVIDIA CUDA" in release and "Origin: NVIDIA" in release
    keyring = tmp_path / "key.gpg"
    keyring.write_bytes(dearmor((stub.repo / stub.key_filename).read_bytes()))
    for check in (["InRelease"], ["Release.gpg", "Release"]):
        done = subprocess.run(
            ["gpgv", "--keyring", str(keyring), *check], cwd=stub.repo, capture_output=True
        )
        assert done.returncode == 0, done.stderr


def test_publish_adds_a_newer_release_and_resigns(stub):
    before = (stub.repo / "InRelease").read_text()
    stub.publish(NEWER)
    packages = (stub.repo / "Packages").read_text()
    assert "Package: cuda-11-5\nArchitecture: amd64\nVersion: 11.5.2-1\n" in packages
    assert (stub.repo / "InRelease").read_text() != before


def test_fingerprints_match_gpg_and_survive_the_fact(stub):
    armored = (stub.repo / stub.key_filename).read_bytes()
    assert primary_fingerprints(armored) == (stub.fingerprint,)
    binary = dearmor(armored)
    assert primary_fingerprints(binary) == (stub.fingerprint,)
    fact = KeyringFingerprints()
    assert fact.process([base64.b64encode(binary).decode()]) == (stub.fingerprint,)
    assert fact.process([]) is None
    assert fact.process(["bm90IGEga2V5"]) == ()  # "not a key"


def test_dearmor_rejects_corrupt_blocks(stub):
    armored = (stub.repo / stub.key_filename).read_text().splitlines()
    crc = next(i for i, line in enumerate(armored) if line.startswith("="))
    armored[crc] = "=AAAA"
    with pytest.raises(OpenPGPError, match="CRC24"):
        dearmor("\n".join(armored).encode())
    with pytest.raises(OpenPGPError, match="not an ASCII-armored"):
        dearmor(b"hello")


def test_normalize_fingerprint():
    spaced = "EB69 3B30 35CD 5710 E231  E123 A4B4 6996 3BF8 63CC"
    assert normalize_fingerprint(spaced) == "EB693B3035CD5710E231E123A4B469963BF863CC"
    assert normalize_fingerprint("0x" + spaced.lower()) == normalize_fingerprint(spaced)
    with pytest.raises(OpenPGPError):
        normalize_fingerprint("3BF863CC")


def test_the_stub_driver_answers_once_loaded_and_loading_makes_the_device_files(tmp_path):
    packages = {p.name: p for p in release_packages("11.5.1")}
    smi = dict((path, text) for path, text, _ in packages["nvidia-utils-495"].files)
    modprobe = dict((path, text) for path, text, _ in packages["nvidia-modprobe"].files)
    script = smi["usr/bin/nvidia-smi"]
    # Before the "module load": the real no-driver answer, which the fact reads as such.
    assert script.index("/dev/nvidia[0-9]*") < script.index('case " $* " in')
    assert parse_output([NO_DRIVER_MESSAGE, "@@snakepit-nvidia-smi-exit=9"]).state == "no-driver"
    assert 'mknod -m 0666 "/dev/nvidia$minor" c 195 "$minor"' in modprobe["usr/bin/nvidia-modprobe"]
    # The argument parsing of the stub modprobe, run for real with mknod replaced by echo.
    fake = tmp_path / "nvidia-modprobe"
    fake.write_text(modprobe["usr/bin/nvidia-modprobe"].replace("mknod", "echo mknod"))
    done = subprocess.run(
        ["sh", str(fake), "-c", "0", "-c=1", "-u", "-c", "x;rm"],
        capture_output=True,
        text=True,
        check=True,
    )
    made = [line.split()[3] for line in done.stdout.splitlines()]
    assert made == ["/dev/nvidia0", "/dev/nvidia1"]
