"""Groups and users with fixed ids (the same on every host and on NFS), sudo rules, and the
keys root accepts."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

from operations.sudoers import sudoers_file
from snakepit.model import Cluster


def sudoers_content(cluster: Cluster) -> str:
    lines = ["# Managed by snakepit-pyinfra: passwordless sudo for the cluster's admins."]
    lines += [f"{user.name} ALL=(ALL:ALL) NOPASSWD: ALL" for user in cluster.users if user.sudo]
    lines += [f"{rule.who} ALL=({rule.runas}) NOPASSWD: ALL" for rule in cluster.sudo_rules]
    return "\n".join(lines) + "\n"


@deploy("Users and groups")
def users(cluster: Cluster) -> None:
    for group in cluster.groups:
        server.group(name=f"Group {group.name} (gid {group.gid})", group=group.name, gid=group.gid)
    for user in cluster.users:
        server.user(
            name=f"User {user.name} (uid {user.uid})",
            user=user.name,
            uid=user.uid,
            group=user.group,
            groups=list(user.groups),
            home=user.home,
            shell=user.shell,
            comment=user.comment or None,
            create_home=True,
            public_keys=list(user.ssh_keys) or None,
            delete_keys=bool(user.ssh_keys),
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
