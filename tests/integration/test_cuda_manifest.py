"""The CUDA manifests on real hosts: create, install, no-op, upgrade/downgrade, drift, errors.

Real apt and dpkg on the sandbox's Debian 12 containers (reached over SSH), installing from
the vendor-like stub repository (``tools.sandbox.stubrepo``), which is served from this
process on the sandbox network's gateway address. The sandbox is this module's own
(``cuda``), so the Slurm tests' hosts never see a CUDA package.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from snakepit.cuda.drift import compute_drift, policy_names
from snakepit.cuda.manifest import CudaManifest, dump_source_file, load_manifest
from snakepit.parsers.apt import parse_apt_policy, parse_showhold
from snakepit.parsers.dpkg import DPKG_QUERY_FORMAT, parse_dpkg_list, parse_dpkg_query
from tests.integration.pyinfra_run import REPO_ROOT, run_pyinfra, running_sandbox
from tools.sandbox.stubrepo import (
    CUDNN_DEB,
    CUDNN_KEYRING,
    CUDNN_VERSION,
    NEWER,
    TARGET,
    StubRepo,
)

pytestmark = pytest.mark.docker

SANDBOX = "cuda"
APT_LOGS = "cat /var/log/apt/history.log /var/log/dpkg.log 2>/dev/null | md5sum"


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox():
    yield from running_sandbox(SANDBOX, workers=2)


def serve_stub(stub: StubRepo, sandbox, directory: Path) -> None:
    """Build the stub repository and serve it where the sandbox's hosts (and the
    controller) reach it: the sandbox network's gateway; its source file for `create` is
    written in ``directory`` (``stub.source_file``)."""
    gateway = sandbox.client.networks.get(sandbox.network_name).attrs["IPAM"]["Config"][0][
        "Gateway"
    ]
    stub.build()
    stub.serve(gateway)
    stub.source_file = directory / "source.yaml"
    stub.source_file.write_text(dump_source_file(stub.source(), TARGET))


@pytest.fixture(scope="module")
def repo(sandbox, tmp_path_factory):
    """The stub repository, served where the sandbox's hosts (and the controller) reach it."""
    with StubRepo() as stub:
        serve_stub(stub, sandbox, tmp_path_factory.mktemp("stub"))
        yield stub


def cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.cuda", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def create(repo, sandbox, out: Path, metapackage: str, *also: str) -> CudaManifest:
    args = ["create", metapackage, "--source", str(repo.source_file), "--out", str(out)]
    args += ["--network", sandbox.network_name]
    if also:
        args += ["--also", *also]
    done = cli(*args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return load_manifest(out)


@pytest.fixture(scope="module")
def manifests(repo, sandbox, tmp_path_factory):
    """cuda-11-5 and cuda-11-4 (on the 470 driver branch), created side by side while the
    repository's newest point releases are 11.5.1 and 11.4.3; then it gains 11.5.2."""
    out = tmp_path_factory.mktemp("manifests")
    with ThreadPoolExecutor(max_workers=2) as pool:
        cuda_11_5 = pool.submit(create, repo, sandbox, out / "cuda-11-5.yaml", "cuda-11-5")
        cuda_11_4 = pool.submit(
            create, repo, sandbox, out / "cuda-11-4.yaml", "cuda-11-4", "cuda-drivers=470.82.01-1"
        )
        made = {"cuda-11-5": cuda_11_5.result(), "cuda-11-4": cuda_11_4.result()}
    repo.publish(NEWER)
    return made


def converge(sandbox, host: str, manifest: Path | str, *, remove_unlisted=None, check=True):
    """Run deploys/tools/cuda.py on one host; return the result and its wall time.
    ``remove_unlisted`` None: the data's default."""
    started = time.monotonic()
    data = ["--data", f"cuda_manifest={manifest}"]
    if remove_unlisted is not None:
        data += ["--data", f"cuda_remove_unlisted={'true' if remove_unlisted else 'false'}"]
    result = run_pyinfra(
        sandbox.inventory_path, "deploys/tools/cuda.py", "-y", "--limit", host, *data, check=check
    )
    return result, time.monotonic() - started


def changed_operations(result) -> list[str]:
    return [op["name"] for op in result.json["results"]["operations"] if op["success"]]


def host_drift(sandbox, host: str, manifest: CudaManifest):
    """The drift as seen by reading dpkg and apt directly (not through the pyinfra facts)."""
    rc, listing = sandbox.exec(host, f"dpkg-query -W -f='{DPKG_QUERY_FORMAT}'")
    assert rc == 0, listing
    bom = parse_dpkg_query(listing)
    names = " ".join(policy_names(bom, manifest.target.architecture, manifest.apt_names()))
    rc, policy = sandbox.exec(host, f"LC_ALL=C apt-cache policy {names}")
    assert rc == 0, policy
    return compute_drift(manifest, bom, parse_apt_policy(policy))


def assert_exactly(sandbox, host: str, manifest: CudaManifest) -> None:
    drift = host_drift(sandbox, host, manifest)
    assert drift.in_sync, [f"{p.key} {p.describe()}" for p in drift.packages]
    rc, held = sandbox.exec(host, "apt-mark showhold")
    assert {p.name for p in manifest.packages} <= parse_showhold(held)
    rc, audit = sandbox.exec(host, "dpkg --audit")
    assert rc == 0 and audit.strip() == "", audit
    rc, smi = sandbox.exec(host, "nvidia-smi -q -x")
    assert rc == 0 and "<driver_version>" in smi


# -- a: create pins what was current, install reproduces it ---------------------------------


def test_create_pins_the_set_current_when_it_ran(manifests, repo, sandbox, tmp_path):
    cuda_11_5 = manifests["cuda-11-5"]
    versions = {p.name: p.version for p in cuda_11_5.packages}
    assert cuda_11_5.metapackage.version == "11.5.1-1"
    assert versions["cuda-cudart-11-5"] == "11.5.117-1"
    assert versions["cuda-drivers"] == "495.29.05-1"
    # Vendor packages whatever their names; the Debian library they pull in is not one.
    assert {"libcublas-11-5", "libnpp-11-5", "gds-tools-11-5", "nsight-compute-2021.3.1"} <= set(
        versions
    )
    assert "libnuma1" not in versions
    assert len(cuda_11_5.packages) == 24
    before, after = (parse_dpkg_list(path.read_text()) for path in cuda_11_5.bom_paths())
    assert not before.by_name("cuda-11-5") and after.by_name("libnuma1")
    assert manifests["cuda-11-4"].by_key()["cuda-drivers:amd64"].version == "470.82.01-1"

    # The repository has since gained 11.5.2: a plain install floats there now...
    floating = create(repo, sandbox, tmp_path / "floating.yaml", "cuda-11-5")
    assert floating.metapackage.version == "11.5.2-1"
    assert floating.by_key()["cuda-cudart-11-5:amd64"].version == "11.5.120-1"


def test_install_reproduces_the_pinned_set_on_a_fresh_worker(manifests, sandbox):
    manifest = manifests["cuda-11-5"]
    result, _ = converge(sandbox, "worker1", manifest.path)
    assert changed_operations(result)
    # ...but the manifest still gets exactly what was current when it was made.
    assert_exactly(sandbox, "worker1", manifest)


# -- b: a second run changes nothing and calls no apt ---------------------------------------


def test_second_run_changes_nothing_and_runs_no_apt(manifests, sandbox, record_property):
    manifest = manifests["cuda-11-5"]
    logs_before = sandbox.exec("worker1", APT_LOGS)[1]
    result, seconds = converge(sandbox, "worker1", manifest.path)
    results = result.json["results"]
    assert changed_operations(result) == []
    assert results["totals"]["success"] == 0 and results["totals"]["error"] == 0
    # "No change" means pyinfra executed no command at all for the operation: no apt.
    assert all(op["no_change"] == ["worker1"] for op in results["operations"])
    assert sandbox.exec("worker1", APT_LOGS)[1] == logs_before
    record_property("noop_install_seconds", round(seconds, 1))
    print(f"\nno-op install check on a converged worker: {seconds:.1f}s")


# -- c: upgrade 11-4 -> 11-5 and back, exactly, held, dpkg clean ----------------------------


def drift_status(sandbox, host: str, manifest: CudaManifest) -> subprocess.CompletedProcess:
    return cli(
        "drift", str(sandbox.inventory_path), "--manifest", str(manifest.path), "--limit", host
    )


def test_upgrade_then_downgrade_between_manifests(manifests, sandbox):
    cuda_11_4, cuda_11_5 = manifests["cuda-11-4"], manifests["cuda-11-5"]
    converge(sandbox, "worker2", cuda_11_4.path)
    assert_exactly(sandbox, "worker2", cuda_11_4)

    # A switch with the data's defaults is complete: the old manifest's packages are gone,
    # and drift agrees with the converge.
    converge(sandbox, "worker2", cuda_11_5.path)
    assert_exactly(sandbox, "worker2", cuda_11_5)
    assert drift_status(sandbox, "worker2", cuda_11_5).returncode == 0

    # Keeping them is a choice of the data; the converge then says what drift will say.
    result, _ = converge(sandbox, "worker2", cuda_11_4.path, remove_unlisted=False)
    assert changed_operations(result)
    assert "not in the manifest left installed" in result.stderr + result.stdout
    table = drift_status(sandbox, "worker2", cuda_11_4)
    # (apt itself removes the 495 driver packages that conflict with 470's; the rest stay)
    assert table.returncode == 1 and "extra" in table.stdout, table.stdout

    result, _ = converge(sandbox, "worker2", cuda_11_4.path)
    assert changed_operations(result)
    assert_exactly(sandbox, "worker2", cuda_11_4)
    assert drift_status(sandbox, "worker2", cuda_11_4).returncode == 0


# -- d: drift by hand is reported, then corrected --------------------------------------------


def test_drift_is_reported_then_corrected(manifests, sandbox):
    manifest = manifests["cuda-11-5"]
    converge(sandbox, "worker1", manifest.path)
    config = (
        "cuda-toolkit-11-5-config-common cuda-toolkit-11-config-common cuda-toolkit-config-common"
    )
    rc, out = sandbox.exec(
        "worker1",
        f"apt-mark unhold cuda-cudart-11-5 libnpp-11-5 {config} >/dev/null && "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q cuda-cudart-11-5=11.5.120-1 "
        + " ".join(f"{name}=11.5.120-1" for name in config.split())
        + " && apt-mark hold cuda-cudart-11-5",
    )
    assert rc == 0, out

    args = ["drift", str(sandbox.inventory_path), "--manifest", str(manifest.path)]
    table = cli(*args, "--limit", "worker1")
    assert table.returncode == 1, table.stdout + table.stderr
    assert "cuda-cudart-11-5" in table.stdout and "libnpp-11-5" in table.stdout
    report = json.loads(cli(*args, "--limit", "worker1", "--json").stdout)
    drift = {d["package"]: d for d in report["hosts"]["worker1"]["drift"]}
    assert report["drifted"] == ["worker1"]
    assert drift["cuda-cudart-11-5"]["kinds"] == ["version"]
    assert drift["cuda-cudart-11-5"]["installed"] == "11.5.120-1"
    assert drift["cuda-cudart-11-5"]["direction"] == "downgrade"
    assert drift["libnpp-11-5"]["kinds"] == ["not-held"]

    converge(sandbox, "worker1", manifest.path)
    assert cli(*args, "--limit", "worker1").returncode == 0
    assert_exactly(sandbox, "worker1", manifest)


# -- e: a version the repository does not offer ---------------------------------------------


def test_unavailable_version_fails_before_anything_changes(manifests, sandbox, tmp_path):
    manifest = manifests["cuda-11-5"]
    text = manifest.path.read_text().replace(
        "{name: cuda-nvcc-11-5, arch: amd64, version: 11.5.119-1}",
        "{name: cuda-nvcc-11-5, arch: amd64, version: 11.5.999-1}",
    )
    bad = manifest.path.parent / "cuda-11-5-bad.yaml"
    bad.write_text(text.replace("boms: {", "# boms: {"))
    bom_before = sandbox.exec("worker1", f"dpkg-query -W -f='{DPKG_QUERY_FORMAT}'")[1]
    logs_before = sandbox.exec("worker1", APT_LOGS)[1]

    result, _ = converge(sandbox, "worker1", bad, check=False)
    assert result.returncode != 0
    assert "does not offer cuda-nvcc-11-5=11.5.999-1" in result.stderr
    assert sandbox.exec("worker1", f"dpkg-query -W -f='{DPKG_QUERY_FORMAT}'")[1] == bom_before
    assert sandbox.exec("worker1", APT_LOGS)[1] == logs_before


def test_manifest_for_another_distro_is_refused_before_anything_changes(sandbox):
    logs_before = sandbox.exec("worker1", APT_LOGS)[1]
    result, _ = converge(sandbox, "worker1", "manifests/cuda-11-5.yaml", check=False)
    assert result.returncode != 0
    assert "manifest cuda-11-5 is for ubuntu 18.04 amd64; worker1 is debian 12 amd64" in (
        result.stderr
    )
    assert sandbox.exec("worker1", APT_LOGS)[1] == logs_before


# Production's manifest (Debian 12's own NVIDIA driver, from deb.debian.org) is installed
# through the head's proxy on a converged cluster: tests/integration/test_fleet.py.


# -- b: cuDNN from a local-repository .deb on shared storage ---------------------------------

CUDNN_DEB_ON_HOSTS = f"/srv/shared/relops_data/{CUDNN_DEB}"


def test_cudnn_manifest_from_a_local_repository(
    repo, manifests, sandbox, tmp_path, record_property
):
    """The Puppet project's cuDNN pin, from NVIDIA's local-repository .deb kept on shared
    storage: create makes the manifest, the worker deploy installs it exactly and holds it
    beside its CUDA manifest, drift is reported and corrected."""
    deb = repo.build_local_repo(tmp_path / "shared")
    source_file = tmp_path / "cudnn-source.yaml"
    source_file.write_text(dump_source_file(repo.local_source(CUDNN_DEB_ON_HOSTS), TARGET))
    out = tmp_path / "cudnn-8.yaml"
    done = cli(
        "create", "libcudnn8-samples", "--source", str(source_file), "--out", str(out),
        "--local-repo-deb", str(deb), "--network", sandbox.network_name,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cudnn = load_manifest(out)
    assert {(p.name, p.version) for p in cudnn.packages} == {
        (name, CUDNN_VERSION) for name in ("libcudnn8", "libcudnn8-dev", "libcudnn8-samples")
    }

    # The worker keeps its CUDA manifest; the .deb lies on its shared storage.
    cuda_11_5 = manifests["cuda-11-5"]
    container = sandbox.client.containers.get(sandbox.container_name("worker1"))
    subprocess.run(["docker", "exec", container.name, "mkdir", "-p", "/srv/shared/relops_data"],
                   check=True)  # fmt: skip
    subprocess.run(["docker", "cp", str(deb), f"{container.name}:{CUDNN_DEB_ON_HOSTS}"], check=True)
    both = json.dumps([str(cuda_11_5.path), str(out)])  # the data: beside the CUDA manifest
    _, seconds = converge(sandbox, "worker1", both)
    record_property("cudnn_install_s", round(seconds, 1))
    drift = host_drift(sandbox, "worker1", cudnn)
    assert drift.in_sync, [f"{p.key} {p.describe()}" for p in drift.packages]
    assert {"libcudnn8", "libcudnn8-dev", "libcudnn8-samples"} <= parse_showhold(
        sandbox.exec("worker1", "apt-mark showhold")[1]
    )
    rc, keyring = sandbox.exec("worker1", f"test -s {CUDNN_KEYRING} && echo ok")
    assert keyring.strip() == "ok"
    assert drift_status(sandbox, "worker1", cudnn).returncode == 0
    assert drift_status(sandbox, "worker1", cuda_11_5).returncode == 0  # neither disturbs the other

    rc, out_text = sandbox.exec(
        "worker1", "apt-mark unhold libcudnn8 >/dev/null && dpkg -r libcudnn8-samples"
    )
    assert rc == 0, out_text
    report = json.loads(
        cli("drift", str(sandbox.inventory_path), "--manifest", str(out), "--limit", "worker1",
            "--json").stdout
    )  # fmt: skip
    kinds = {d["package"]: d["kinds"] for d in report["hosts"]["worker1"]["drift"]}
    assert kinds == {"libcudnn8": ["not-held"], "libcudnn8-samples": ["missing"]}

    converge(sandbox, "worker1", both)
    assert drift_status(sandbox, "worker1", cudnn).returncode == 0
    assert drift_status(sandbox, "worker1", cuda_11_5).returncode == 0
