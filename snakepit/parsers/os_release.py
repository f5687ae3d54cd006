"""/etc/os-release (os-release(5)): which operating system and release a host runs."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from snakepit.parsers.text import split_lines


@dataclass(frozen=True)
class OsRelease:
    id: str  # "debian"
    version_id: str  # "12"; empty on testing/unstable, which have none
    pretty_name: str  # "Debian GNU/Linux 12 (bookworm)"

    @property
    def name(self) -> str:
        """How a message names it: the pretty name, else the ID and version."""
        return self.pretty_name or f"{self.id} {self.version_id}".strip() or "unknown release"


def parse_os_release(text: str | Iterable[str]) -> OsRelease:
    """``KEY=value`` lines, values shell-quoted or bare; comments and blank lines ignored."""
    fields = {}
    for line in split_lines(text):
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value]
        fields[key] = " ".join(words)
    return OsRelease(
        id=fields.get("ID", ""),
        version_id=fields.get("VERSION_ID", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
    )
