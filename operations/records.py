"""Apply a change to a running daemon exactly once, even across failed runs.

A daemon's configuration file may be written in one run while the restart that applies it
fails; a naive "restart if the file changed" would then never restart. Instead the deploy
keeps a small record of the fingerprints it last *applied* (written only after the restart
or reconfigure succeeded) and compares the wanted fingerprints against it.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import FileContents

from snakepit.slurm import applied_record, daemon_action

RECORD_DIR = "/var/lib/snakepit/applied"


def fingerprint(content: str | bytes) -> str:
    """SHA-256 hex digest of a text or bytes: what records and secret files compare."""
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()


def pending_action(
    record: str,
    restart_fingerprint: str,
    full_fingerprint: str | None = None,
    reconfigurable: bool = False,
) -> str:
    """What `applied` will do on this host: "restart", "reconfigure" or "none" (for naming
    the operation, so a preview says which)."""
    lines = host.get_fact(FileContents, path=f"{RECORD_DIR}/{record}")
    current = "\n".join(lines) + "\n" if lines else None
    action = daemon_action(current, restart_fingerprint, full_fingerprint or restart_fingerprint)
    return "restart" if action == "reconfigure" and not reconfigurable else action


@operation()
def applied(
    record: str,
    restart_fingerprint: str,
    full_fingerprint: str | None = None,
    restart: Sequence[str] = (),
    reconfigure: Sequence[str] = (),
):
    """
    Run ``restart`` when the restart fingerprint differs from the last applied one,
    ``reconfigure`` when only the full fingerprint differs, then record both.

    + record: the record's name (a file under /var/lib/snakepit/applied)
    + restart_fingerprint: digest of what only a restart applies
    + full_fingerprint: digest of everything (defaults to the restart fingerprint)
    + restart: shell commands that restart the daemon(s)
    + reconfigure: shell commands for a lighter reload (empty: restart instead)

    .. code:: python

        applied(
            name="Apply slurm.conf to slurmctld",
            record="slurmctld", restart_fingerprint=r, full_fingerprint=f,
            restart=["systemctl restart slurmctld"], reconfigure=["scontrol reconfigure"],
        )
    """
    full = full_fingerprint or restart_fingerprint
    path = f"{RECORD_DIR}/{record}"
    lines = host.get_fact(FileContents, path=path)
    current = "\n".join(lines) + "\n" if lines else None
    action = daemon_action(current, restart_fingerprint, full)
    if action == "reconfigure" and not reconfigure:
        action = "restart"
    if action == "none":
        host.noop(f"{record}: configuration already applied")
        return
    for command in restart if action == "restart" else reconfigure:
        yield StringCommand(command)
    content = applied_record(restart_fingerprint, full)
    yield StringCommand(
        f"mkdir -p {RECORD_DIR} && printf %s {shlex.quote(content)} > {shlex.quote(path)}"
    )
