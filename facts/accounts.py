"""pyinfra facts about the host's accounts (users, groups, account expiry)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from snakepit.parsers.accounts import (
    GROUP_MARKER,
    KEYS_MARKER,
    SHADOW_MARKER,
    USERS_MARKER,
    Accounts,
    parse_accounts,
    parse_user_state,
)
from snakepit.parsers.accounts import UserState as _UserState


class HostAccounts(FactBase[Accounts]):
    """
    Returns every user (name, uid, gid, home, shell, shadow expiry) and group (name, gid)
    the host knows, as a ``snakepit.parsers.accounts.Accounts``:

    .. code:: python

        Accounts(users={"admin": Account("admin", 3000, 3000, "/home/admin", "/bin/bash",
                                         expire=None)},
                 groups={"admin": 3000})

    Only the name and the expiry field of ``/etc/shadow`` are read: no password hash
    leaves the host. Unlike pyinfra's ``Users`` it is one ``getent`` per database, not
    several commands per user.
    """

    def command(self) -> str:
        return (
            f"echo '{USERS_MARKER}'; getent passwd; echo '{GROUP_MARKER}'; getent group; "
            f"echo '{SHADOW_MARKER}'; getent shadow | cut -d: -f1,8"
        )

    def requires_command(self) -> str:
        return "getent"

    def process(self, output) -> Accounts:
        return parse_accounts(output)


class UserState(FactBase[_UserState]):
    """
    Returns one user as the host has it, in one command: its passwd entry, primary and
    supplementary groups, and the owner and mode of its home, ``~/.ssh`` and
    ``~/.ssh/authorized_keys`` with that file's keys, as a
    ``snakepit.parsers.accounts.UserState`` (``account`` None: no such user). Read by
    ``operations.accounts.user`` instead of pyinfra's ``Users`` (which runs ``lastlog`` for
    every account and reads password hashes) and a dozen file facts.
    """

    def command(self, user: str, home: str) -> str:
        name, ssh = shlex.quote(user), shlex.quote(f"{home}/.ssh")
        paths = " ".join(
            shlex.quote(p) for p in (home, f"{home}/.ssh", f"{home}/.ssh/authorized_keys")
        )
        return (
            f'echo "passwd:$(getent passwd {name})"; '
            f'echo "group:$(id -gn {name} 2>/dev/null)"; '
            f'echo "groups:$(id -Gn {name} 2>/dev/null)"; '
            f'for p in {paths}; do if [ -L "$p" ]; then echo stat:link; '
            'elif [ -e "$p" ]; then echo "stat:$(stat -c \'%F|%U|%G|%a\' "$p")"; '
            "else echo stat:absent; fi; done; "
            f"echo '{KEYS_MARKER}'; cat {ssh}/authorized_keys 2>/dev/null || true"
        )

    def process(self, output) -> _UserState:
        return parse_user_state(output)
