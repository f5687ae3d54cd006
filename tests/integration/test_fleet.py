"""A real fleet: a dead worker, a GPU count that changes, a refused configuration, a worker
that leaves (issue 8's proofs a, c, f, d, in that order); then rolling manifest changes over
it (issue 11's proofs c and d: a busy node waits, a failure budget stops the rollout).

On a sandbox of its own (`pytest-fleet`): these proofs stop, reshape and retire workers, and
as their own xdist group they run beside the session sandbox's tests.

Each proof changes the inventory as an admin would: a copy of the sandbox's generated
inventory beside it (so the sandbox's group data still applies), edited.
"""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import docker.errors
import pytest

from snakepit.cuda.manifest import (
    CudaManifest,
    ManifestPackage,
    dump_manifest,
    for_release,
    load_manifest,
    sorted_packages,
)
from snakepit.cuda.plan import unavailable
from snakepit.parsers.apt import parse_apt_policy, parse_showhold
from snakepit.parsers.nvidia_smi import classify_error
from tests.integration.pyinfra_run import REPO_ROOT, run_pyinfra, running_sandbox
from tests.integration.test_cuda_manifest import (
    APT_LOGS,
    assert_exactly,
    create,
    drift_status,
    host_drift,
    serve_stub,
)
from tools.sandbox import slurm_checks as checks
from tools.sandbox.stubrepo import StubRepo

SITE = "deploys/site.py"
JOB_S = 120  # the job under which a rollout must not change packages


def changed_ops(result: dict) -> dict[str, list[str]]:
    return {op["name"]: op["success"] for op in result["results"]["operations"] if op["success"]}


def inventory_variant(sandbox, name: str, edit) -> str:
    """The sandbox's inventory, edited by ``edit(text)``, written beside it."""
    path = sandbox.inventory_path.with_name(f"inventory-{name}.py")
    path.write_text(edit(sandbox.inventory_path.read_text()))
    return str(path)


def worker1_gpus(count: int):
    return lambda text: text.replace(
        "('worker1', {", f"('worker1', {{'node': {{'gpus': {count}}}, "
    )


def node(sandbox, name: str) -> str:
    return sandbox.exec("head", f"scontrol show node -o {name}")[1]


def srun_gpus(sandbox, gpus: int) -> tuple[int, str]:
    job = f"srun -w worker1 --gres=gpu:{gpus} -t 1 --immediate=20 true"
    return sandbox.exec("head", f"runuser -u slurm -- {job}")


@pytest.fixture(scope="module")
def sandbox():
    yield from running_sandbox("pytest-fleet")


@pytest.fixture(scope="module")
def pyinfra(sandbox):
    def run(*args: str, **kwargs):
        return run_pyinfra(sandbox.inventory_path, *args, **kwargs)

    return run


@pytest.fixture(scope="module")
def fleet(sandbox, pyinfra):
    result = pyinfra(SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    checks.wait_for_idle_nodes(sandbox, count=2)
    return sandbox


def pause(container, attempts: int = 10) -> None:
    """``docker pause``, again while the cgroup freezer says "unable to freeze" (it gives up
    when a process is caught mid-fork or in uninterruptible sleep; seen once in CI)."""
    for attempt in range(attempts):
        try:
            container.pause()
            return
        except docker.errors.APIError as error:
            if "unable to freeze" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(2)


def test_a_dead_worker_fails_alone(fleet, sandbox):
    # Paused, worker2 is a host that does not answer (powered off, hung): SSH times out.
    container = sandbox.client.containers.get(sandbox.container_name("worker2"))
    pause(container)
    try:
        inventory = sandbox.inventory_path
        head = run_pyinfra(inventory, "deploys/head.py", "-y", "--limit", "head")
        assert changed_ops(head.json) == {}
        assert "Node lines from the head's record (outside --limit): worker1, worker2" in (
            head.stderr
        )
        worker = run_pyinfra(inventory, "deploys/worker.py", "-y", "--limit", "worker1")
        assert changed_ops(worker.json) == {}
        site = run_pyinfra(inventory, SITE, "-y", check=False, json_output=False)
        assert site.returncode != 0
        out = site.stdout + site.stderr
        # pyinfra's one line: "Could not connect (timed out)", or for a host that accepts TCP
        # but never answers SSH (this paused one) "SSH error (No existing session)"
        assert re.search(r"\[worker2\] (Could not connect|SSH error)", out), out[-3000:]
        assert "Traceback" not in out
        slurm_conf = (
            "/etc/slurm/slurm.conf "
            "(node lines from facts: worker1; from the head's record: worker2)"
        )
        assert slurm_conf in out, out[-3000:]
        assert "[head]    Error" not in out and "[worker1] Error" not in out
    finally:
        container.unpause()


def test_c_gpus_2_to_1_to_2_stick(fleet, sandbox):
    one = inventory_variant(sandbox, "one-gpu", worker1_gpus(1))
    result = run_pyinfra(one, SITE, "-y").json
    assert (
        "Slurm controller (head) | slurmctld: restart (a setting read only at start changed)"
        in (changed_ops(result))
    )
    assert "Gres=gpu:geforce_rtx_2080_ti:1 " in node(sandbox, "worker1")
    assert "State=IDLE " in node(sandbox, "worker1")
    rc, out = srun_gpus(sandbox, 2)
    assert rc != 0 and "Requested node configuration is not available" in out, out
    assert srun_gpus(sandbox, 1)[0] == 0

    result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    state = node(sandbox, "worker1")
    assert "Gres=gpu:geforce_rtx_2080_ti:2 " in state and "State=IDLE " in state, state
    assert srun_gpus(sandbox, 2)[0] == 0
    assert changed_ops(run_pyinfra(sandbox.inventory_path, SITE, "-y").json) == {}


def test_f_a_refused_configuration_fails_and_the_next_run_retries(fleet, sandbox):
    overrides = sandbox.group_data_dir / "all.py"
    original = overrides.read_text()
    overrides.write_text(
        original
        + '\nslurm = {**__production["slurm"], "config": {**__production["slurm"]["config"], '
        '"SchedulerType": "sched/snakepit_test_missing"}}\n'
    )
    try:
        started = time.monotonic()
        run = run_pyinfra(sandbox.inventory_path, SITE, "-y", check=False, json_output=False)
        out = run.stdout + run.stderr
        assert run.returncode != 0
        # slurmctld's own words, on the head's line (not only systemd's "see journalctl")
        assert re.search(r"\[head\].*(fatal|error).*sched", out, re.IGNORECASE), out[-3000:]
        assert "Traceback" not in out
        print(f"refused run: {time.monotonic() - started:.0f}s")
    finally:
        overrides.write_text(original)
    # The data is back to what slurmctld last took (its record was never replaced by the
    # refused one): the next run writes slurm.conf back, and slurmctld runs with it (systemd
    # may have restarted it already, so whether the run starts it is not asserted).
    result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    changed = changed_ops(result)
    assert any(n.startswith("Slurm controller (head) | /etc/slurm/slurm.conf") for n in changed)
    assert sandbox.exec("head", "systemctl is-active slurmctld")[0] == 0
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=120)


def test_d_a_removed_worker_leaves_slurm(fleet, sandbox):
    retired = run_pyinfra(sandbox.inventory_path, "deploys/retire.py", "-y", "--limit", "worker2")
    assert changed_ops(retired.json)
    assert sandbox.exec("worker2", "systemctl is-active slurmd")[1].strip() != "active"
    without = inventory_variant(
        sandbox,
        "without-worker2",
        lambda t: "\n".join(line for line in t.splitlines() if "'worker2'" not in line),
    )
    result = run_pyinfra(without, SITE, "-y", json_output=False)
    assert "Nodes leaving slurm.conf and gres.conf (no longer in the inventory): worker2" in (
        result.stderr + result.stdout
    )
    assert sandbox.exec("head", "sinfo -h -N -o %N")[1].split() == ["worker1"]
    assert (
        "worker2" not in sandbox.exec("head", "cat /etc/slurm/slurm.conf /etc/slurm/gres.conf")[1]
    )
    assert changed_ops(run_pyinfra(without, SITE, "-y").json) == {}
    # Back in the inventory: it rejoins (the rest of the session needs it).
    result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    sandbox.exec("head", "scontrol update nodename=worker2 state=resume")
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=120)


# -- issue 11: rolling manifest changes (proofs c and d) ---------------------------------------


@pytest.fixture(scope="module")
def stub_manifests(fleet, tmp_path_factory):
    """The stub vendor repository on the sandbox network, and manifests made from it:
    cuda-11-4 (driver 470), cuda-11-5 (driver 495), and cuda-11-5-failing, which adds a
    package whose postinst fails."""
    out = tmp_path_factory.mktemp("rollout")
    with StubRepo() as repo:
        serve_stub(repo, fleet, out)
        with ThreadPoolExecutor(max_workers=2) as pool:
            old = pool.submit(
                create, repo, fleet, out / "cuda-11-4.yaml", "cuda-11-4", "cuda-drivers=470.82.01-1"
            )
            new = pool.submit(create, repo, fleet, out / "cuda-11-5.yaml", "cuda-11-5")
            made = {"cuda-11-4": old.result(), "cuda-11-5": new.result()}
        failing = repo.publish_failing()
        broken = made["cuda-11-5"].model_copy(
            update={
                "name": "cuda-11-5-failing",
                "boms": None,
                "packages": sorted_packages(
                    [
                        *made["cuda-11-5"].packages,
                        ManifestPackage(name=failing.name, arch="amd64", version=failing.version),
                    ]
                ),
            }
        )
        (out / "cuda-11-5-failing.yaml").write_text(dump_manifest(broken))
        made["cuda-11-5-failing"] = load_manifest(out / "cuda-11-5-failing.yaml")
        yield made


def rollout(sandbox, manifest: CudaManifest, *args: str, **popen) -> subprocess.CompletedProcess:
    """`python -m tools.cuda rollout` of ``manifest`` over the sandbox's workers; with
    ``popen`` (``background=True``) the running process instead."""
    command = [sys.executable, "-m", "tools.cuda", "rollout", str(sandbox.inventory_path)]
    command += ["--data", f"cuda_manifest={manifest.path}", *args]
    if popen.get("background"):
        return subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False
    )


def installed(sandbox, host: str, package: str) -> str:
    """``<status> <version>`` of a package on a host, as dpkg has it."""
    return sandbox.exec(host, f"dpkg-query -W -f='${{db:Status-Abbrev}}${{Version}}' {package}")[1]


def test_rollout_c_a_busy_node_is_upgraded_after_its_job_an_idle_one_at_once(
    fleet, sandbox, stub_manifests
):
    old, new = stub_manifests["cuda-11-4"], stub_manifests["cuda-11-5"]
    first = rollout(sandbox, old, "--batch", "2")
    assert first.returncode == 0, first.stderr[-4000:]
    assert "rollout: 2 converged, 0 failed, 0 untouched" in first.stderr
    for host in ("worker1", "worker2"):
        assert_exactly(sandbox, host, old)
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=120)

    submit = f"sbatch --parsable -w worker1 --gres=gpu:1 -o /dev/null --wrap 'sleep {JOB_S}'"
    job = checks.head_shell(sandbox, submit, user="slurm").strip()
    deadline = time.monotonic() + 60
    while checks.head_shell(sandbox, f"squeue -h -j {job} -o %T").strip() != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(1)
    started = time.monotonic()
    switch = rollout(sandbox, new, "--batch", "2", background=True)
    try:
        # worker2 runs no job: it changes at once, while worker1's job still runs.
        while not installed(sandbox, "worker2", "cuda-11-5").startswith("hi"):
            assert switch.poll() is None, switch.communicate()[1][-4000:]
            assert time.monotonic() - started < JOB_S - 10, "worker2 waited for worker1's job"
            time.sleep(2)
        assert checks.head_shell(sandbox, f"squeue -h -j {job} -o %T").strip() == "RUNNING"
        # worker1 is drained for the change, and still has 11-4's packages under its job.
        state = node(sandbox, "worker1")
        assert "Reason=snakepit: manifest cuda-11-5" in state, state
        assert installed(sandbox, "worker1", "cuda-11-4").startswith("hi")
        assert not installed(sandbox, "worker1", "cuda-11-5").startswith(("ii", "hi"))
        _, errors = switch.communicate(timeout=900)
    finally:
        if switch.poll() is None:
            switch.kill()
    print(f"switch of 2 workers, one running a {JOB_S}s job: {time.monotonic() - started:.0f}s")
    assert switch.returncode == 0, errors[-4000:]
    deadline = time.monotonic() + 30  # slurmdbd records the job's end
    while (ended := checks.head_shell(sandbox, f"sacct -n -X -j {job} -o State").split()) != [
        "COMPLETED"
    ] and time.monotonic() < deadline:
        time.sleep(1)
    assert ended == ["COMPLETED"], ended
    for host in ("worker1", "worker2"):
        assert_exactly(sandbox, host, new)
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=120)
    again = run_pyinfra(
        sandbox.inventory_path,
        "deploys/worker.py",
        "-y",
        "--limit",
        "slurm_worker",
        "--data",
        f"cuda_manifest={new.path}",
    )
    assert changed_ops(again.json) == {}


def test_rollout_d_the_budget_stops_the_rollout_at_the_first_failure(
    fleet, sandbox, stub_manifests
):
    new, failing = stub_manifests["cuda-11-5"], stub_manifests["cuda-11-5-failing"]
    apt_before = sandbox.exec("worker2", APT_LOGS)[1]
    run = rollout(sandbox, failing, "--batch", "1", "--max-failures", "1")
    assert run.returncode == 1, run.stderr[-4000:]
    assert "rollout: 0 converged, 1 failed, 1 untouched (batches of 1, failure budget 1)" in (
        run.stderr
    )
    assert "untouched, the budget being spent: worker2" in run.stderr
    # worker1's install failed: it stays drained, the reason naming the change.
    state = node(sandbox, "worker1")
    assert "State=IDLE+DRAIN" in state and "Reason=snakepit: manifest cuda-11-5-failing" in state
    # worker2 was not touched: no apt run, still exactly 11-5, idle.
    assert sandbox.exec("worker2", APT_LOGS)[1] == apt_before
    assert_exactly(sandbox, "worker2", new)
    assert "State=IDLE " in node(sandbox, "worker2")

    # One line says where it failed (no traceback), and it is dpkg's own.
    assert "[worker1] Error" in run.stderr and "Traceback" not in run.stderr
    assert "post-installation script subprocess returned error exit status 1" in run.stderr
    # A package whose postinst always fails keeps dpkg unfinished: every dpkg run retries
    # it. The admin takes it out (as its vendor's fix would), the data goes back to 11-5,
    # and the next rollout heals worker1 and resumes it.
    rc, out = sandbox.exec(
        "worker1",
        "dpkg --remove --force-hold --force-remove-reinstreq snakepit-stub-failing-postinst",
    )
    assert rc == 0, out
    back = rollout(sandbox, new, "--limit", "worker1")
    assert back.returncode == 0, back.stderr[-4000:]
    assert_exactly(sandbox, "worker1", new)
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=120)


# -- issue 11 a: production's manifest, from Debian's mirror through the head's proxy --------


def production_manifest() -> CudaManifest:
    """Of production's manifests (one per release), the one for the sandbox's Debian 12."""
    data = runpy.run_path(str(REPO_ROOT / "group_data" / "slurm_worker.py"))
    manifests = tuple(load_manifest(REPO_ROOT / path) for path in data["cuda_manifest"])
    return for_release(manifests, "debian", "12")


def test_production_driver_manifest_installs_exactly_through_the_heads_proxy(
    fleet, sandbox, stub_manifests
):
    """The manifest production's data names, made by `create` from Debian's signed
    repository, replaces worker2's stub CUDA (another vendor) on a converged cluster: every
    version is one apt offers from Debian's contrib/non-free suites, the packages come through
    the head's squid, the deploy installs and holds exactly them and removes the stub's, and a
    second run calls no apt. A container has no NVIDIA kernel module: DKMS builds nothing and
    nvidia-smi says there is no driver."""
    manifest = production_manifest()
    assert manifest.target.describe() == "debian 12 amd64"
    assert manifest.source.url == "http://deb.debian.org/debian"
    assert {"nvidia-smi", "libcuda1", "nvidia-kernel-dkms", "nvidia-persistenced"} <= {
        p.name for p in manifest.packages
    }
    # What DKMS pulls from main is Debian's ordinary packages, not the vendor's.
    assert not {"dkms", "gcc", "make"} & {p.name for p in manifest.packages}

    def converge() -> dict:
        return run_pyinfra(
            sandbox.inventory_path,
            "deploys/tools/cuda.py",
            "-y",
            "--limit",
            "worker2",
            "--data",
            f"cuda_manifest={manifest.path}",
        ).json

    started = time.monotonic()
    assert changed_ops(converge())
    print(f"\nproduction driver manifest over the stub's CUDA: {time.monotonic() - started:.0f}s")
    drift = host_drift(sandbox, "worker2", manifest)
    assert drift.in_sync, [f"{p.key} {p.describe()}" for p in drift.packages]
    assert not installed(sandbox, "worker2", "cuda-11-5").startswith(("ii", "hi"))
    names = " ".join(manifest.apt_names())
    rc, policy = sandbox.exec("worker2", f"LC_ALL=C apt-cache policy {names}")
    assert rc == 0, policy
    assert unavailable(manifest.packages, manifest.source, "amd64", parse_apt_policy(policy)) == ()
    rc, held = sandbox.exec("worker2", "apt-mark showhold")
    assert {p.name for p in manifest.packages} <= parse_showhold(held)
    rc, audit = sandbox.exec("worker2", "dpkg --audit")
    assert rc == 0 and audit.strip() == "", audit
    # The downloads went through the head's squid (worker2's address, Debian's pools: the
    # driver's point releases come from bookworm-security).
    address = next(h.address for h in sandbox.hosts() if h.name == "worker2")
    rc, log = sandbox.exec("head", "cat /var/log/squid/access.log")
    fetched = [
        line.split()[6].rsplit("/", 1)[-1].split("_")[0]
        for line in log.splitlines()
        if f" {address} " in line and " GET http://deb.debian.org/" in line and ".deb " in line
    ]
    assert {"nvidia-smi", "libcuda1", "nvidia-kernel-dkms"} <= set(fetched), log[-3000:]

    # What a container cannot do: no module was built, and nvidia-smi finds no driver.
    rc, dkms = sandbox.exec("worker2", "dkms status")
    assert ": installed" not in dkms, dkms
    rc, smi = sandbox.exec("worker2", "nvidia-smi 2>&1")
    assert rc != 0 and classify_error(smi) == "no-driver", smi

    logs_before = sandbox.exec("worker2", APT_LOGS)[1]
    assert changed_ops(converge()) == {}
    assert sandbox.exec("worker2", APT_LOGS)[1] == logs_before
    assert drift_status(sandbox, "worker2", manifest).returncode == 0
