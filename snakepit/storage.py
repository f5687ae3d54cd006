"""NFS exports and systemd mount units, rendered and checked as plain text."""

from __future__ import annotations

import ipaddress

from snakepit.model import Cluster, NfsExport


class StorageError(ValueError):
    pass


def render_exports(cluster: Cluster) -> str:
    """/etc/exports for the cluster's subnet only: a `*` or a wider network is refused."""
    network = ipaddress.ip_network(cluster.subnet)
    if network.prefixlen < 8:
        raise StorageError(f"refusing to export to {network}: wider than a /8")
    lines = ["# Managed by snakepit-pyinfra: exported to the cluster subnet only."]
    for export in cluster.storage.exports:
        options = f"{export.access},sync,no_subtree_check,root_squash"
        lines.append(f"{export.path} {network}({options})")
    text = "\n".join(lines) + "\n"
    check_exports(text)
    return text


def check_exports(text: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        path, *clients = line.split()
        if not path.startswith("/") or not clients:
            raise StorageError(f"/etc/exports line {number}: needs a path and clients: {line!r}")
        for client in clients:
            host, _, options = client.partition("(")
            if host in ("*", "") or "*" in host:
                raise StorageError(f"/etc/exports line {number}: exported to everyone: {line!r}")
            try:
                network = ipaddress.ip_network(host, strict=True)
            except ValueError as error:
                raise StorageError(
                    f"/etc/exports line {number}: {host!r} is not a subnet ({error})"
                ) from None
            if network.prefixlen < 8:
                raise StorageError(f"/etc/exports line {number}: {network} is wider than a /8")
            if not options.endswith(")") or not {"ro", "rw"} & set(options[:-1].split(",")):
                raise StorageError(f"/etc/exports line {number}: options need ro or rw")


def mount_unit_name(path: str) -> str:
    """What `systemd-escape --path --suffix=mount` prints for a normalized absolute path."""
    trimmed = path.strip("/")
    if not trimmed:
        return "-.mount"
    out = []
    for index, byte in enumerate(trimmed.encode()):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif (char.isascii() and char.isalnum()) or char in "_:" or (char == "." and index):
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out) + ".mount"


def mount_unit(cluster: Cluster, export: NfsExport) -> str:
    options = ",".join([*cluster.storage.mount_options, export.access])
    return f"""\
# Managed by snakepit-pyinfra.
[Unit]
Description=Snakepit shared storage {export.mount_point} ({cluster.head}:{export.path})
Wants=network-online.target
After=network-online.target

[Mount]
What={cluster.head}:{export.path}
Where={export.mount_point}
Type=nfs
Options={options}

[Install]
WantedBy=remote-fs.target
"""
