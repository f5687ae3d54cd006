"""pyinfra fact about the operating system release a host runs."""

from __future__ import annotations

from pyinfra.api import FactBase

from snakepit.parsers.os_release import OsRelease as OsReleaseInfo
from snakepit.parsers.os_release import parse_os_release


class OsRelease(FactBase[OsReleaseInfo]):
    """
    Returns the host's ``/etc/os-release`` (else ``/usr/lib/os-release``, its fallback in
    os-release(5)) as a ``snakepit.parsers.os_release.OsRelease``:

    .. code:: python

        OsRelease(id="debian", version_id="12", pretty_name="Debian GNU/Linux 12 (bookworm)")

    A host with neither file reports empty fields (and is then refused as unsupported),
    so the command always exits 0.
    """

    def command(self) -> str:
        return "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true"

    def process(self, output) -> OsReleaseInfo:
        return parse_os_release(output)
