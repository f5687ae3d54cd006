"""Pure parsers for the dpkg package database: the bill of materials (BOM) of a host.

The DpkgBom fact runs ``dpkg-query -W -f=DPKG_QUERY_FORMAT`` and hands the lines to
``parse_dpkg_query``; ``parse_dpkg_list`` reads the human ``dpkg --list`` text because
that is what old BOMs, bug reports and the CUDA manifests were captured as. Both give a
``Bom`` so a drift report can compare a live host with a stored manifest. No I/O and no
pyinfra here, so every branch can be tested against captured real output.

Decisions worth knowing:

* A package is identified by ``"name:arch"`` (``DebPackage.key``): on a multiarch host
  ``libc6:amd64`` and ``libc6:i386`` are two packages with their own versions. dpkg
  knows packages with no architecture at all (purged or only named by a dependency, shown
  as ``<none>``/``<empty>`` by ``dpkg -l``); their arch is ``""`` and their key is the bare
  name.
* ``dpkg -l`` qualifies some names (``libc6:amd64``: Multi-Arch ``same`` or a foreign
  arch). The qualifier repeats the Architecture column, so it is checked and dropped;
  ``format_dpkg_list`` writes bare names, hence its text differs from dpkg's own in
  those names and in the name column width, while parsing it back gives the same Bom.
* ``dpkg -l`` prints ``<none>`` for a missing version or arch; it becomes ``""`` so that
  both sources agree (``dpkg-query -W`` prints nothing there).
* Versions stay strings here: compare them with ``debian.debian_support.Version``,
  never as text (``1:2.31`` > ``2.4``, ``1.0~rc1`` < ``1.0``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from snakepit.debian import apt_name
from snakepit.parsers.text import split_lines

# `dpkg-query -W` showformat: tab separated because no field can hold a tab (names,
# versions and architectures cannot, a one-line summary does not in practice), and
# db:Status-Abbrev gives the same three letters as the first column of `dpkg -l`.
# dpkg-query expands the \t and \n escapes itself, which keeps the command readable in
# pyinfra's logs.
DPKG_QUERY_FORMAT = (
    r"${db:Status-Abbrev}\t${Package}\t${Architecture}\t${Version}\t${binary:Summary}\n"
)

# dpkg's one-letter codes, in the words `dpkg -l`'s header uses (and dpkg-query's
# ${db:Status-Want}/${db:Status-Status} print).
DESIRED = {"u": "unknown", "i": "install", "h": "hold", "r": "deinstall", "p": "purge"}
STATUSES = {
    "n": "not-installed",
    "c": "config-files",
    "H": "half-installed",
    "U": "unpacked",
    "F": "half-configured",
    "W": "triggers-awaited",
    "t": "triggers-pending",
    "i": "installed",
}
ERRORS = {"": "ok", "R": "reinst-required"}

# The header dpkg 1.16.2 and later print above the table (verbatim, up to the column
# titles); format_dpkg_list writes it back so the output reads like the real thing.
DPKG_LIST_HEADER = (
    "Desired=Unknown/Install/Remove/Purge/Hold",
    "| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend",
    "|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)",
)
# What dpkg -l prints where a package has no version or no architecture.
_LIST_NONE = frozenset({"<none>", "<empty>"})
# dpkg's minimum column widths (name, version, arch, description) when not on a tty.
_MIN_WIDTHS = (14, 12, 12, 33)

_LIST_LINE = re.compile(r"^(?P<desired>[uihrp])(?P<status>[ncHUFWti])(?P<error>[ R]) (?P<rest>.*)$")
# Lines of `dpkg -l` output that are not packages: the legend, column titles, ruler.
_LIST_HEADER_PREFIXES = ("Desired=", "| ", "|/", "||/", "+++-")
# A label line some BOM files put above a group of `dpkg -l` lines ("NVIDIA:").
_SECTION_LINE = re.compile(r"^\S+:$")


@dataclass(frozen=True)
class DebPackage:
    """One entry of the dpkg database, with dpkg's own state letters kept verbatim.

    The letters are kept rather than translated so a BOM loses nothing dpkg said and
    can be written back (``flags``); ``state`` is the one word reports should show.
    """

    name: str
    arch: str
    version: str
    desired: str
    status: str
    error: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        # Fail where bad data enters rather than when a report misreads it later.
        if not self.name or ":" in self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"invalid package name {self.name!r}")
        if self.desired not in DESIRED:
            raise ValueError(f"{self.name}: invalid desired flag {self.desired!r}")
        if self.status not in STATUSES:
            raise ValueError(f"{self.name}: invalid status flag {self.status!r}")
        if self.error not in ERRORS:
            raise ValueError(f"{self.name}: invalid error flag {self.error!r}")

    @property
    def key(self) -> str:
        """``"name:arch"``, unique within a Bom; the bare name when dpkg knows no arch."""
        return f"{self.name}:{self.arch}" if self.arch else self.name

    def apt_name(self, native_arch: str) -> str:
        """The spelling apt uses (``name:arch`` only for a foreign arch); the bare name
        when dpkg knows no arch, as for `key`."""
        return apt_name(self.name, self.arch or native_arch, native_arch)

    @property
    def installed(self) -> bool:
        """Fully installed and configured (``ii``, ``hi``; also ``ri``/``pi`` until the
        removal actually happens). Half-installed, unpacked or trigger-waiting packages
        are not: their files or configuration cannot be trusted yet."""
        return self.status == "i" and not self.error

    @property
    def held(self) -> bool:
        """Marked ``hold``: apt will not upgrade or remove it on its own."""
        return self.desired == "h"

    @property
    def state(self) -> str:
        """One word for reports, most alarming first.

        ``reinst-required`` (dpkg's error flag, any status) beats everything; an
        installed package is ``held`` when on hold, else ``installed``; a package dpkg
        has no files of is ``removed`` when it was asked to remove/purge it, else
        ``not-installed``; every other status is dpkg's own word (``config-files``,
        ``half-installed``, ``unpacked``, ``half-configured``, ``triggers-awaited``,
        ``triggers-pending``).
        """
        if self.error:
            return ERRORS[self.error]
        if self.status == "i":
            return "held" if self.held else "installed"
        if self.status == "n":
            return "removed" if self.desired in "rp" else "not-installed"
        return STATUSES[self.status]

    @property
    def flags(self) -> str:
        """The ``dpkg -l`` prefix: ``ii``, ``hi``, ``rc``, ``iHR``..."""
        return f"{self.desired}{self.status}{self.error}"

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "arch": self.arch,
            "version": self.version,
            "desired": self.desired,
            "status": self.status,
            "error": self.error,
            "state": self.state,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DebPackage:
        """Inverse of ``to_json`` (derived keys like ``state`` are ignored)."""
        return cls(
            name=data["name"],
            arch=data["arch"],
            version=data["version"],
            desired=data["desired"],
            status=data["status"],
            error=data.get("error", ""),
            description=data.get("description", ""),
        )


class Bom(Mapping[str, DebPackage]):
    """An immutable ``"name:arch" -> DebPackage`` mapping: one host's dpkg database.

    Immutable (and hashable) because facts are cached and shared between operations;
    iteration is in dpkg's order (name, then arch) so reports and JSON are stable.
    """

    __slots__ = ("_packages",)

    def __init__(self, packages: Iterable[DebPackage] = ()) -> None:
        by_key: dict[str, DebPackage] = {}
        for package in packages:
            seen = by_key.get(package.key)
            if seen is not None and seen != package:
                # Two different answers for one package means the input is corrupt;
                # keeping either would make a drift report lie.
                raise ValueError(f"conflicting entries for {package.key}: {seen} != {package}")
            by_key[package.key] = package
        ordered = sorted(by_key.items(), key=lambda item: (item[1].name, item[1].arch))
        self._packages: Mapping[str, DebPackage] = MappingProxyType(dict(ordered))

    def __getitem__(self, key: str) -> DebPackage:
        return self._packages[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._packages)

    def __len__(self) -> int:
        return len(self._packages)

    def __hash__(self) -> int:
        return hash(frozenset(self._packages.items()))

    def __repr__(self) -> str:
        return f"Bom({len(self)} packages)"

    def by_name(self, name: str) -> list[DebPackage]:
        """All architectures of a package, since callers usually know only the name.

        A ``"name:arch"`` argument selects that one entry (if present).
        """
        if ":" in name:
            package = self._packages.get(name)
            return [package] if package is not None else []
        return [package for package in self._packages.values() if package.name == name]

    def installed(self) -> Bom:
        """Only fully installed packages (see ``DebPackage.installed``)."""
        return Bom(package for package in self._packages.values() if package.installed)

    def held(self) -> Bom:
        """Only packages on hold, whatever their status."""
        return Bom(package for package in self._packages.values() if package.held)

    def to_json(self) -> dict[str, dict[str, str]]:
        return {key: package.to_json() for key, package in self._packages.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, Any]]) -> Bom:
        """Inverse of ``to_json``, for BOMs stored as manifests."""
        return cls(DebPackage.from_json(entry) for entry in data.values())


def parse_dpkg_query(lines: Iterable[str]) -> Bom:
    """Parse ``dpkg-query -W -f=DPKG_QUERY_FORMAT`` output into a Bom."""
    packages = []
    for number, line in enumerate(split_lines(lines), start=1):
        if not line.strip():
            continue
        fields = line.split("\t", 4)
        if len(fields) < 4 or not 2 <= len(fields[0].rstrip()) <= 3:
            raise ValueError(f"line {number}: not dpkg-query output in our format: {line!r}")
        abbrev, name, arch, version = (field.strip() for field in fields[:4])
        description = fields[4].rstrip() if len(fields) == 5 else ""
        packages.append(
            DebPackage(
                name=name,
                arch=arch,
                version=version,
                desired=abbrev[0],
                status=abbrev[1],
                error=abbrev[2:].strip(),
                description=description,
            )
        )
    return Bom(packages)


def parse_dpkg_list(text: str | Iterable[str]) -> Bom:
    """Parse the human ``dpkg -l`` / ``dpkg --list`` table into a Bom.

    Columns are split on whitespace rather than cut at the ruler's widths: names,
    versions and architectures never hold spaces, and files of pasted ``dpkg -l``
    lines (the ``NVIDIA:`` one) have no ruler at all. Before dpkg 1.16.2 there was no
    Architecture column; the column titles say which layout a text uses.
    Anything that is neither a package line, nor part of dpkg's header, nor a
    ``Label:`` line raises ValueError: silently dropping a line would drop a package.
    """
    has_arch = True
    packages = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip() or _SECTION_LINE.match(line):
            continue
        if line.startswith(_LIST_HEADER_PREFIXES):
            if line.startswith("||/"):
                has_arch = "Architecture" in line
            continue
        match = _LIST_LINE.match(line)
        fields = match.group("rest").split(None, 3 if has_arch else 2) if match else []
        if match is None or len(fields) < (3 if has_arch else 2):
            raise ValueError(f"line {number}: not a dpkg -l package line: {line!r}")
        if has_arch:
            name, version, arch = fields[:3]
            description = fields[3] if len(fields) == 4 else ""
        else:
            name, version = fields[:2]
            arch = ""
            description = fields[2] if len(fields) == 3 else ""
        version = "" if version in _LIST_NONE else version
        arch = "" if arch in _LIST_NONE else arch
        name, _, qualifier = name.partition(":")
        if qualifier and arch and qualifier != arch:
            raise ValueError(f"line {number}: name says {qualifier!r}, column says {arch!r}")
        packages.append(
            DebPackage(
                name=name,
                arch=arch or qualifier,
                version=version,
                desired=match.group("desired"),
                status=match.group("status"),
                error=match.group("error").strip(),
                description=description.rstrip(),
            )
        )
    return Bom(packages)


def format_dpkg_list(bom: Bom) -> str:
    """Write a Bom as ``dpkg -l`` prints it when not on a terminal.

    For people (diffs, bug reports, the stored BOM files), not for machines: columns
    are as wide as their longest value, like dpkg does, and nothing is truncated.
    Names are written bare (see the module docstring).
    """
    rows = [
        (
            package.flags.ljust(3),
            package.name,
            package.version or "<none>",
            package.arch or "<none>",
            package.description,
        )
        for package in bom.values()
    ]
    titles = ("Name", "Version", "Architecture", "Description")
    widths = [
        max([minimum, len(title)] + [len(row[column + 1]) for row in rows])
        for column, (minimum, title) in enumerate(zip(_MIN_WIDTHS, titles, strict=True))
    ]
    nw, vw, aw, _ = widths
    lines = [
        *DPKG_LIST_HEADER,
        f"||/ {titles[0]:<{nw}} {titles[1]:<{vw}} {titles[2]:<{aw}} {titles[3]}",
        "+++-" + "-".join("=" * width for width in widths),
    ]
    for flags, name, version, arch, description in rows:
        line = f"{flags} {name:<{nw}} {version:<{vw}} {arch:<{aw}} {description}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def parse_pin_list(text: str | Iterable[str]) -> list[tuple[str, str]]:
    """Parse a pin list: shell-quoted ``"name=version"`` words, one or more a line,
    each line possibly continued with ``\\``; ``#`` starts a comment.

    These files are pasted into ``apt-get install`` command lines, so they are read
    with shell quoting rules. Names are kept as written, ``:arch`` included, because
    that is the spelling apt accepts. Order is kept: it is the install order humans
    reviewed.
    """
    pins = []
    for number, line in enumerate(split_lines(text), start=1):
        stripped = line.strip()
        if stripped.endswith("\\"):
            stripped = stripped[:-1]
        for word in shlex.split(stripped, comments=True):
            name, sep, version = word.partition("=")
            if not sep or not name or not version:
                raise ValueError(f"line {number}: expected name=version, got {word!r}")
            pins.append((name, version))
    return pins
