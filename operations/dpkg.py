"""Recover dpkg after a run that died halfway (a killed host, a lost connection)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation

from facts.dpkg import DpkgAudit


@operation()
def consistent():
    """
    Finish whatever an interrupted dpkg left undone (``dpkg --configure -a``, then apt's
    ``--fix-broken``), so that the next apt operation can run. Nothing when dpkg is clean.

    .. code:: python

        consistent(name="dpkg finished any interrupted work")
    """
    problems = host.get_fact(DpkgAudit)
    if not problems:
        host.noop("dpkg has no interrupted work")
        return
    yield StringCommand("DEBIAN_FRONTEND=noninteractive dpkg --configure -a --force-confold")
    yield StringCommand(
        "DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confold "
        "--fix-broken install"
    )
