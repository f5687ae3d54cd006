"""The accounts parser (getent output) and the record of managed users."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from deploys.concerns.users import managed_users
from snakepit.parsers.accounts import Account, parse_accounts, parse_user_state
from tests.unit.production_data import production_cluster

# What the HostAccounts fact prints on a converged Debian 12 host (shortened).
OUTPUT = """\
## users
root:x:0:0:root:/root:/bin/bash
munge:x:100:101::/nonexistent:/usr/sbin/nologin
slurm:x:1877:1877:Slurm workload manager:/home/slurm:/bin/bash
bob:x:2001:100::/home/bob:/usr/sbin/nologin
## groups
root:x:0:
users:x:100:bob
slurm:x:1877:
## expiry
root:
munge:
slurm:
bob:1
"""


def test_parse_accounts():
    accounts = parse_accounts(OUTPUT)
    assert accounts.users["slurm"] == Account("slurm", 1877, 1877, "/home/slurm", "/bin/bash", None)
    assert accounts.users["bob"].expire == 1
    assert accounts.groups == {"root": 0, "users": 100, "slurm": 1877}
    assert accounts.user_with_uid(100) == "munge"
    assert accounts.group_with_gid(100) == "users"
    assert accounts.user_with_uid(5) is None


def test_parse_accounts_from_lines_and_empty():
    assert parse_accounts(OUTPUT.splitlines()) == parse_accounts(OUTPUT)
    assert parse_accounts("## users\n## groups\n## expiry\n").users == {}


def test_parse_accounts_refuses_a_stray_line():
    with pytest.raises(ValueError, match="unexpected line in ## users: 'garbage'"):
        parse_accounts("## users\ngarbage\n")


def test_managed_users_keeps_every_name_and_finds_the_removed():
    cluster = production_cluster()
    names = sorted(user.name for user in cluster.users)
    assert managed_users(None, cluster) == (names, [])
    assert managed_users(["slurm", "bob", "", "admin"], cluster) == (
        sorted([*names, "bob"]),
        ["bob"],
    )


def _user_state(user: str, home: Path):
    from facts.accounts import UserState

    command = UserState().command(user=user, home=str(home))
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    return UserState().process(done.stdout.splitlines())


def test_user_state_command_reads_a_real_user_and_its_keys(tmp_path):
    """The fact's own command, run by sh here, on this user with a home made for the test."""
    me, my_group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    home = tmp_path / "home with space"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh").chmod(0o700)
    keys = home / ".ssh/authorized_keys"
    keys.write_text("# comment\n\nssh-ed25519 AAAAC3Nz one@here\nssh-rsa AAAAB3 two\n")
    keys.chmod(0o600)
    state = _user_state(me, home)
    assert state.account is not None and state.account.uid == os.getuid()
    assert state.group == my_group
    assert state.home.is_dir and state.ssh_dir.mode == "700"
    assert state.keys_file.is_file and state.keys_file.mode == "600"
    assert (state.keys_file.user, state.keys_file.group) == (me, my_group)
    assert state.keys == ("ssh-ed25519 AAAAC3Nz one@here", "ssh-rsa AAAAB3 two")


def test_user_state_of_a_missing_user_and_home(tmp_path):
    state = _user_state("no-such-user-here", tmp_path / "absent")
    assert state.account is None
    assert state.home.kind == state.ssh_dir.kind == state.keys_file.kind == "absent"
    assert state.keys == ()
    (tmp_path / "link").symlink_to(tmp_path)
    assert _user_state(pwd.getpwuid(os.getuid()).pw_name, tmp_path / "link").home.kind == "link"


def test_parse_user_state_refuses_a_stray_line():
    with pytest.raises(ValueError, match="unexpected line"):
        parse_user_state(["passwd:", "mystery", "stat:absent"])
    with pytest.raises(ValueError, match="3 stat lines"):
        parse_user_state(["passwd:", "stat:absent", "## keys"])
