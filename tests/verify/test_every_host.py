"""Every host: the same ids everywhere, admins' sudo, and munge (Slurm's authentication).

Secrets are checked by owner and mode only: nothing here reads or prints them.
"""

from __future__ import annotations

SUDOERS_DROP_IN = "/etc/sudoers.d/snakepit-admins"
MUNGE_KEY = "/etc/munge/munge.key"


def test_group_has_its_fixed_gid(host, group):
    found = host.group(group.name)
    assert found.exists
    assert found.gid == group.gid


def test_user_has_its_fixed_uid_groups_and_home(host, user):
    found = host.user(user.name)
    assert found.exists
    assert (found.uid, found.group) == (user.uid, user.group)
    assert set(found.groups) - {user.group} == user.groups
    assert (found.home, found.shell) == (user.home, user.shell)


def test_user_may_sudo_exactly_as_the_rules_say(host, user):
    listing = host.check_output("sudo -n -l -U %s", user.name)
    if not user.sudo_runas:
        assert f"User {user.name} is not allowed to run sudo" in listing
    granted = {
        line.strip().split(")")[0].lstrip("(")
        for line in listing.splitlines()
        if line.strip().startswith("(") and line.strip().endswith("NOPASSWD: ALL")
    }
    assert granted == set(user.sudo_runas), listing


def test_etc_hosts_names_the_clusters_hosts(host, expected):
    lines = host.file("/etc/hosts").content_string.splitlines()
    for address, name in expected.hosts:
        assert f"{address} {name}" in lines
    names = {name for _, name in expected.hosts}
    for name in names:
        assert host.run("getent hosts %s", name).rc == 0


def test_root_accepts_the_datas_keys(host, expected, target):
    keys = expected.root_ssh_keys.get(target.name, ())
    if keys:
        authorized = host.file("/root/.ssh/authorized_keys").content_string.splitlines()
        for key in keys:
            assert key in authorized


def test_admins_sudoers_drop_in_is_root_only_and_valid(host):
    drop_in = host.file(SUDOERS_DROP_IN)
    assert drop_in.is_file
    assert (oct(drop_in.mode), drop_in.user, drop_in.group) == ("0o440", "root", "root")
    assert host.run("visudo -c -q -f %s", SUDOERS_DROP_IN).rc == 0


def test_munge_key_is_private_to_munge(host):
    key = host.file(MUNGE_KEY)
    assert key.is_file
    assert (oct(key.mode), key.user, key.group) == ("0o400", "munge", "munge")


def test_munge_is_running_and_enabled(host):
    munge = host.service("munge")
    assert munge.is_running
    assert munge.is_enabled


def test_munge_credential_decodes_locally(host):
    # unmunge prints the credential's metadata (status, hosts, uid, times), not the key.
    decoded = host.run("munge -n | unmunge")
    assert decoded.rc == 0, decoded.stderr
    assert "STATUS:          Success (0)" in decoded.stdout
