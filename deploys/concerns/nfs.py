"""Shared storage: the head exports, workers mount.

In ``nfs`` mode the head runs nfs-kernel-server and workers mount with systemd mount units.
In ``shared-volume`` mode (the sandbox: its kernel has no NFS) the same /etc/exports and
mount units are rendered and checked, but the data arrives through a volume that the
sandbox mounts at the same paths, so nothing is exported or mounted.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

from deploys.daemon import install, make_directory
from operations.directories import directory_if_absent
from snakepit.model import Cluster
from snakepit.storage import mount_unit, mount_unit_name, render_exports

SERVER_PACKAGES = ("nfs-kernel-server",)
CLIENT_PACKAGES = ("nfs-common",)


@deploy("NFS exports (head)")
def nfs_server(cluster: Cluster) -> None:
    storage = cluster.storage
    for export in storage.exports:
        if export.keep_existing:
            directory_if_absent(
                name=f"{export.path}: made {export.mode} {export.owner}:{export.group} only "
                "when missing (an existing one is left as it is)",
                path=export.path,
                user=export.owner,
                group=export.group,
                mode=export.mode,
            )
            continue
        make_directory(export.path, export.owner, export.group, export.mode)
    exports = files.put(
        name="Write /etc/exports (cluster subnet only)",
        src=StringIO(render_exports(cluster)),
        dest="/etc/exports",
        mode="0644",
    )
    if storage.mode == "nfs":
        install(SERVER_PACKAGES, name="Install the NFS server")
        systemd.service(name="NFS server running", service="nfs-server", running=True, enabled=True)
        server.shell(
            name="Re-export after /etc/exports changed",
            commands=["exportfs -ra"],
            _if=exports.did_change,
        )


@deploy("NFS mounts (workers)")
def nfs_client(cluster: Cluster) -> None:
    storage = cluster.storage
    if storage.mode == "nfs":
        install(CLIENT_PACKAGES, name="Install the NFS client")
    for directory in storage.worker_directories:
        make_directory(directory.path, directory.owner, directory.group, directory.mode)
    changed = []
    for export in storage.exports:
        unit = mount_unit_name(export.mount_point)
        changed.append(
            files.put(
                name=f"Mount unit {unit}: {cluster.head}:{export.path} ({export.access})",
                src=StringIO(mount_unit(cluster, export)),
                dest=f"/etc/systemd/system/{unit}",
                mode="0644",
            )
        )
    systemd.daemon_reload(
        name="Reload systemd after mount units changed",
        _if=lambda: any(op.did_change() for op in changed),
    )
    if storage.mode == "nfs":
        for export in storage.exports:
            unit = mount_unit_name(export.mount_point)
            systemd.service(
                name=f"Mount {export.mount_point}", service=unit, running=True, enabled=True
            )
