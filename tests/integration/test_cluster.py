"""The product: `deploys/site.py` turns the sandbox's bare hosts into a Slurm GPU cluster.

Runs in file order on the session sandbox: converge, use the cluster, converge again and
expect nothing to change, preview edits, prove secrets never show, refuse bad input before
touching a host, survive a worker dying mid-run.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snakepit.secrets import generate, load_secrets
from tests.integration.pyinfra_run import REPO_ROOT, run_pyinfra
from tests.integration.test_cuda_manifest import create, serve_stub
from tools.sandbox import slurm_checks as checks
from tools.sandbox.stubrepo import STUB_GPU_TYPE, StubRepo

SITE = "deploys/site.py"
# The preview names where each node line came from.
SLURM_CONF_FROM_FACTS = (
    "Slurm controller (head) | /etc/slurm/slurm.conf (node lines from facts: worker1, worker2)"
)


def changed_ops(result: dict) -> dict[str, list[str]]:
    """{operation name: hosts it changed} from pyinfra's --json results."""
    return {op["name"]: op["success"] for op in result["results"]["operations"] if op["success"]}


def planned_changes(result: dict) -> dict[str, list[str]]:
    """{operation name: hosts it would change} from pyinfra's --json --dry plan."""
    return {op["name"]: op["hosts_with_change"] for op in result["plan"] if op["hosts_with_change"]}


@pytest.fixture(scope="module")
def converged(sandbox, pyinfra):
    result = pyinfra(SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    checks.wait_for_idle_nodes(sandbox, count=2)
    return result


def slurm_conf_sha(sandbox) -> str:
    rc, out = sandbox.exec("head", "sha256sum /etc/slurm/slurm.conf")
    return out.split()[0] if rc == 0 else ""


# -- a. a working cluster ------------------------------------------------------------------


def test_first_converge_changes_every_host(converged):
    changed = changed_ops(converged)
    assert changed["Users and groups | User slurm (uid 1877)"] == ["head", "worker1", "worker2"]
    hosts_changed = {host for hosts in changed.values() for host in hosts}
    assert hosts_changed == {"head", "worker1", "worker2"}


def run_verify_suite(sandbox) -> tuple[subprocess.CompletedProcess, list[str]]:
    """The read-only tests/verify suite against the sandbox; (its run, its failed tests)."""
    verify = ["tests/verify", "--inventory", str(sandbox.inventory_path)]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *verify, "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    failed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED ")]
    return done, failed


def test_converged_cluster_passes_the_verify_suite(sandbox, converged):
    done, failed = run_verify_suite(sandbox)
    assert (done.returncode, failed) == (0, []), done.stdout[-8000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]


def test_verify_suite_fails_on_a_readable_munge_key(sandbox, converged):
    key = "/etc/munge/munge.key"
    assert sandbox.exec("worker1", f"chmod 0644 {key}")[0] == 0
    try:
        done, failed = run_verify_suite(sandbox)
    finally:
        # munged read the key when it started: restoring the mode restores the host.
        assert sandbox.exec("worker1", f"chmod 0400 {key}")[0] == 0
    assert done.returncode == 1, done.stdout[-8000:] + done.stderr[-2000:]
    assert failed == [
        "tests/verify/test_every_host.py::test_munge_key_is_private_to_munge[paramiko://worker1]"
    ], done.stdout[-8000:]
    assert "'0o644', 'munge', 'munge'" in done.stdout


def test_sinfo_srun_and_shared_storage(sandbox, converged):
    states = checks.wait_for_idle_nodes(sandbox, count=2)
    assert sorted(states.split()) == sorted(["worker1", "idle", "worker2", "idle"])
    assert checks.srun_hostnames(sandbox, 2) == ["worker1", "worker2"]
    path, text = checks.batch_job_to_shared_storage(sandbox)
    assert text.startswith("job ") and "ran on worker" in text
    # The worker wrote it; the head reads it: same storage at /data/rw on both.
    worker = text.split()[-1]
    rc, out = sandbox.exec(worker, f"cat {path}")
    assert rc == 0 and out == text


def test_fixed_ids_munge_and_modes(sandbox, converged):
    for host in ("head", "worker1", "worker2"):
        rc, out = sandbox.exec(
            host,
            "id -u slurm; id -g slurm; getent group snakepit | cut -d: -f3,4; id -u admin; "
            "stat -c '%a %U:%G' /etc/munge/munge.key; sudo -l -U admin | tail -1",
        )
        assert rc == 0, out
        lines = out.splitlines()
        assert lines[:4] == ["1877", "1877", "1777:slurm", "3000"]
        assert lines[4] == "400 munge:munge"
        assert "NOPASSWD: ALL" in lines[5]
    rc, out = sandbox.exec("head", "stat -c '%a %U:%G' /etc/slurm/slurmdbd.conf /data/rw")
    assert out.split("\n")[:2] == ["600 slurm:slurm", "750 slurm:slurm"]
    # The seed's rules: workers' /data is root:slurm 0750, a relops member is an admin
    # (%admin), epavlov may act as slurm and nothing more.
    rc, out = sandbox.exec("worker1", "stat -c '%a %U:%G' /data")
    assert (rc, out.strip()) == (0, "750 root:slurm")
    for host in ("head", "worker1"):
        rc, out = sandbox.exec(host, "sudo -u epavlov sudo -n -u slurm id -un")
        assert (rc, out.strip()) == (0, "slurm"), out
        assert sandbox.exec(host, "sudo -u epavlov sudo -n id -un")[0] != 0
        rc, out = sandbox.exec(host, "sudo -u aerickson sudo -n id -un")
        assert (rc, out.strip()) == (0, "root"), out
    # Accounting through slurmdbd + MariaDB works (slurmctld sends job records a little
    # after the jobs end).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rc, out = sandbox.exec("head", "sacct -a -n -X -S 2020-01-01 -o jobid | wc -l")
        if rc == 0 and int(out) >= 1:
            break
        time.sleep(2)
    assert rc == 0 and int(out) >= 1, out


def test_hosts_resolve_by_name_beside_dockers_own_lines(sandbox, converged):
    addresses = {h.name: h.address for h in sandbox.hosts()}
    for host in ("head", "worker1", "worker2"):
        rc, hosts = sandbox.exec(host, "cat /etc/hosts")
        lines = hosts.splitlines()
        assert "127.0.0.1\tlocalhost" in lines  # Docker's lines stay
        for name, address in addresses.items():
            assert f"{address} {name}" in lines
    rc, out = sandbox.exec("worker1", "getent hosts worker2")
    assert (rc, out.split()[0]) == (0, addresses["worker2"])


def test_slurmrestd_answers_a_jwt_token_on_the_seeds_port(sandbox, converged):
    rc, out = sandbox.exec(
        "head",
        "export $(scontrol token username=slurm lifespan=60) && "
        "curl -sf -H 'X-SLURM-USER-NAME: slurm' -H \"X-SLURM-USER-TOKEN: $SLURM_JWT\" "
        "http://head:6820/slurm/v0.0.38/ping",
    )
    assert rc == 0 and '"ping"' in out, out
    rc, out = sandbox.exec("head", "stat -c '%a %U' /etc/slurm/jwt_hs256.key")
    assert (rc, out.strip()) == (0, "600 slurm")


def test_configless_workers_and_rendered_storage(sandbox, converged):
    rc, out = sandbox.exec("worker1", "test ! -e /etc/slurm/slurm.conf && cat /etc/default/slurmd")
    assert rc == 0 and "--conf-server head" in out
    rc, exports = sandbox.exec("head", "cat /etc/exports")
    assert "*" not in exports
    subnet = sandbox.subnet()
    assert f"/data/rw {subnet}(rw," in exports and f"/snakepit/shared {subnet}(ro," in exports
    rc, unit = sandbox.exec("worker1", "systemctl cat data-rw.mount")
    assert rc == 0, unit  # systemd parsed the unit
    assert "What=head:/data/rw" in unit and "Options=nosuid,nodev,hard,bg,noatime,rw" in unit


def test_workers_use_the_heads_caching_proxy(sandbox, converged):
    rc, out = sandbox.exec("worker2", "apt-config dump | grep -i 'Acquire::http::Proxy '")
    assert rc == 0 and "http://head:8123" in out
    rc, out = sandbox.exec("worker2", ". /etc/profile.d/snakepit-proxy.sh; echo $no_proxy")
    assert "head" in out and sandbox.subnet() in out
    # A package fetched twice through the proxy is a cache hit the second time.
    for _ in range(2):
        rc, out = sandbox.exec(
            "worker2", "cd /tmp && rm -f cowsay_*.deb && apt-get download -q cowsay 2>&1"
        )
        assert rc == 0, out
    rc, log = sandbox.exec("head", "grep cowsay_ /var/log/squid/access.log")
    assert "TCP_MISS" in log.splitlines()[0] or "HIT" in log.splitlines()[0]
    assert "HIT" in log.splitlines()[-1], log


# -- b. GPU scheduling without GPUs ----------------------------------------------------------


def node_gres(sandbox, node: str) -> str:
    out = checks.head_shell(sandbox, f"scontrol show node -o {node}")
    return next(word for word in out.split() if word.startswith("Gres="))


def test_gres_gpu_jobs_get_distinct_devices_and_a_third_waits(sandbox, converged):
    # The GRES type is the model as Slurm names it; no driver here, so the declared one.
    assert node_gres(sandbox, "worker1") == f"Gres=gpu:{STUB_GPU_TYPE}:2"
    out = checks.head_shell(
        sandbox,
        f"srun -w worker1 --gres=gpu:{STUB_GPU_TYPE}:1 sh -c 'echo $CUDA_VISIBLE_DEVICES'",
        user="slurm",
    )
    assert out.strip() == "0"
    submit = (
        "sbatch --parsable -w worker1 --gres=gpu:1 -o /dev/null "
        # The node's GPU index: CUDA_VISIBLE_DEVICES counts from 0 within a job's own devices.
        "--wrap 'echo $SLURM_JOB_GPUS > /data/rw/gpu-$SLURM_JOB_ID; sleep 30'"
    )
    jobs = [checks.head_shell(sandbox, submit, user="slurm").strip() for _ in range(3)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = checks.head_shell(sandbox, f"squeue -h -j {','.join(jobs)} -o '%i %T %r'")
            by_job = {line.split()[0]: line.split()[1:] for line in states.splitlines()}
            running = [j for j in jobs if by_job.get(j, [""])[0] == "RUNNING"]
            written = [
                j for j in running if sandbox.exec("head", f"test -s /data/rw/gpu-{j}")[0] == 0
            ]
            if len(written) == 2:
                break
            time.sleep(1)
        assert len(running) == 2, states
        waiting = [j for j in jobs if j not in running]
        assert by_job[waiting[0]][0] == "PENDING", states
        devices = {checks.head_shell(sandbox, f"cat /data/rw/gpu-{j}").strip() for j in running}
        assert devices == {"0", "1"}
    finally:
        checks.head_shell(sandbox, f"scancel {' '.join(jobs)}")


# -- b2. the production cgroup plugins confine jobs --------------------------------------------

# Opens each fake GPU and prints "<device>:<errno name>": ENXIO is a device the job may use
# (no driver behind it), EPERM one the job's devices cgroup denies.
OPEN_GPUS = (
    "python3 -c 'import errno, glob, os\n"
    'for path in sorted(glob.glob("/dev/nvidia[0-9]*")):\n'
    "    try:\n"
    "        os.close(os.open(path, os.O_RDWR))\n"
    '        result = "opened"\n'
    "    except OSError as error:\n"
    "        result = errno.errorcode[error.errno]\n"
    '    print(path + ":" + result)\n'
    'print("step_gpus:" + os.environ.get("SLURM_STEP_GPUS", ""))\''
)


def test_slurm_runs_the_production_cgroup_plugins(sandbox, converged):
    config = checks.head_shell(sandbox, "scontrol show config")
    settings = {
        key.strip(): value.strip()
        for key, _, value in (line.partition("=") for line in config.splitlines())
    }
    assert settings["ProctrackType"] == "proctrack/cgroup"
    assert settings["TaskPlugin"] == "task/cgroup,task/affinity"
    assert settings["CgroupPlugin"] == "autodetect"
    for constraint in ("ConstrainCores", "ConstrainRAMSpace", "ConstrainDevices"):
        assert settings[constraint] == "yes", constraint
    # The step lives in Slurm's own cgroups (here, the host's v1 hierarchies). `srun -Q`:
    # a job that waits for the previous test's jobs to end prints no "queued" line.
    out = checks.head_shell(sandbox, "srun -Q -w worker1 cat /proc/self/cgroup", user="slurm")
    by_controller = dict(line.split(":", 2)[1:] for line in out.splitlines())
    for controller in ("freezer", "memory", "devices", "cpuset"):
        assert "/uid_1877/job_" in by_controller[controller], out


def test_a_gpu_job_opens_only_its_own_gpus(sandbox, converged):
    def opened(gres: str) -> dict[str, str]:
        out = checks.head_shell(sandbox, f"srun -Q -w worker1 {gres} {OPEN_GPUS}", user="slurm")
        return dict(line.split(":") for line in out.splitlines())

    one = opened("--gres=gpu:1")
    given = f"/dev/nvidia{one.pop('step_gpus')}"
    assert one == {**{path: "EPERM" for path in one}, given: "ENXIO"}, one
    assert len(one) == 2, one
    both = opened("--gres=gpu:2")
    assert both == {"/dev/nvidia0": "ENXIO", "/dev/nvidia1": "ENXIO", "step_gpus": "0,1"}
    none = opened("")
    assert none == {"/dev/nvidia0": "EPERM", "/dev/nvidia1": "EPERM", "step_gpus": ""}


def test_a_job_over_its_memory_is_killed_by_the_cgroup(sandbox, converged):
    def allocate(mib: int) -> str:
        job = f"python3 -c 'print(len(bytes(1) * ({mib} << 20)) >> 20)'"
        return f"runuser -u slurm -- srun -w worker1 --mem=100M {job} 2>&1"

    rc, out = sandbox.exec("head", allocate(20))
    assert (rc, out.split()[-1]) == (0, "20"), out
    rc, out = sandbox.exec("head", allocate(400))
    assert rc != 0, out
    # "oom-kill event" (22.05) or "oom_kill event" (24.11)
    assert "task 0: Out Of Memory" in out and re.search(r"oom.kill event", out), out


# -- c. and d. a second converge changes nothing; previews are exact -------------------------


def test_second_converge_changes_nothing(sandbox, converged, pyinfra):
    before = slurm_conf_sha(sandbox)
    # The head's existing data directories are never re-owned or re-moded (the seed's rule).
    stat = "stat -c '%a %U:%G' /snakepit/shared /snakepit/home"
    _, original = sandbox.exec("head", stat)
    by_hand = "chown slurm:snakepit /snakepit/home && chmod 2770 /snakepit/home"
    assert sandbox.exec("head", by_hand)[0] == 0
    try:
        result = pyinfra(SITE, "-y").json
        assert changed_ops(result) == {}
        assert result["results"]["totals"]["error"] == 0
        assert result["results"]["totals"]["no_change"] > 100
        assert slurm_conf_sha(sandbox) == before
        assert sandbox.exec("head", stat)[1].splitlines()[1] == "2770 slurm:snakepit"
    finally:
        mode, owner = original.splitlines()[1].split()
        sandbox.exec("head", f"chown {owner} /snakepit/home && chmod {mode} /snakepit/home")


def test_dry_run_after_converge_shows_no_change(converged, pyinfra):
    assert planned_changes(pyinfra(SITE, "--dry").json) == {}


@pytest.fixture
def group_data_edit(sandbox):
    """Append to the sandbox's group-data overrides; restored afterwards."""
    path = sandbox.group_data_dir / "all.py"
    original = path.read_text()

    def edit(text: str) -> None:
        path.write_text(original + "\n" + text + "\n")

    yield edit
    path.write_text(original)


def test_dry_run_after_adding_a_user_shows_exactly_that(converged, pyinfra, group_data_edit):
    group_data_edit(
        # exactly as the comment in group_data/all.py shows a human user
        'users = [*__production["users"], {"name": "alice", "uid": 2104, "groups": ["slurm"]}]'
    )
    plan = planned_changes(pyinfra(SITE, "--dry").json)
    everywhere = ["head", "worker1", "worker2"]
    assert plan == {
        # the record of managed users, so that removing alice later locks her account
        "Users and groups | Record of managed users (/var/lib/snakepit/managed-users)": everywhere,
        "Users and groups | User alice (uid 2104)": everywhere,
    }


def test_dry_run_after_changing_a_partition(sandbox, converged, pyinfra, group_data_edit):
    group_data_edit(
        # the sandbox's own partitions (their GPU model is the stub driver's)
        'slurm_partitions = [{**p, "max_time": "7-00:00:00"} for p in slurm_partitions]'
    )
    reconfigure = (
        "Slurm controller (head) | slurmctld: scontrol reconfigure (settings it takes live changed)"
    )
    slurm_conf = SLURM_CONF_FROM_FACTS
    plan = planned_changes(pyinfra(SITE, "--dry").json)
    assert plan == {slurm_conf: ["head"], reconfigure: ["head"]}
    # Reconfigured, not restarted: the same run of the unit (24.11's reconfigure hands over
    # to a new slurmctld process within it; 22.05's keeps its process).
    invocation = "systemctl show -p InvocationID --value slurmctld"
    before = sandbox.exec("head", invocation)[1]
    assert before.strip(), "slurmctld is not running"
    result = pyinfra(SITE, "-y").json
    assert changed_ops(result) == {slurm_conf: ["head"], reconfigure: ["head"]}
    assert sandbox.exec("head", invocation)[1] == before
    _, out = sandbox.exec("head", "scontrol show partition txp")
    assert "MaxTime=7-00:00:00" in out
    assert "DefMemPerCPU=2000" in out and "MaxMemPerCPU=2300" in out


def _test_key_pair(folder: Path) -> tuple[Path, str]:
    """A fresh ed25519 key pair for this test only (never in the repository)."""
    key = Ed25519PrivateKey.generate()
    path = folder / "id_ed25519"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return path, f"{public.decode()} snakepit-integration-test"


def _ssh(address: str, user: str, key: Path, command: str) -> tuple[int, str]:
    client = paramiko.SSHClient()
    # A throwaway sandbox host whose key changes with every `up` (as its inventory does).
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    client.connect(
        address, username=user, key_filename=str(key), allow_agent=False, look_for_keys=False
    )
    try:
        _, stdout, stderr = client.exec_command(command, timeout=120)
        out = stdout.read().decode() + stderr.read().decode()
        return stdout.channel.recv_exit_status(), out.strip()
    finally:
        client.close()


def test_seed_user_and_a_new_user_log_in_with_a_key_and_run_srun(
    sandbox, converged, pyinfra, group_data_edit, tmp_path
):
    key, public = _test_key_pair(tmp_path)
    # gtatum as the seed has him, with this test's key instead of his own; and a user added
    # exactly the way group_data/all.py's comment shows.
    group_data_edit(
        f'users = [{{**u, "ssh_keys": [{public!r}]}} if u["name"] == "gtatum" else u '
        'for u in __production["users"]]\n'
        f'users.append({{"name": "dora", "uid": 2104, "groups": ["slurm"], '
        f'"ssh_keys": [{public!r}]}})'
    )
    changed = changed_ops(pyinfra(SITE, "-y").json)
    every_host = ["head", "worker1", "worker2"]
    assert changed["Users and groups | User dora (uid 2104)"] == every_host
    assert changed["Users and groups | User gtatum (uid 2102)"] == every_host
    checks.wait_for_idle_nodes(sandbox, count=2)
    head = next(h.address for h in sandbox.hosts() if h.name == "head")
    for user in ("gtatum", "dora"):
        rc, out = _ssh(head, user, key, "id -un && srun -N1 hostname")
        assert rc == 0, out
        lines = out.splitlines()
        assert lines[0] == user and lines[-1] in ("worker1", "worker2"), out


# -- e. secrets never show -------------------------------------------------------------------


def test_rotated_secrets_never_appear_in_any_output(sandbox, converged, pyinfra):
    old = load_secrets(sandbox.secrets_path)
    generate(sandbox.secrets_path, force=True)
    new = load_secrets(sandbox.secrets_path)
    outputs = []
    for args in (("--dry",), ("--dry", "--diff"), ("--dry", "-vvv"), ("--dry", "--debug")):
        result = pyinfra(SITE, *args, json_output=False)
        outputs.append(result.stdout + result.stderr)
    json_run = pyinfra(SITE, "--dry")
    outputs.append(json_run.stdout + json_run.stderr)
    plan = planned_changes(json_run.json)
    assert plan[
        "munge | munge key: sha256 "
        + old.munge_key_sha256[:16]
        + " -> "
        + new.munge_key_sha256[:16]
    ] == ["head", "worker1", "worker2"]
    real = pyinfra(SITE, "-y", "-vv", json_output=False)
    outputs.append(real.stdout + real.stderr)
    text = "\n".join(outputs)
    for secrets in (old, new):
        for form in secrets.forms():
            assert form not in text
    # The rotated key and password are live: munge agrees everywhere, accounting works.
    rc, out = sandbox.exec("head", "sha256sum /etc/munge/munge.key")
    assert out.split()[0] == new.munge_key_sha256
    checks.wait_for_idle_nodes(sandbox, count=2)
    assert checks.srun_hostnames(sandbox, 2) == ["worker1", "worker2"]
    rc, out = sandbox.exec("head", "systemctl is-active slurmdbd && sacctmgr -n list cluster")
    assert rc == 0 and "slurmpit" in out


# -- f. bad input is refused before any host is touched --------------------------------------


def _refused(pyinfra, sandbox, *args: str) -> str:
    before = slurm_conf_sha(sandbox)
    result = pyinfra(SITE, "-y", *args, check=False, json_output=False)
    assert result.returncode != 0
    assert "Beginning operation run" not in result.stderr
    assert slurm_conf_sha(sandbox) == before
    return result.stderr


def test_duplicate_uid_is_refused(sandbox, pyinfra, group_data_edit):
    group_data_edit('users = [*__production["users"], {"name": "bob", "uid": 3000}]')
    err = _refused(pyinfra, sandbox)
    assert "users[13].uid: duplicate uid 3000 (also user 'admin')" in err


def test_malformed_group_data_type_is_refused(sandbox, pyinfra, group_data_edit):
    group_data_edit('proxy = {**__production["proxy"], "port": "8123"}')
    err = _refused(pyinfra, sandbox)
    assert "proxy.port: expected int, got str ('8123')" in err
    assert f".sandbox/{sandbox.name}/group_data/all.py" in err


def test_misspelled_key_is_refused_with_the_nearest_name(sandbox, pyinfra, group_data_edit):
    group_data_edit(
        'users = [*__production["users"], {"name": "carol", "uid": 2002, '
        '"ssh_key": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB carol"]}]'
    )
    err = _refused(pyinfra, sandbox)
    assert "users[13].ssh_key: unknown key (did you mean 'ssh_keys'?)" in err
    assert f".sandbox/{sandbox.name}/group_data/all.py" in err


def test_missing_secret_is_refused(sandbox, pyinfra):
    saved = sandbox.secrets_path.read_text()
    try:
        sandbox.secrets_path.chmod(0o644)
        err = _refused(pyinfra, sandbox)
        assert "is readable by others (mode 0644): chmod 600" in err
        sandbox.secrets_path.chmod(0o600)
        sandbox.secrets_path.write_text(
            "\n".join(line for line in saved.splitlines() if not line.startswith("munge_key"))
        )
        err = _refused(pyinfra, sandbox)
        assert "munge_key is missing" in err
        sandbox.secrets_path.unlink()
        err = _refused(pyinfra, sandbox)
        assert f"secrets file {sandbox.secrets_path} does not exist" in err
    finally:
        sandbox.secrets_path.write_text(saved)
        sandbox.secrets_path.chmod(0o600)


def test_unknown_partition_member_is_refused(sandbox, pyinfra):
    bad = sandbox.inventory_path.with_name("inventory-bad-partition.py")
    bad.write_text(
        sandbox.inventory_path.read_text() + "\ntxp = [*txp, ('head', slurm_head[0][1])]\n"
    )
    try:
        before = slurm_conf_sha(sandbox)
        result = run_pyinfra(bad, SITE, "-y", check=False, json_output=False)
        assert result.returncode != 0
        assert "unknown partition member 'head'" in result.stderr
        assert slurm_conf_sha(sandbox) == before
    finally:
        bad.unlink()


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ('{"gpus": 2, "cpus": 64}', "declares cpus=64 but facts (slurmd) found 2"),
        ('{"gpus": 3}', "declares gpus=3 but device files found 2"),
    ],
)
def test_node_declaring_more_than_detected_is_refused(sandbox, pyinfra, node, message):
    path = sandbox.group_data_dir / "txp.py"
    original = path.read_text()
    path.write_text(original + f"\nnode = {node}\n")
    try:
        err = _refused(pyinfra, sandbox)
        assert f"worker1: {message}" in err and f"worker2: {message}" in err
    finally:
        path.write_text(original)


@pytest.mark.parametrize(
    ("os_release", "message"),
    [
        (
            'ID=ubuntu\nVERSION_ID="18.04"\nPRETTY_NAME="Ubuntu 18.04.6 LTS"',
            "worker1: Ubuntu 18.04.6 LTS is not supported (supported: Debian 12 (Slurm 22.05), "
            "Debian 13 (Slurm 24.11))",
        ),
        (
            'ID=debian\nVERSION_ID="13"\nPRETTY_NAME="Debian GNU/Linux 13 (trixie)"',
            "worker1: slurmd 24.11 (Debian 13) with slurmctld and slurmdbd 22.05 on head "
            "(Debian 12): Slurm 22.05 accepts daemons of 20.11 to 22.05 only",
        ),
    ],
)
def test_a_host_of_an_unsupported_release_or_slurm_mix_is_refused(
    sandbox, pyinfra, os_release, message
):
    # Debian's /etc/os-release is a link to /usr/lib/os-release: replaced by a file here.
    assert sandbox.exec("worker1", "mv /etc/os-release /etc/os-release.real")[0] == 0
    try:
        sandbox.exec("worker1", f"printf '%s\\n' '{os_release}' > /etc/os-release")
        err = _refused(pyinfra, sandbox)
        assert message in err
        assert [line for line in err.splitlines() if line.strip().startswith("worker")] == [
            f"  {message}"
        ]
    finally:
        sandbox.exec("worker1", "mv -f /etc/os-release.real /etc/os-release")


# -- g. a worker dies mid-converge; the rest finish; a rerun converges it --------------------


def test_worker_killed_mid_converge_then_rerun_converges(sandbox, converged):
    # Give every host real work: a removed package and a changed proxy setting.
    for host in ("head", "worker1", "worker2"):
        assert sandbox.exec(host, "apt-get remove -y -q tmux >/dev/null 2>&1")[0] == 0
    command = [sys.executable, "-m", "pyinfra", str(sandbox.inventory_path), SITE, "-y"]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "Starting operation: Base system | Install base packages" in line:
            sandbox.client.containers.get(sandbox.container_name("worker2")).kill()
            break
    seen += process.stderr.readlines()
    assert process.wait(timeout=900) != 0
    log = "".join(seen)
    # The lost host's error says so, in one line and in words; no traceback.
    lost = [line for line in seen if line.strip().startswith("[worker2]") and "rror" in line]
    assert any("connection lost" in line for line in lost), lost
    assert "Traceback" not in log, log[-3000:]
    # The others went on to the end of the deploy.
    assert "Starting operation: Slurm controller (head) | slurmctld running and enabled" in log
    for host in ("head", "worker1"):
        assert sandbox.exec(host, "dpkg -s tmux >/dev/null")[0] == 0

    sandbox.up(workers=2)  # the worker comes back (same container, same address)
    result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    assert sandbox.exec("worker2", "dpkg -s tmux >/dev/null")[0] == 0
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=180)
    assert changed_ops(run_pyinfra(sandbox.inventory_path, SITE, "-y").json) == {}


# -- e. a worker killed during a package's unpack heals on the next run --------------------

# Install git (a base package) again and kill dpkg while it unpacks git's files: dpkg's
# database then says half-installed, reinst-required (iHR), which `dpkg --configure -a`
# cannot finish. The kill is of apt's own children, found by apt's pid.
KILL_DURING_UNPACK = (
    "export DEBIAN_FRONTEND=noninteractive; "
    "apt-get remove -y -q git >/dev/null 2>&1 && apt-get install -d -y -q git >/dev/null 2>&1 "
    "|| exit 1; "
    "apt-get install -y -q git >/dev/null 2>&1 & apt=$!; "
    "until dpkg-query -W -f='${db:Status-Abbrev}' git 2>/dev/null | grep -q H; do :; done; "
    "kill -9 $(ps -o pid= --ppid $apt); wait $apt; "
    "dpkg-query -W -f='${db:Status-Abbrev}' git"
)


def test_a_worker_killed_during_an_unpack_heals_on_the_next_run(sandbox, converged):
    rc, out = sandbox.exec("worker1", KILL_DURING_UNPACK)
    assert out.split()[-1:] == ["iHR"], out
    sandbox.client.containers.get(sandbox.container_name("worker1")).restart()
    sandbox.up()  # the same fleet, resumed
    assert "git" in sandbox.exec("worker1", "dpkg --audit")[1]

    result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
    changed = changed_ops(result)
    assert changed["Base system | dpkg finished any interrupted work"] == ["worker1"]
    rc, audit = sandbox.exec("worker1", "dpkg --audit")
    assert (rc, audit.strip()) == (0, ""), audit
    assert sandbox.exec("worker1", "dpkg-query -W -f='${db:Status-Abbrev}' git")[1] == "ii "
    rc, out = sandbox.exec("worker1", "git --version")
    assert rc == 0 and out.startswith("git version"), out
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=180)
    assert changed_ops(run_pyinfra(sandbox.inventory_path, SITE, "-y").json) == {}


# -- the CUDA manifest is part of the worker deploy -------------------------------------------


@pytest.fixture(scope="module")
def stub_manifest(sandbox, tmp_path_factory):
    """The stub vendor repository, served on the sandbox network, and a manifest made from
    it (cuda-11-5 with the stub driver)."""
    tmp_path = tmp_path_factory.mktemp("stub")
    with StubRepo() as stub:
        serve_stub(stub, sandbox, tmp_path)
        yield create(stub, sandbox, tmp_path / "cuda-11-5.yaml", "cuda-11-5")


def test_workers_install_their_cuda_manifest_before_slurmd(
    sandbox, converged, pyinfra, stub_manifest
):
    manifest = stub_manifest
    path = manifest.path
    override = sandbox.group_data_dir / "slurm_worker.py"
    no_manifest = override.read_text()  # the sandbox's own
    override.write_text(f"cuda_manifest = {str(path)!r}\n")
    try:
        result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
        names = [op["name"] for op in result["results"]["operations"]]
        install = next(n for n in names if n.startswith("CUDA manifest | Install exactly"))
        slurmd = next(n for n in names if n.startswith("Slurm node daemon (worker) | Install"))
        assert names.index(install) < names.index(slurmd)
        assert changed_ops(result)[install] == ["worker1", "worker2"]
        for worker in ("worker1", "worker2"):
            _, out = sandbox.exec(worker, "dpkg-query -W -f='${Package} ${Version}\\n'")
            installed = dict(line.split() for line in out.splitlines())
            for package in manifest.packages:
                assert installed[package.name] == package.version
            held = set(sandbox.exec(worker, "apt-mark showhold")[1].split())
            assert {p.name for p in manifest.packages} <= held
        # The driver stub's nvidia-smi now answers: GPUs come from it, not device files.
        smi = run_pyinfra(sandbox.inventory_path, "fact", "facts.nvidia.NvidiaSmi").json
        for worker in ("worker1", "worker2"):
            assert smi["facts.nvidia.NvidiaSmi"][worker]["state"] == "ok"
            assert smi["facts.nvidia.NvidiaSmi"][worker]["gpu_count"] == 2
        assert changed_ops(run_pyinfra(sandbox.inventory_path, SITE, "-y").json) == {}
        checks.wait_for_idle_nodes(sandbox, count=2)
        # The stub's model is the sandbox partition's: the same Gres, now from nvidia-smi.
        assert node_gres(sandbox, "worker2") == f"Gres=gpu:{STUB_GPU_TYPE}:2"
        out = checks.head_shell(
            sandbox,
            "srun -w worker2 --gres=gpu:2 sh -c 'echo $CUDA_VISIBLE_DEVICES'",
            user="slurm",
        )
        assert out.strip() == "0,1"
        # Now that a driver names the model, a partition declaring another is refused.
        all_py = sandbox.group_data_dir / "all.py"
        original = all_py.read_text()
        all_py.write_text(
            original + '\nslurm_partitions = [{**p, "gpu_type": "nvidia_titan_xp"} '
            'if p["name"] == "txp" else p for p in slurm_partitions]\n'
        )
        try:
            err = _refused(pyinfra, sandbox)
        finally:
            all_py.write_text(original)
        for worker in ("worker1", "worker2"):
            assert (
                f"{worker}: nvidia-smi found GPU model geforce_rtx_2080_ti "
                "('GeForce RTX 2080 Ti') but partition txp declares gpu_type nvidia_titan_xp"
            ) in err
    finally:
        override.write_text(no_manifest)


# -- b. a brand-new GPU worker, no driver and no device files, joins in one run ---------------


def test_a_new_gpu_worker_without_a_driver_joins_in_one_run(sandbox, converged, stub_manifest):
    override = sandbox.group_data_dir / "slurm_worker.py"
    no_manifest = override.read_text()  # the sandbox's own
    override.write_text(f"cuda_manifest = {str(stub_manifest.path)!r}\n")
    fleet = sandbox.fleet()
    try:
        # Its data declares 2 GPUs (the partition's); it may use them, but has neither
        # device files nor nvidia-smi: the cluster's manifest brings the driver.
        sandbox.up(fleet=fleet.with_worker("worker3", driver=False))
        assert sandbox.exec("worker3", "ls /dev/nvidia* || command -v nvidia-smi")[0] != 0

        started = time.monotonic()
        result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
        print(f"\nworker3 joined in {time.monotonic() - started:.0f}s")
        names = [op["name"] for op in result["results"]["operations"]]
        order = [
            next(n for n in names if part in n)
            for part in (
                "CUDA manifest | Install exactly",
                "The NVIDIA driver is loaded",
                "2 GPUs answer",
                "Slurm node daemon (worker) | Install",
            )
        ]
        assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)
        changed = changed_ops(result)
        assert changed[order[0]] == ["worker3"]
        assert changed[order[1]] == ["worker3"]  # the driver was loaded there alone
        assert order[2] not in changed  # a check changes nothing

        checks.wait_for_idle_nodes(sandbox, count=3, timeout=180)
        assert node_gres(sandbox, "worker3") == f"Gres=gpu:{STUB_GPU_TYPE}:2"
        out = checks.head_shell(
            sandbox, f"srun -Q -w worker3 --gres=gpu:2 {OPEN_GPUS}", user="slurm"
        )
        seen = dict(line.split(":") for line in out.splitlines())
        # Both GPUs given to the job and open to it (ENXIO: no real driver behind).
        assert seen == {"/dev/nvidia0": "ENXIO", "/dev/nvidia1": "ENXIO", "step_gpus": "0,1"}

        assert changed_ops(run_pyinfra(sandbox.inventory_path, SITE, "-y").json) == {}
    finally:
        override.write_text(no_manifest)
        sandbox.up(fleet=fleet)


def test_secrets_file_and_keys_are_private(sandbox):
    for path in (sandbox.secrets_path, sandbox.key_path):
        assert Path(path).stat().st_mode & 0o077 == 0
    digest = hashlib.sha256(sandbox.secrets_path.read_bytes()).hexdigest()
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in tracked:
        file = REPO_ROOT / name.decode()
        if name and file.is_file():
            assert hashlib.sha256(file.read_bytes()).hexdigest() != digest
