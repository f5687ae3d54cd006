"""Pure parsers for apt's view of packages: holds and ``apt-cache policy``.

dpkg says what is installed; apt says what *would* be installed next (the candidate) and
from where, which is what a pinned CUDA/driver manifest has to keep in check (the
2021-12 BOM got Ubuntu's driver build instead of NVIDIA's because nothing did). No I/O
and no pyinfra here, so every branch can be tested against captured real output.

Decisions worth knowing:

* ``apt-cache policy`` names a block by apt's own spelling: a native-arch qualifier is
  dropped (asking for ``libc6:amd64`` on amd64 gives a ``libc6`` block), a foreign one
  kept (``libc6:i386``). Keys of ``parse_apt_policy`` are those names.
* apt prints nothing at all, on stdout, for a package it does not know, so such a name is
  simply absent from the result. ``N:``/``W:``/``E:`` message lines (stderr, should it be
  merged in) are skipped.
* The output is parsed in the C locale's words (``Installed:``...); the AptPolicy fact
  runs apt-cache with ``LC_ALL=C``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from snakepit.parsers.text import split_lines

# Lines apt prints to report, not to answer: notices, warnings, errors.
_MESSAGE_LINE = re.compile(r"^[NWE]: ")
_BLOCK_LINE = re.compile(r"^(?P<name>\S+):$")
_FIELD_LINE = re.compile(r"^  (?P<field>Installed|Candidate|Package pin): (?P<value>.*)$")
_TABLE_LINE = re.compile(r"^  Version table:$")
# " *** 5.2.15-2+b8 100" / "     2.36-0ubuntu4 500 (phased 10%)": 5 columns of marker.
_VERSION_LINE = re.compile(
    r"^ (?P<mark>\*\*\*|   ) (?P<version>\S+) (?P<priority>-?\d+)(?: \(phased \d+%\))?$"
)
# "        500 http://deb.debian.org/debian bookworm/main amd64 Packages"
_SOURCE_LINE = re.compile(r"^ {6,}(?P<priority>-?\d+) (?P<origin>\S.*)$")
# What apt prints for "no such version" in Installed/Candidate.
_NONE = "(none)"


class PackageNames(frozenset[str]):
    """A frozenset of package names that pyinfra's CLI can print.

    pyinfra's JSON encoder handles ``set`` and objects with ``to_json`` but not
    ``frozenset``; a fact must stay immutable because its value is cached and shared.
    """

    def to_json(self) -> list[str]:
        return sorted(self)


def parse_showhold(lines: str | Iterable[str]) -> PackageNames:
    """Parse ``apt-mark showhold``: one name a line, ``name:arch`` for a foreign arch."""
    return PackageNames(
        line.strip()
        for line in split_lines(lines)
        if line.strip() and not _MESSAGE_LINE.match(line.strip())
    )


@dataclass(frozen=True)
class AptSource:
    """One place a version can come from, with that place's priority.

    ``origin`` is kept as apt prints it (``"http://deb.debian.org/debian bookworm/main
    amd64 Packages"``, ``"/var/lib/dpkg/status"``) since it is for people to read and
    matching on it is as precise as apt's own output allows.
    """

    priority: int
    origin: str

    @property
    def is_dpkg_status(self) -> bool:
        """True for the pseudo-source of what is installed: apt lists the dpkg database
        (``Dir::State::status``, normally ``/var/lib/dpkg/status``) as a source. A version
        with no other source cannot be installed again, e.g. on a rebuilt node."""
        return self.origin.endswith("/status")

    def to_json(self) -> dict[str, int | str]:
        return {"priority": self.priority, "origin": self.origin}


@dataclass(frozen=True)
class AptVersion:
    """A row of the version table.

    ``priority`` is the version's pin priority, the number apt chooses the candidate by
    (1001 = forced, -1 = never); ``None`` only when built by hand.
    """

    version: str
    installed: bool
    sources: tuple[AptSource, ...]
    priority: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "installed": self.installed,
            "priority": self.priority,
            "sources": [source.to_json() for source in self.sources],
        }


@dataclass(frozen=True)
class AptPolicy:
    """``apt-cache policy`` for one package.

    ``installed``/``candidate`` are ``None`` where apt prints ``(none)``: nothing
    installed, or nothing apt is willing to install (a virtual package, a -1 pin).
    ``package_pin`` is the ``Package pin:`` line apt before 1.1 printed for pinned
    packages (newer apt shows pins only as version priorities).
    """

    name: str
    installed: str | None
    candidate: str | None
    versions: tuple[AptVersion, ...]
    package_pin: str | None = None

    @property
    def upgradable(self) -> bool:
        """apt would change the installed version on the next upgrade (or install)."""
        return self.candidate is not None and self.candidate != self.installed

    def get_version(self, version: str) -> AptVersion | None:
        for row in self.versions:
            if row.version == version:
                return row
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "installed": self.installed,
            "candidate": self.candidate,
            "package_pin": self.package_pin,
            "versions": [version.to_json() for version in self.versions],
        }


@dataclass
class _Block:
    # Mutable while parsing; frozen into an AptPolicy at the end of the block.
    name: str
    fields: dict[str, str | None]
    versions: list[tuple[str, bool, int, list[AptSource]]]
    in_table: bool = False

    def freeze(self) -> AptPolicy:
        return AptPolicy(
            name=self.name,
            installed=self.fields.get("Installed"),
            candidate=self.fields.get("Candidate"),
            versions=tuple(
                AptVersion(version, installed, tuple(sources), priority)
                for version, installed, priority, sources in self.versions
            ),
            package_pin=self.fields.get("Package pin"),
        )


def parse_apt_policy(text: str | Iterable[str]) -> dict[str, AptPolicy]:
    """Parse ``apt-cache policy NAME...`` into ``{name: AptPolicy}``, in output order.

    Raises ValueError on a line that fits nowhere, since guessing could invent or hide
    a version. A name printed twice (``libc6`` and ``libc6:amd64`` asked together) must
    say the same both times.
    """
    blocks: list[_Block] = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip() or _MESSAGE_LINE.match(line):
            continue
        block = blocks[-1] if blocks else None
        if match := _BLOCK_LINE.match(line):
            blocks.append(_Block(match.group("name"), {}, []))
        elif block is not None and (match := _FIELD_LINE.match(line)):
            value = match.group("value").strip()
            block.fields[match.group("field")] = None if value == _NONE else value
        elif block is not None and _TABLE_LINE.match(line):
            block.in_table = True
        elif block is not None and block.in_table and (match := _VERSION_LINE.match(line)):
            priority = int(match.group("priority"))
            row = (match.group("version"), match.group("mark") == "***", priority, [])
            block.versions.append(row)
        elif block is not None and block.versions and (match := _SOURCE_LINE.match(line)):
            source = AptSource(int(match.group("priority")), match.group("origin").rstrip())
            block.versions[-1][3].append(source)
        else:
            raise ValueError(f"line {number}: not apt-cache policy output: {line!r}")

    result: dict[str, AptPolicy] = {}
    for block in blocks:
        policy = block.freeze()
        seen = result.get(policy.name)
        if seen is not None and seen != policy:
            raise ValueError(f"two different policies printed for {policy.name}")
        result[policy.name] = policy
    return result
