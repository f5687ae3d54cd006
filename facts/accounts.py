"""pyinfra facts about the host's accounts (users, groups, account expiry)."""

from __future__ import annotations

from pyinfra.api import FactBase

from snakepit.parsers.accounts import (
    GROUP_MARKER,
    SHADOW_MARKER,
    USERS_MARKER,
    Accounts,
    parse_accounts,
)


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
