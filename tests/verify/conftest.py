"""A read-only check of a converged cluster, as a user or an admin would see it.

Run it against the hosts of any pyinfra inventory; the expected values (ids, exports, the
proxy port, partitions, GPUs) come from the same group data the deploys use
(tests/verify/expected.py), and nothing on a host is changed::

    INV=$(.venv/bin/python -m tools.sandbox --name NAME inventory)
    .venv/bin/python -m pytest tests/verify --inventory "$INV"

Each host is reached the way the inventory says (``ssh_hostname``, ``ssh_user``,
``ssh_port``, ``ssh_key``, ``ssh_strict_host_key_checking``, ``ssh_known_hosts_file``),
through pytest-testinfra's ``paramiko`` backend (``--connection=ssh`` for OpenSSH). To
reach hosts another way, name them yourself with testinfra's ``--hosts``; each must be an
inventory host's name or ``ssh_hostname``, which gives its role, e.g. one real worker as a
sudoer::

    .venv/bin/python -m pytest tests/verify --inventory inventory.py \\
        --hosts=ssh://me@192.168.1.14 --sudo

Tests marked ``role("head")`` or ``role("worker")`` run only on the hosts of that role (the
others are reported as deselected); unmarked tests run on every host. Without
``--inventory`` this folder is not collected (tests/conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.verify.expected import Expected, Target, load

EXPECTED = pytest.StashKey[Expected]()
SSH_CONNECTIONS = ("paramiko", "ssh", "safe-ssh")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "role(name): check only the hosts of this role ('head' or 'worker')"
    )
    inventory = config.getoption("inventory")
    if not inventory:
        raise pytest.UsageError("tests/verify checks real hosts: give --inventory INVENTORY_PY")
    expected = load(inventory)
    config.stash[EXPECTED] = expected
    if config.option.hosts is None:
        config.option.hosts = ",".join(_inventory_hostspecs(config, expected))


def _inventory_hostspecs(config: pytest.Config, expected: Expected) -> list[str]:
    """testinfra host specs that reach each inventory host through a generated ssh_config."""
    connection = config.option.connection or "paramiko"
    if connection not in SSH_CONNECTIONS:
        raise pytest.UsageError(
            f"--connection={connection}: the inventory's hosts are reached over SSH "
            f"({', '.join(SSH_CONNECTIONS)}); name other hosts with --hosts"
        )
    folder = Path(tempfile.mkdtemp(prefix="snakepit-verify-"))
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    ssh_config = folder / "ssh_config"
    ssh_config.touch(mode=0o600)
    ssh_config.write_text("".join(_ssh_config_block(t, folder) for t in expected.targets))
    if connection != "paramiko":
        config.add_cleanup(lambda: _stop_ssh_masters(ssh_config, expected.targets))
    return [f"{connection}://{t.name}?ssh_config={ssh_config}" for t in expected.targets]


def _ssh_config_block(target: Target, folder: Path) -> str:
    options = {
        "HostName": target.address,
        "User": target.user,
        "Port": target.port,
        "IdentityFile": target.key,
        "IdentitiesOnly": "yes" if target.key else None,
        "StrictHostKeyChecking": target.strict_host_key_checking,
        "UserKnownHostsFile": target.known_hosts_file,
        "LogLevel": "ERROR",
        # OpenSSH (--connection=ssh) reuses one connection per host instead of one per check.
        "ControlPath": f"{folder}/%C",
    }
    lines = [f"Host {target.name}"]
    lines += [f'    {key} "{value}"' for key, value in options.items() if value is not None]
    return "\n".join(lines) + "\n\n"


def _stop_ssh_masters(ssh_config: Path, targets: tuple[Target, ...]) -> None:
    for target in targets:
        subprocess.run(
            ["ssh", "-F", str(ssh_config), "-O", "exit", target.name],
            capture_output=True,
            check=False,
            timeout=10,
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per expected group, user or export, named after it."""
    expected = metafunc.config.stash[EXPECTED]
    for name, values, ids in (
        ("group", expected.groups, [g.name for g in expected.groups]),
        ("user", expected.users, [u.name for u in expected.users]),
        ("export", expected.exports, [e.path for e in expected.exports]),
    ):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=ids)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each role's tests to the hosts of that role."""
    expected = config.stash[EXPECTED]
    keep, deselected = [], []
    for item in items:
        marker = item.get_closest_marker("role")
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None or "_testinfra_host" not in callspec.params:
            keep.append(item)
            continue
        target = _target_of(expected, callspec.params["_testinfra_host"], config)
        (keep if target.role == marker.args[0] else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


def _target_of(expected: Expected, testinfra_host, config: pytest.Config) -> Target:
    name = testinfra_host.backend.hostname
    target = expected.target(name)
    if target is None:
        raise pytest.UsageError(
            f"--hosts: {name!r} is neither a host name nor an ssh_hostname in "
            f"{config.getoption('inventory')}"
        )
    return target


@pytest.fixture(scope="session")
def expected(request: pytest.FixtureRequest) -> Expected:
    return request.config.stash[EXPECTED]


@pytest.fixture(scope="module")
def target(host, expected: Expected) -> Target:
    """The inventory host under test (its name is its Slurm node name)."""
    found = expected.target(host.backend.hostname)
    assert found is not None, host.backend.hostname
    return found
