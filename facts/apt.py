"""pyinfra facts about what apt would install, and from where."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError, FactValueError

from snakepit.parsers.apt import AptPolicy as AptPolicyInfo
from snakepit.parsers.apt import parse_apt_policy


class AptPolicy(FactBase[dict[str, AptPolicyInfo]]):
    """
    Returns ``apt-cache policy`` for the given packages, as a dict of
    ``snakepit.parsers.apt.AptPolicy`` keyed by apt's name for each:

    .. code:: python

        {
            "bash": AptPolicy(name="bash", installed="5.2.15-2+b8",
                              candidate="5.2.15-2+b13", versions=(
                AptVersion(version="5.2.15-2+b13", installed=False, priority=500,
                           sources=(AptSource(500, "http://deb.debian.org/debian "
                                                   "bookworm/main amd64 Packages"),)),
                AptVersion(version="5.2.15-2+b8", installed=True, priority=100,
                           sources=(AptSource(100, "/var/lib/dpkg/status"),)),
            )),
        }

    Packages apt does not know are absent from the dict (apt-cache prints nothing for
    them and still exits 0). apt drops a native-arch qualifier: asking for
    ``libc6:amd64`` on amd64 gives the key ``libc6``. Runs in the C locale because the
    field names are translated otherwise. With no packages the command prints nothing
    (``apt-cache policy`` alone prints the global policy, a different format).
    """

    def command(self, packages: Iterable[str]) -> str:
        if isinstance(packages, str):
            # One name from Python, or "a,b" from the CLI (`packages=bash,curl`): Debian
            # names can hold neither commas nor spaces.
            packages = packages.replace(",", " ").split()
        names = list(packages)
        for name in names:
            if not name or name.startswith("-"):
                # Quoting does not stop apt from reading "-o..." as an option.
                raise FactValueError(f"invalid package name for apt-cache policy: {name!r}")
        if not names:
            return "true"
        return "LC_ALL=C apt-cache policy " + " ".join(shlex.quote(name) for name in names)

    def requires_command(self, packages: Iterable[str]) -> str:
        return "apt-cache"

    @staticmethod
    def default() -> dict[str, AptPolicyInfo]:
        return {}

    def process(self, output: list[str]) -> dict[str, AptPolicyInfo]:
        try:
            return parse_apt_policy(output)
        except ValueError as error:
            raise FactProcessError(str(error)) from error
