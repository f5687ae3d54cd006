"""Issue 10, tried as an attacker and a careless admin would, on the converged sandbox.

Access that can be taken away (proved by real SSH logins with a throwaway key pair made
here), ids that are enforced, a proxy that is not a way into the head, storage that never
shares the SlurmUser's home. Runs after test_cluster on the session sandbox.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.test_cluster import SITE, changed_ops, planned_changes

USER = "hardy"


@pytest.fixture(scope="module")
def converged(sandbox, pyinfra):
    result = pyinfra(SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    return result


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory):
    """A throwaway ed25519 key pair (never committed): (private key path, public line)."""
    path = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hardy@test", "-f", str(path)],
        check=True,
    )
    return path, path.with_suffix(".pub").read_text().strip()


def ssh_login(sandbox, host: str, key) -> subprocess.CompletedProcess:
    address = next(h.address for h in sandbox.hosts() if h.name == host)
    return subprocess.run(
        [
            "ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", f"{USER}@{address}", "id -u",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


MARK = "\n# -- test_hardening --\n"


def set_user(sandbox, key: str | None = None, uid: int | None = 2801, gid: int = 2901) -> None:
    """The sandbox's group data plus USER (in group hardies); uid None: USER removed."""
    path = sandbox.group_data_dir / "all.py"
    text = path.read_text().split(MARK)[0]
    if uid is not None:
        user = {"name": USER, "uid": uid, "groups": ["hardies"], "ssh_keys": [key] if key else []}
        text += (
            f"{MARK}groups = [*__production['groups'], {{'name': 'hardies', 'gid': {gid}}}]\n"
            f"users = [*__production['users'], {user!r}]\n"
        )
    path.write_text(text)


@pytest.fixture(scope="module")
def restore_group_data(sandbox):
    path = sandbox.group_data_dir / "all.py"
    original = path.read_text()
    yield
    path.write_text(original)


def converge(pyinfra) -> dict[str, list[str]]:
    result = pyinfra(SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    return changed_ops(result)


def test_access_is_given_and_taken_away(sandbox, converged, pyinfra, key_pair, restore_group_data):
    key, public = key_pair
    everywhere = ["head", "worker1", "worker2"]

    # Given: a user with a key logs in.
    set_user(sandbox, public)
    converge(pyinfra)
    login = ssh_login(sandbox, "worker1", key)
    assert (login.returncode, login.stdout.strip()) == (0, "2801"), login.stderr

    # Its keys emptied: the old key no longer logs in, anywhere.
    set_user(sandbox, None)
    changed = converge(pyinfra)
    assert changed[f"Users and groups | User {USER} (uid 2801)"] == everywhere
    for host in everywhere:
        login = ssh_login(sandbox, host, key)
        assert login.returncode == 255 and "Permission denied" in login.stderr, login

    # Removed from the data (its key back first): the preview says what happens, then it
    # is locked, keyless, without sudo, and its home stays.
    set_user(sandbox, public)
    converge(pyinfra)
    assert ssh_login(sandbox, "head", key).returncode == 0
    set_user(sandbox, uid=None)
    lock = f"Users and groups | Lock removed user {USER}: no login, no keys, no sudo (home kept)"
    plan = planned_changes(pyinfra(SITE, "--dry").json)
    assert plan[lock] == everywhere
    assert converge(pyinfra)[lock] == everywhere
    for host in everywhere:
        login = ssh_login(sandbox, host, key)
        assert login.returncode == 255, login
        _, out = sandbox.exec(
            host,
            f"getent passwd {USER} | cut -d: -f7; getent shadow {USER} | cut -d: -f8;"
            f" test -d /home/{USER} && echo home; test -e /home/{USER}/.ssh/authorized_keys"
            f" || echo no-keys; sudo -l -U {USER} | tail -1",
        )
        lines = out.splitlines()
        assert lines[:4] == ["/usr/sbin/nologin", "1", "home", "no-keys"], out
        assert "not allowed to run sudo" in lines[4], out
    assert converge(pyinfra) == {}  # locked stays locked, nothing else moves

    # Back in the data with other ids: unlocked, uid and gid changed, home re-owned.
    set_user(sandbox, public, uid=2802, gid=2902)
    changed = converge(pyinfra)
    assert changed["Users and groups | Fixed ids for groups and users that exist"] == everywhere
    for host in everywhere:
        login = ssh_login(sandbox, host, key)
        assert (login.returncode, login.stdout.strip()) == (0, "2802"), login.stderr
        _, out = sandbox.exec(
            host,
            f"getent group hardies | cut -d: -f3; stat -c %u /home/{USER}/.ssh/authorized_keys",
        )
        assert out.split() == ["2902", "2802"], out
    assert converge(pyinfra) == {}


def test_a_taken_uid_is_refused_with_both_names(sandbox, converged, pyinfra, restore_group_data):
    assert sandbox.exec("worker2", "useradd -u 2150 intruder")[0] == 0
    try:
        path = sandbox.group_data_dir / "all.py"
        base = path.read_text().split(MARK)[0]
        path.write_text(
            f"{base}{MARK}users = [*__production['users'], {{'name': 'carla', 'uid': 2150}}]\n"
        )
        result = pyinfra(SITE, "-y", check=False, json_output=False)
        assert result.returncode != 0
        assert "uid 2150 of user 'carla' belongs to user 'intruder'" in result.stderr
        assert sandbox.exec("worker2", "id -u carla")[0] != 0
    finally:
        path.write_text(base)
        sandbox.exec("worker2", "userdel intruder")


# -- the proxy is not a way into the head --------------------------------------------------


def through_proxy(sandbox, url: str) -> tuple[str, str]:
    """(HTTP status, body) of ``url`` fetched from worker1 through the head's proxy."""
    _, out = sandbox.exec(
        "worker1",
        f"curl -g -s -m 20 -w '\\n%{{http_code}}' -x http://head:8123 '{url}' | tail -c 2000",
    )
    body, _, code = out.rpartition("\n")
    return code.strip(), body


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3306/",  # MariaDB, localhost-only on the head
        "http://localhost:3306/",
        "http://head:3306/",
        "http://head:22/",
        "http://[::1]:3306/",  # once aborted squid (an IPv6 literal, squid without IPv6)
    ],
)
def test_proxy_refuses_the_heads_own_services(sandbox, converged, url):
    code, body = through_proxy(sandbox, url)
    assert code == "403", body
    assert "mysql" not in body.lower() and "mariadb" not in body.lower() and "SSH-" not in body


def test_apt_through_the_proxy_still_works_and_3128_is_gone(sandbox, converged):
    rc, out = sandbox.exec("worker2", "apt-get -q update 2>&1")
    assert rc == 0 and "Err:" not in out, out
    rc, log = sandbox.exec("head", "grep -c ' TCP_' /var/log/squid/access.log")
    assert int(log) > 0
    _, out = sandbox.exec("head", "ss -Hltn")
    listening = {line.split()[3] for line in out.splitlines()}
    head = next(h.address for h in sandbox.hosts() if h.name == "head")
    assert {a for a in listening if a.endswith((":8123", ":3128"))} == {f"{head}:8123"}, out


# -- shared storage ------------------------------------------------------------------------


def test_slurm_home_is_local_and_mounts_are_nodev(sandbox, converged):
    for worker in ("worker1", "worker2"):
        # Not a (shared) mount: each host's own directory.
        assert sandbox.exec(worker, "findmnt -n /home/slurm")[0] != 0
        _, unit = sandbox.exec(worker, "systemctl cat data-rw.mount")
        assert "Options=nosuid,nodev," in unit
    _, exports = sandbox.exec("head", "cat /etc/exports")
    assert "/home/slurm" not in exports


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            '{**__production["storage"]["exports"][1], "path": "/etc"}',
            "storage.exports[1].path: '/etc' is a system path",
        ),
        (
            '{**__production["storage"]["exports"][1], "path": "/home/slurm"}',
            "storage.exports[1].path: '/home/slurm' holds the SlurmUser's home",
        ),
        (
            '{**__production["storage"]["exports"][1], "mode": "4777"}',
            "storage.exports[1].mode: '4777' sets the setuid or setgid bit",
        ),
    ],
)
def test_dangerous_storage_is_refused_before_any_host(sandbox, pyinfra, change, message):
    path = sandbox.group_data_dir / "all.py"
    original = path.read_text()
    path.write_text(
        original + "\nstorage = {**__production['storage'], 'exports': "
        f"[__production['storage']['exports'][0], {change}]}}\n"
    )
    try:
        result = pyinfra(SITE, "-y", check=False, json_output=False)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Beginning operation run" not in result.stderr
