"""The accounts parser (getent output) and the record of managed users."""

from __future__ import annotations

import pytest

from deploys.concerns.users import managed_users
from snakepit.parsers.accounts import Account, parse_accounts
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
