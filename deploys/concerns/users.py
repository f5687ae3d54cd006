"""Groups and users with fixed ids (the same on every host and on NFS), sudo rules, and the
keys root accepts.

Access can be taken away:

- ``authorized_keys`` holds exactly a user's ``ssh_keys`` (an empty list empties it).
- A user removed from the data is locked (``usermod -L``, expired, shell nologin), loses
  its ``authorized_keys`` and its sudo rule; its home and files stay. To know who was
  removed, each host keeps a record of the users this code has managed
  (``/var/lib/snakepit/managed-users``, one name a line, written before any account is
  created). A record rather than a ``removed_users`` data key because an admin deleting a
  user from the data forgets to list it elsewhere; a name stays in the record, so a
  lock undone by hand is redone by the next converge. Users removed before the record
  existed are not known to it.
- Ids are enforced: a group or user that exists with another id gets the fixed one
  (``groupmod -g``; ``usermod -u`` only while none of its processes run), and an id held
  by another account stops the run (``operations/accounts.py``).
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents
from pyinfra.operations import files, server

from facts.accounts import HostAccounts
from operations import accounts
from operations.sudoers import sudoers_file
from snakepit.model import Cluster

MANAGED_USERS = "/var/lib/snakepit/managed-users"


def sudoers_content(cluster: Cluster) -> str:
    lines = ["# Managed by snakepit-pyinfra: passwordless sudo for the cluster's admins."]
    lines += [f"{user.name} ALL=(ALL:ALL) NOPASSWD: ALL" for user in cluster.users if user.sudo]
    lines += [f"{rule.who} ALL=({rule.runas}) NOPASSWD: ALL" for rule in cluster.sudo_rules]
    return "\n".join(lines) + "\n"


def managed_users(recorded: list[str] | None, cluster: Cluster) -> tuple[list[str], list[str]]:
    """(the record to keep: every user ever managed, the users removed from the data)."""
    wanted = [user.name for user in cluster.users]
    earlier = [line.strip() for line in recorded or () if line.strip()]
    removed = sorted(set(earlier) - set(wanted))
    return sorted(set(earlier) | set(wanted)), removed


@deploy("Users and groups")
def users(cluster: Cluster) -> None:
    record, removed = managed_users(host.get_fact(FileContents, path=MANAGED_USERS), cluster)
    files.put(
        name=f"Record of managed users ({MANAGED_USERS})",
        src=StringIO("".join(f"{name}\n" for name in record)),
        dest=MANAGED_USERS,
        mode="0644",
    )
    accounts.ids(
        name="Fixed ids for groups and users that exist",
        groups={group.name: group.gid for group in cluster.groups},
        users={user.name: user.uid for user in cluster.users},
    )
    for group in cluster.groups:
        server.group(name=f"Group {group.name} (gid {group.gid})", group=group.name, gid=group.gid)
    existing = host.get_fact(HostAccounts).users
    for user in cluster.users:
        accounts.user(
            name=f"User {user.name} (uid {user.uid})",
            user=user.name,
            uid=user.uid,
            group=user.group,
            groups=list(user.groups),
            home=user.home,
            shell=user.shell,
            comment=user.comment,
            public_keys=list(user.ssh_keys),  # exactly these: none empties authorized_keys
        )
        account = existing.get(user.name)
        if account is not None and account.expire == accounts.LOCKED_EXPIRY:
            accounts.locked(name=f"Unlock user {user.name} (back in the data)", user=user.name,
                            locked=False)  # fmt: skip
    for name in removed:
        accounts.locked(
            name=f"Lock removed user {name}: no login, no keys, no sudo (home kept)", user=name
        )
    sudoers_file(
        name="Passwordless sudo for admins (checked by visudo -c first)",
        filename="snakepit-admins",
        content=sudoers_content(cluster),
    )
    root_keys = cluster.root_ssh_keys.get(host.name, ())
    if root_keys:
        # Added, never exclusive: the key this run connects with may be root's too.
        server.user_authorized_keys(
            name=f"root accepts the data's {len(root_keys)} key(s); its other keys stay",
            user="root",
            public_keys=list(root_keys),
            delete_keys=False,
        )
