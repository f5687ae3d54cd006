"""pyinfra facts about the dpkg package database (the host's bill of materials)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from snakepit.parsers.apt import PackageNames, parse_showhold
from snakepit.parsers.dpkg import DPKG_QUERY_FORMAT, Bom, parse_dpkg_query


class DpkgBom(FactBase[Bom]):
    """
    Returns every package dpkg knows on the host, as a ``snakepit.parsers.dpkg.Bom``
    keyed by ``"name:arch"``:

    .. code:: python

        Bom({
            "bash:amd64": DebPackage(name="bash", arch="amd64", version="5.2.15-2+b8",
                                     desired="h", status="i", error="",
                                     description="GNU Bourne Again SHell"),
            "tzdata:all": DebPackage(..., desired="r", status="c", ...),  # config-files
        })

    Unlike pyinfra's ``DebPackages`` it keeps the architecture, held and broken states
    and packages removed with their configuration left, because an exact manifest has
    to notice all of them. ``dpkg-query -W`` with no pattern lists every package that is
    not plain "not-installed" and exits 0 even on an empty database.
    """

    def command(self) -> str:
        return f"dpkg-query -W -f={shlex.quote(DPKG_QUERY_FORMAT)}"

    def requires_command(self) -> str:
        return "dpkg-query"

    @staticmethod
    def default() -> Bom:
        return Bom()

    def process(self, output: list[str]) -> Bom:
        try:
            return parse_dpkg_query(output)
        except ValueError as error:
            # FactProcessError makes pyinfra fail this host with the message, instead
            # of a traceback that stops the whole run.
            raise FactProcessError(str(error)) from error


class HeldPackages(FactBase[PackageNames]):
    """
    Returns the names of the packages on hold, as ``apt-mark showhold`` prints them
    (``name``, or ``name:arch`` for a foreign architecture), in a frozenset:

    .. code:: python

        PackageNames({"cuda-drivers", "libc6:i386"})

    Held packages are what keeps ``apt-get upgrade`` away from the pinned driver and
    CUDA stack, so their absence is drift too.
    """

    def command(self) -> str:
        return "apt-mark showhold"

    def requires_command(self) -> str:
        return "apt-mark"

    @staticmethod
    def default() -> PackageNames:
        return PackageNames()

    def process(self, output: list[str]) -> PackageNames:
        return parse_showhold(output)


class DpkgAudit(FactBase[tuple[str, ...]]):
    """
    Returns what stops apt from working after an interrupted run: ``"interrupted"`` when
    dpkg's journal (/var/lib/dpkg/updates) holds unfinished work, plus ``dpkg --audit``'s
    lines about half-installed or unconfigured packages. Empty when dpkg is consistent.
    """

    def command(self) -> str:
        return (
            'if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then echo interrupted; fi; '
            "dpkg --audit 2>/dev/null | head -n 40; true"
        )

    @staticmethod
    def default() -> tuple[str, ...]:
        return ()

    def process(self, output: list[str]) -> tuple[str, ...]:
        return tuple(line for line in output if line.strip())
