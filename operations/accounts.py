"""Accounts whose ids are enforced and that can be taken away.

pyinfra's ``server.user``/``server.group`` create accounts with an id but never change the
id of one that exists, and never lock one. These operations close both gaps; they run
around them (``deploys/concerns/users.py``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.operations import files

from facts.accounts import HostAccounts

NOLOGIN = "/usr/sbin/nologin"
# shadow's expiry day of a locked account: 1970-01-02, long past. An expired account is
# refused by PAM for every way in, SSH keys included (a '!' password alone is not: sshd
# with UsePAM does not look at it).
LOCKED_EXPIRY = 1


def _busy(uid: int) -> str:
    """Shell test: a process of ``uid`` runs (/proc/<pid> belongs to the process's user)."""
    found = f"find /proc -mindepth 1 -maxdepth 1 -name '[0-9]*' -uid {uid} -print -quit"
    return f'[ -n "$({found})" ]'


@operation()
def ids(groups: Mapping[str, int], users: Mapping[str, int]):
    """
    Give groups and users that exist with another id the fixed one, or refuse clearly.

    + groups: group name -> gid (``groupmod -g``; its members keep it as primary group)
    + users: user name -> uid (``usermod -u``, only while no process of the user runs;
      usermod also re-owns the files in the home directory, nothing else)

    An id another account already holds is refused (raised before anything changes), also
    for an account that does not exist yet (``useradd`` would fail half-way otherwise).

    .. code:: python

        ids(name="Fixed ids", groups={"admin": 3000}, users={"admin": 3000})
    """
    accounts = host.get_fact(HostAccounts)
    problems = []
    commands = []
    for name, gid in groups.items():
        holder = accounts.group_with_gid(gid)
        if holder not in (None, name):
            problems.append(f"gid {gid} of group {name!r} belongs to group {holder!r}")
        elif name in accounts.groups and accounts.groups[name] != gid:
            commands.append(f"groupmod -g {gid} {shlex.quote(name)}")
    for name, uid in users.items():
        holder = accounts.user_with_uid(uid)
        if holder not in (None, name):
            problems.append(f"uid {uid} of user {name!r} belongs to user {holder!r}")
        elif name in accounts.users and accounts.users[name].uid != uid:
            old = accounts.users[name].uid
            commands.append(
                f"if {_busy(old)}; then echo 'user {name}: processes of uid {old} still run;"
                f" stop them, then converge again to change its uid to {uid}' >&2; exit 1; fi;"
                f" usermod -u {uid} {shlex.quote(name)}"
            )
    if problems:
        raise OperationError("; ".join(problems) + " (change one of them by hand)")
    if not commands:
        host.noop("every existing group and user has its fixed id")
    for command in commands:
        yield StringCommand(command)


@operation()
def locked(user: str, locked: bool = True):
    """
    Lock a user that was removed from the data (or unlock one that is back in it).

    + user: the login name
    + locked: True: ``usermod -L``, expired (``-e 1``), shell ``/usr/sbin/nologin``, and
      its ``~/.ssh/authorized_keys`` removed; the home stays. False: undo the expiry of an
      account locked by this operation (``server.user`` sets the shell back; the password
      stays locked, as a new account's is).

    .. code:: python

        locked(name="Lock removed user bob", user="bob")
    """
    account = host.get_fact(HostAccounts).users.get(user)
    if account is None:
        host.noop(f"user {user} does not exist")
        return
    quoted = shlex.quote(user)
    if not locked:
        if account.expire == LOCKED_EXPIRY:
            yield StringCommand(f"usermod -e '' {quoted}")
        else:
            host.noop(f"user {user} is not locked")
        return
    if account.expire == LOCKED_EXPIRY and account.shell == NOLOGIN:
        host.noop(f"user {user} is locked")
    else:
        yield StringCommand(f"usermod -L -e {LOCKED_EXPIRY} -s {NOLOGIN} {quoted}")
    yield from files.file._inner(path=f"{account.home}/.ssh/authorized_keys", present=False)
