"""Accounts whose ids are enforced and that can be taken away.

pyinfra's ``server.group`` creates a group with an id but never changes the id of one that
exists, and nothing of pyinfra's locks an account. ``ids`` and ``locked`` close both gaps,
around ``server.group`` and ``user`` (``deploys/concerns/users.py``). ``user`` replaces
``server.user``: the same account, home and keys from one fact instead of about 17
commands.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.operations import files

from facts.accounts import HostAccounts, UserState

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
def user(
    user: str,
    uid: int,
    group: str,
    home: str,
    shell: str,
    groups: Sequence[str] = (),
    comment: str = "",
    public_keys: Sequence[str] = (),
):
    """
    A user exactly as declared, with its home, ``~/.ssh`` and ``authorized_keys``, in one
    remote command when anything differs (none when nothing does).

    + user, uid, group, shell, comment: the account (``useradd``; ``usermod`` for what
      differs; a uid that differs is ``ids``'s to change, with its checks)
    + home: the home directory, created with the account and owned by ``user:group``
      (an existing home is kept, re-owned if needed, never moved)
    + groups: exactly these supplementary groups (an empty list: none)
    + public_keys: exactly these lines in ``~/.ssh/authorized_keys`` (none: an empty
      file), in a directory of mode 700 and a file of mode 600, both ``user:group``

    pyinfra's ``server.user`` with ``public_keys`` does the same in about 17 commands and
    reads every account's password hash; this reads one fact (``UserState``).

    .. code:: python

        user(name="User bob", user="bob", uid=2001, group="users", home="/home/bob",
             shell="/bin/bash", groups=["admin"], public_keys=["ssh-ed25519 AAAA... bob"])
    """
    state = host.get_fact(UserState, user=user, home=home)
    owner = shlex.quote(f"{user}:{group}")
    ssh, keys_file = f"{home}/.ssh", f"{home}/.ssh/authorized_keys"
    steps = []
    if state.account is None:
        args = ["useradd", "-d", home, "-s", shell, "-g", group, "--uid", str(uid)]
        if groups:
            args += ["-G", ",".join(groups)]
        if comment:
            args += ["-c", comment]
        steps.append(shlex.join([*args, "-m", user]))
    else:
        mod = []
        if state.account.home != home:
            mod += ["-d", home]
        if state.account.shell != shell:
            mod += ["-s", shell]
        if state.group != group:
            mod += ["-g", group]
        if set(state.groups) != set(groups):
            mod += ["-G", ",".join(groups)]
        if comment and state.comment != comment:
            mod += ["-c", comment]
        if mod:
            steps.append(shlex.join(["usermod", *mod, user]))
    if state.home.kind == "absent":
        if state.account is not None:
            steps.append(f"mkdir -p {shlex.quote(home)} && chown {owner} {shlex.quote(home)}")
    elif state.home.is_dir:
        if (state.home.user, state.home.group) != (user, group):
            steps.append(f"chown {owner} {shlex.quote(home)}")
    elif state.home.kind != "link":
        raise OperationError(f"{home}, the home of {user}, is a {state.home.kind}")
    if state.ssh_dir.kind == "absent":
        steps.append(f"mkdir -p {shlex.quote(ssh)}")
    elif not state.ssh_dir.is_dir:
        raise OperationError(f"{ssh} is a {state.ssh_dir.kind}, not a directory")
    if (state.ssh_dir.user, state.ssh_dir.group) != (user, group):
        steps.append(f"chown {owner} {shlex.quote(ssh)}")
    if state.ssh_dir.mode != "700":
        steps.append(f"chmod 700 {shlex.quote(ssh)}")
    if state.keys_file.kind != "absent" and not state.keys_file.is_file:
        raise OperationError(f"{keys_file} is a {state.keys_file.kind}, not a file")
    if state.keys_file.kind == "absent" or state.keys != tuple(public_keys):
        temporary = shlex.quote(f"{keys_file}.snakepit-new")
        write = f"printf '%s\\n' {' '.join(shlex.quote(k) for k in public_keys)}"
        steps.append(
            f"{write if public_keys else ':'} > {temporary} && chown {owner} {temporary}"
            f" && chmod 600 {temporary} && mv -f {temporary} {shlex.quote(keys_file)}"
        )
    else:
        if (state.keys_file.user, state.keys_file.group) != (user, group):
            steps.append(f"chown {owner} {shlex.quote(keys_file)}")
        if state.keys_file.mode != "600":
            steps.append(f"chmod 600 {shlex.quote(keys_file)}")
    if not steps:
        host.noop(f"user {user} is as declared")
        return
    yield StringCommand(" && ".join(steps))


@operation()
def locked(user: str, locked: bool = True):
    """
    Lock a user that was removed from the data (or unlock one that is back in it).

    + user: the login name
    + locked: True: ``usermod -L``, expired (``-e 1``), shell ``/usr/sbin/nologin``, and
      its ``~/.ssh/authorized_keys`` removed; the home stays. False: undo the expiry of an
      account locked by this operation (``user`` sets the shell back; the password
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
