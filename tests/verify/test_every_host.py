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


def test_user_may_sudo_exactly_when_an_admin(host, user):
    listing = host.check_output("sudo -n -l -U %s", user.name)
    if user.sudo:
        assert "(ALL : ALL) NOPASSWD: ALL" in listing
    else:
        assert f"User {user.name} is not allowed to run sudo" in listing


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
