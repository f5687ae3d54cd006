"""Apply a change to a running daemon exactly once, even across failed runs.

The record logic (what a change means, the record's text) is pure: ``snakepit.records``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.facts.files import FileContents

from snakepit.records import applied_record, daemon_action

RECORD_DIR = "/var/lib/snakepit/applied"
_READ = object()  # `current` not given: read the record here


@operation()
def applied(
    record: str,
    restart_fingerprint: str,
    full_fingerprint: str | None = None,
    restart: Sequence[str] = (),
    reconfigure: Sequence[str] = (),
    current: str | object | None = _READ,
    verify: Callable[..., bool] | None = None,
    verify_kwargs: Mapping | None = None,
):
    """
    Run ``restart`` when the restart fingerprint differs from the last applied one,
    ``reconfigure`` when only the full fingerprint differs, then record both.

    + record: the record's name (a file under /var/lib/snakepit/applied)
    + restart_fingerprint: digest of what only a restart applies
    + full_fingerprint: digest of everything (defaults to the restart fingerprint)
    + restart: shell commands that restart the daemon(s)
    + reconfigure: shell commands for a lighter reload (empty: restart instead)
    + current: the record's text as already read this run (None: no record); by default
      the operation reads it
    + verify: run on the controller after the commands, before the record is written, as
      ``verify(state, host, **verify_kwargs)``; False fails the host (no record: the next
      run repeats the action), e.g. `operations.slurm.nodes_took_config`
    + verify_kwargs: its arguments

    .. code:: python

        applied(
            name="Apply slurm.conf to slurmctld",
            record="slurmctld", restart_fingerprint=r, full_fingerprint=f,
            restart=["systemctl restart slurmctld"], reconfigure=["scontrol reconfigure"],
        )
    """
    full = full_fingerprint or restart_fingerprint
    path = f"{RECORD_DIR}/{record}"
    if current is _READ:
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
    if verify is not None:
        yield FunctionCommand(verify, (), dict(verify_kwargs or {}))
    content = applied_record(restart_fingerprint, full)
    # Root only: a record may fingerprint a file that holds a secret (keyed, but still).
    yield StringCommand(
        f"install -d -m 0700 {RECORD_DIR} && (umask 077 && "
        f"printf %s {shlex.quote(content)} > {shlex.quote(path)})"
    )
