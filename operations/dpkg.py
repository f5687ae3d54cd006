"""Recover dpkg after a run that died halfway (a killed host, a lost connection)."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

from facts.dpkg import DpkgAudit, DpkgBom

APT = "DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confold"


@operation()
def consistent():
    """
    Finish whatever an interrupted dpkg left undone, so that the host reaches the wanted
    state and the next apt operation can run. Nothing when dpkg is clean.

    ``dpkg --configure -a`` finishes dpkg's journal and every package left unpacked,
    half-configured or awaiting triggers. It cannot finish a package killed during its
    unpack (``half-installed``, or marked ``reinst-required``: ``iHR``): its files are
    partly old, partly new, and apt takes it as installed. Those are reinstalled
    (``apt-get install --reinstall``). apt's ``--fix-broken install`` then completes
    what they depend on.

    .. code:: python

        consistent(name="dpkg finished any interrupted work")
    """
    problems = host.get_fact(DpkgAudit)
    if not problems:
        host.noop("dpkg has no interrupted work")
        return
    bom = host.get_fact(DpkgBom)
    native = next((p.arch for p in bom.by_name("dpkg")), "")
    broken = sorted(p.apt_name(native) for p in bom.values() if p.status == "H" or p.error == "R")
    yield StringCommand("DEBIAN_FRONTEND=noninteractive dpkg --configure -a --force-confold")
    if broken:
        names = " ".join(shlex.quote(name) for name in broken)
        yield StringCommand(f"{APT} install --reinstall {names}")
    yield StringCommand(f"{APT} --fix-broken install")
