"""Bad input is refused before any host is touched: through the real pyinfra CLI, against the
sandbox's inventory, each case must exit 1 having opened no connection, print exactly one
`error:` line naming the file and the field, and no traceback (nor leave pyinfra-debug.log).

Runs on the session sandbox before it is converged (nothing here reaches a host).
"""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.pyinfra_run import REPO_ROOT

ALL = "group_data/all.py"
# The index a user appended to production's users gets.
NEW = len(runpy.run_path(str(REPO_ROOT / "group_data" / "all.py"))["users"])
TXP = "group_data/txp.py"
WORKER = "group_data/slurm_worker.py"
USER = 'users = [*__production["users"], {extra}]'
REAL_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/I95HQM/Wr9XZkQzXfhFSpqmIiGx0fIegDNtkkoOHW a@b"

# (group data file of the sandbox, text appended to it, what the error line must say)
DATA_CASES: dict[str, tuple[str, str, str]] = {
    "duplicate uid": (
        ALL,
        USER.format(extra='{"name": "bob", "uid": 3000}'),
        f"users[{NEW}].uid: duplicate uid 3000",
    ),
    "system account name": (
        ALL,
        USER.format(extra='{"name": "root", "uid": 2000}'),
        f"users[{NEW}].name: 'root' is a system account",
    ),
    "ssh key that is no key": (
        ALL,
        USER.format(extra='{"name": "bob", "uid": 2000, "ssh_keys": ["ssh-ed25519 AAAA"]}'),
        f"users[{NEW}].ssh_keys[0]: is not an OpenSSH public key",
    ),
    "ssh_key typo": (
        ALL,
        USER.format(extra=f'{{"name": "bob", "uid": 2000, "ssh_key": ["{REAL_KEY}"]}}'),
        f"users[{NEW}].ssh_key: unknown key (did you mean 'ssh_keys'?)",
    ),
    "sudoer typo": (
        ALL,
        USER.format(extra='{"name": "bob", "uid": 2000, "sudoer": True}'),
        f"users[{NEW}].sudoer: unknown key (did you mean 'sudo'?)",
    ),
    "uid as text": (
        ALL,
        USER.format(extra='{"name": "bob", "uid": "2000"}'),
        f"users[{NEW}].uid: expected int, got str",
    ),
    "uid below the range": (
        ALL,
        USER.format(extra='{"name": "bob", "uid": 999}'),
        f"users[{NEW}].uid: 999 is outside the allowed range",
    ),
    "unknown group": (
        ALL,
        USER.format(extra='{"name": "bob", "uid": 2000, "groups": ["wheel"]}'),
        f"users[{NEW}].groups[0]: unknown group 'wheel'",
    ),
    "default group missing": (
        ALL,
        'default_user_group = "people"\n' + USER.format(extra='{"name": "bob", "uid": 2000}'),
        "default_user_group: unknown group 'people' (not in groups;",
    ),
    "proxy port as text": (
        ALL,
        'proxy = {**__production["proxy"], "port": "8123"}',
        "proxy.port: expected int, got str ('8123')",
    ),
    "proxy port too big": (
        ALL,
        'proxy = {**__production["proxy"], "port": 70000}',
        "proxy.port: must be <= 65535",
    ),
    "no_proxy injection": (
        ALL,
        'proxy = {**__production["proxy"], "no_proxy": ["x$(touch /tmp/x)"]}',
        "proxy.no_proxy[0]: 'x$(touch /tmp/x)' is not a host",
    ),
    "proxy key typo": (
        ALL,
        'proxy = {**__production["proxy"], "prot": 8123}',
        "proxy.prot: unknown key (did you mean 'port'?)",
    ),
    "timezone escape": (
        ALL,
        'timezone = "../../etc/passwd"',
        "timezone: '../../etc/passwd' is not a zoneinfo name",
    ),
    "timezone typo": (
        ALL,
        'timezon = "Etc/UTC"',
        "timezon: unknown key (did you mean 'timezone'?)",
    ),
    "subnet is the internet": (
        ALL,
        'cluster_subnet = "0.0.0.0/0"',
        "cluster_subnet: must not be the whole internet",
    ),
    "subnet with host bits": (
        ALL,
        'cluster_subnet = "10.1.2.3/8"',
        "cluster_subnet: '10.1.2.3/8' is not a network",
    ),
    "head address with a space": (
        ALL,
        'cluster_head_address = "head node"',
        "cluster_head_address: 'head node' is not a host name",
    ),
    "uid_range into system ids": (ALL, "uid_range = [0, 59999]", "uid_range: expected [low, high]"),
    "slurm.conf key typo": (
        ALL,
        'slurm = {**__production["slurm"], "config": {"SchedulerTyp": "sched/backfill"}}',
        "slurm.config.SchedulerTyp: not a slurm.conf setting of Slurm 22.05 (did you mean 'SchedulerType'?)",
    ),
    "slurm.conf derived key": (
        ALL,
        'slurm = {**__production["slurm"], "config": {"ClusterName": "x"}}',
        "slurm.config.ClusterName: ClusterName is set from slurm.cluster_name",
    ),
    "slurm.conf injected line": (
        ALL,
        'slurm = {**__production["slurm"], "config": {"MaxJobCount": "5\\nSlurmUser=root"}}',
        "slurm.config.MaxJobCount:",
    ),
    "ReturnToService 3": (
        ALL,
        'slurm = {**__production["slurm"], "config": {"ReturnToService": 3}}',
        "slurm.config.ReturnToService: must be one of 0, 1, 2, got 3",
    ),
    "unsupported Slurm version": (
        ALL,
        'slurm = {**__production["slurm"], "version": "21.08"}',
        "slurm.version: must be '22.05' or '24.11'",
    ),
    "old extra_config key": (
        ALL,
        'slurm = {**__production["slurm"], "extra_config": {"DefMemPerCPU": 1}}',
        "slurm.extra_config: unknown key (did you mean 'config'?)",
    ),
    "memory reserve of 10 TB": (
        ALL,
        'slurm = {**__production["slurm"], "memory_reserve_mib": 10**7}',
        "slurm.memory_reserve_mib: must be <= 262144",
    ),
    "max_time with an injected line": (
        ALL,
        'slurm_partitions = [{**slurm_partitions[0], "max_time": "INFINITE\\nSlurmUser=root"}]',
        "slurm_partitions[0].max_time:",
    ),
    "partition without hosts": (
        ALL,
        'slurm_partitions = __production["slurm_partitions"]',
        "slurm_partitions[1].name: partition 'g2080' has no members",
    ),
    "partition key typo": (
        ALL,
        'slurm_partitions = [{**slurm_partitions[0], "defualt": True}]',
        "slurm_partitions[0].defualt: unknown key (did you mean 'default'?)",
    ),
    "base package with a command": (
        ALL,
        'base_packages = ["vim;touch /tmp/x"]',
        "base_packages[0]: 'vim;touch /tmp/x' is not a Debian package name",
    ),
    "storage mode": (
        ALL,
        'storage = {**storage, "mode": "smb"}',
        "storage.mode: must be 'nfs' or 'shared-volume', got 'smb'",
    ),
    "export path relative": (
        ALL,
        'storage = {**storage, "exports": [{**storage["exports"][0], "path": "data"}]}',
        "storage.exports[0].path: 'data' is not a plain, normalized absolute path",
    ),
    "export owner unknown": (
        ALL,
        'storage = {**storage, "exports": [{**storage["exports"][0], "owner": "nobody2"}]}',
        "storage.exports[0].owner: unknown user 'nobody2'",
    ),
    "export mode not octal": (
        ALL,
        'storage = {**storage, "exports": [{**storage["exports"][0], "mode": "0790"}]}',
        "storage.exports[0].mode: '0790' is not an octal mode",
    ),
    "repeated key in a dict": (
        ALL,
        'proxy = {"port": 8123, "port": 3128}',
        "key 'port' appears twice in one mapping",
    ),
    "syntax error": (ALL, "proxy = {", "group_data/all.py:"),  # the line number follows
    "node cpus as text": (
        TXP,
        'node = {"cpus": "48"}',
        "group_data/txp.py: host worker1: node.cpus: expected int, got str ('48')",
    ),
    "node gpu typo": (TXP, 'node = {"gpu": 2}', "node.gpu: unknown key (did you mean 'gpus'?)"),
    "node negative gpus": (TXP, 'node = {"gpus": -1}', "node.gpus: must be >= 0, got -1"),
    "node device glob with a command": (
        TXP,
        'node = {"gpus": 2, "gpu_device_glob": "/dev/nvidia*;reboot"}',
        "node.gpu_device_glob:",
    ),
    "cuda_manifest twice for one release": (
        WORKER,
        'cuda_manifest = ["manifests/nvidia-535-debian12.yaml", "manifests/cuda-11-5.yaml",'
        ' "manifests/nvidia-535-debian12.yaml"]',
        "cuda_manifest: nvidia-535-debian12 and nvidia-535-debian12 are both for",
    ),
    "cuda_manifest missing": (
        WORKER,
        'cuda_manifest = "manifests/nope.yaml"',
        "manifests/nope.yaml",
    ),
    "cuda_remove_unlisted as text": (
        WORKER,
        'cuda_remove_unlisted = "yes"',
        "cuda_remove_unlisted: expected bool, got str ('yes')",
    ),
}


def run_site(inventory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", str(inventory), "deploys/site.py", "--dry"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_refused(done: subprocess.CompletedProcess, *expected: str) -> str:
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert done.returncode == 1, output[-3000:]
    assert len(errors) == 1, output[-3000:]
    for text in expected:
        assert text in errors[0], errors[0]
    assert "Traceback" not in output
    assert "Connecting to hosts" not in output and "Connected" not in output
    assert not (REPO_ROOT / "pyinfra-debug.log").exists()
    return errors[0]


@pytest.fixture
def restore(sandbox):
    """Every sandbox file a case may edit is put back afterwards."""
    saved = {}
    for path in [
        *sandbox.group_data_dir.glob("*.py"),
        sandbox.secrets_path,
        sandbox.inventory_path,
    ]:
        saved[path] = (path.read_bytes(), path.stat().st_mode)
    created = sandbox.group_data_dir / "slurm_worker.py"
    yield
    if created not in saved and created.exists():
        created.unlink()
    for path, (content, mode) in saved.items():
        if path.is_dir():
            shutil.rmtree(path)
        path.write_bytes(content)
        path.chmod(mode)


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_group_data_is_refused_before_connecting(sandbox, restore, case):
    name, text, expected = DATA_CASES[case]
    path = sandbox.group_data_dir / Path(name).name
    before = path.read_text() if path.exists() else ""
    path.write_text(before + "\n" + text + "\n")
    shown = f".sandbox/{sandbox.name}/{name}"
    in_file = [] if expected.startswith("manifests/") else [shown]
    assert_refused(run_site(sandbox.inventory_path), expected, *in_file)


SECRETS_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "readable by others": (lambda p: p.chmod(0o644), "is readable by others (mode 0644)"),
    "munge key missing": (
        lambda p: p.write_text("slurmdbd_db_password: a-long-Passw0rd-here\n"),
        "munge_key is missing",
    ),
    "key typo": (
        lambda p: p.write_text(p.read_text() + "munge_kye: x\n"),
        "munge_kye: unknown key (did you mean 'munge_key'?)",
    ),
    "repeated key": (
        lambda p: p.write_text(p.read_text() + "slurmdbd_db_password: another-Passw0rd-x\n"),
        "slurmdbd_db_password is a duplicate key",
    ),
    "a directory": (lambda p: (p.unlink(), p.mkdir()), "is not a regular file"),
    "absent": (lambda p: p.unlink(), "does not exist"),
}


@pytest.mark.parametrize("case", list(SECRETS_CASES))
def test_bad_secrets_are_refused_before_connecting(sandbox, restore, case):
    change, expected = SECRETS_CASES[case]
    original = sandbox.secrets_path.read_text()
    change(sandbox.secrets_path)
    line = assert_refused(run_site(sandbox.inventory_path), str(sandbox.secrets_path), expected)
    for value in original.split():
        if len(value) > 12:
            assert value not in line  # no secret in the message


def test_inventory_problems_are_refused_before_connecting(sandbox, restore):
    text = sandbox.inventory_path.read_text()
    sandbox.inventory_path.write_text(text + "\ntxp = [*txp, ('head', slurm_head[0][1])]\n")
    assert_refused(run_site(sandbox.inventory_path), "unknown partition member 'head'")
    sandbox.inventory_path.write_text(text + "\nslurm_head = [*slurm_head, *txp]\n")
    assert_refused(run_site(sandbox.inventory_path), "inventory")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda t: t.replace(
                "keyring: /usr/share/keyrings/", "keyring: /etc/apt/trusted.gpg.d/"
            ),
            "source.keyring: '/etc/apt/trusted.gpg.d/",
        ),
        (lambda t: t.replace("  suite: /\n", "  suite: /\n  suite: /\n"), "duplicate key"),
    ],
)
def test_bad_manifest_is_refused_before_connecting(sandbox, restore, tmp_path, edit, expected):
    source = REPO_ROOT / "manifests"
    for path in source.glob("cuda-11-5*"):
        shutil.copy(path, tmp_path / path.name)
    manifest = tmp_path / "cuda-11-5.yaml"
    manifest.write_text(edit(manifest.read_text()))
    (sandbox.group_data_dir / "slurm_worker.py").write_text(f"cuda_manifest = {str(manifest)!r}\n")
    assert_refused(run_site(sandbox.inventory_path), str(manifest), expected)
