"""/etc/hosts: the cluster's hosts by name, in one marked block beside what was there."""

from __future__ import annotations

import io
import shlex

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.facts.files import FileContents

from snakepit.hosts_file import with_hosts_block

HOSTS = "/etc/hosts"


@operation()
def hosts_block(entries: list[tuple[str, str]]):
    """
    Keep the cluster's hosts in a marked block of ``/etc/hosts``; other lines stay.

    The file is rewritten in place (``cat > /etc/hosts``), never replaced by a rename: in a
    container Docker bind-mounts it (a rename over a mount point fails) and keeps its own
    lines in it, which stay.

    + entries: (address, name) pairs, in order

    .. code:: python

        hosts_block(name="The cluster's hosts in /etc/hosts",
                    entries=[("192.168.1.1", "mlchead"), ("192.168.1.10", "mlc0")])
    """
    current = host.get_fact(FileContents, path=HOSTS) or []
    wanted = with_hosts_block(current, [tuple(entry) for entry in entries])
    if wanted == list(current):
        host.noop(f"{HOSTS} lists the cluster's {len(entries)} hosts")
        return
    staging = "/etc/.hosts.snakepit-new"
    yield FileUploadCommand(io.BytesIO(("\n".join(wanted) + "\n").encode()), staging)
    yield StringCommand(f"cat {shlex.quote(staging)} > {HOSTS} && rm -f {shlex.quote(staging)}")
