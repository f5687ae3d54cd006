"""Drift between a host and a manifest: pure computation plus table and JSON rendering.

A host is in sync with a manifest when every manifest package is installed at exactly its
version and held, and no other package from the vendor's origin is installed. Which
packages are the vendor's is apt's word, not a name pattern: an installed version is the
vendor's when ``apt-cache policy`` lists the manifest's source URL for it (a name grep
misses libcublas, libnpp, nsight and gds-tools, and catches the distro's own driver builds).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from debian.debian_support import Version

from snakepit.cuda.manifest import CudaManifest, VendorSource
from snakepit.parsers.apt import AptPolicy
from snakepit.parsers.dpkg import Bom, DebPackage

# The kinds of drift, in the order reports list them.
MISSING = "missing"  # not installed (or only its configuration files are left)
BROKEN = "broken"  # dpkg has it half-installed, unpacked, or needing reinstallation
VERSION = "version"  # installed at another version
NOT_HELD = "not-held"  # right version, but apt may upgrade it on its own
EXTRA = "extra"  # from the vendor's origin, not in the manifest
KINDS = (MISSING, BROKEN, VERSION, NOT_HELD, EXTRA)


@dataclass(frozen=True)
class PackageDrift:
    """One package that differs from the manifest, with every way it differs."""

    name: str
    arch: str
    kinds: tuple[str, ...]
    wanted: str | None  # the manifest's version; None for an extra package
    found: str | None  # the installed version; None when dpkg has none
    state: str  # dpkg's word for the package ("installed", "held", "not-installed", ...)
    held: bool

    @property
    def key(self) -> str:
        return f"{self.name}:{self.arch}"

    @property
    def direction(self) -> str | None:
        """What converging does to the version: ``upgrade`` or ``downgrade``."""
        if VERSION not in self.kinds or self.wanted is None or self.found is None:
            return None
        return "upgrade" if Version(self.found) < Version(self.wanted) else "downgrade"

    def describe(self) -> str:
        words = []
        for kind in self.kinds:
            if kind == VERSION:
                newer = "newer" if self.direction == "downgrade" else "older"
                words.append(f"version ({newer} than the manifest)")
            elif kind == BROKEN:
                words.append(f"broken ({self.state})")
            elif kind == EXTRA and self.held:
                words.append("extra (held)")
            else:
                words.append(kind)
        return ", ".join(words)

    def to_json(self) -> dict[str, object]:
        return {
            "package": self.name,
            "arch": self.arch,
            "kinds": list(self.kinds),
            "manifest": self.wanted,
            "installed": self.found,
            "state": self.state,
            "held": self.held,
            "direction": self.direction,
        }


@dataclass(frozen=True)
class HostDrift:
    """A host compared with one manifest."""

    manifest: str
    checked: int  # packages in the manifest
    packages: tuple[PackageDrift, ...]  # only those that drift

    @property
    def in_sync(self) -> bool:
        return not self.packages

    def of_kind(self, kind: str) -> tuple[PackageDrift, ...]:
        return tuple(package for package in self.packages if kind in package.kinds)

    def summary(self) -> str:
        if self.in_sync:
            return f"in sync: {self.checked} packages at the manifest's versions and held"
        counts = [f"{len(self.of_kind(kind))} {kind}" for kind in KINDS if self.of_kind(kind)]
        return "drifted: " + ", ".join(counts)

    def to_json(self) -> dict[str, object]:
        return {
            "manifest": self.manifest,
            "checked": self.checked,
            "in_sync": self.in_sync,
            "drift": [package.to_json() for package in self.packages],
        }


def _present(package: DebPackage) -> bool:
    # dpkg has files of it: anything but not-installed and config-files.
    return package.status not in ("n", "c")


def installed_from(
    source: VendorSource, native_arch: str, bom: Bom, policies: Mapping[str, AptPolicy]
) -> tuple[DebPackage, ...]:
    """The packages on the host whose installed version apt says comes from ``source``.

    ``policies`` is the AptPolicy fact for (at least) those packages, keyed by apt's
    spelling of the name (native-arch qualifier dropped, as the fact returns it).
    """
    found = []
    for package in bom.values():
        if not _present(package) or not package.version:
            continue
        policy = policies.get(package.apt_name(native_arch))
        row = policy.get_version(package.version) if policy is not None else None
        if row is not None and any(source.offers(s.origin) for s in row.sources):
            found.append(package)
    return tuple(found)


def policy_names(bom: Bom, native_arch: str, wanted: Iterable[str] = ()) -> list[str]:
    """The names to ask apt-cache policy about: ``wanted`` (a manifest's apt names) and
    everything installed, since any installed package could be the vendor's."""
    names = dict.fromkeys(wanted)
    for package in bom.values():
        if _present(package) and package.arch:
            names.setdefault(package.apt_name(native_arch))
    return list(names)


# What the host last installed, so that a switch to another vendor's manifest (NVIDIA's
# repository to Debian's, say) still finds the old packages: apt's origin data only
# knows the new vendor.
MANIFEST_RECORD = "/var/lib/snakepit/cuda-manifest"
_RECORD_HEADER = "# Managed by snakepit-pyinfra: the CUDA manifest last installed, its packages."


def manifest_record(manifest: CudaManifest) -> str:
    keys = "".join(f"{package.key}\n" for package in manifest.packages)
    return f"{_RECORD_HEADER}\nmanifest={manifest.name}\n{keys}"


def recorded_packages(lines: Iterable[str] | None) -> tuple[str, ...]:
    """The ``name:arch`` keys of a manifest record (none when there is no record)."""
    return tuple(
        line.strip()
        for line in lines or ()
        if line.strip() and not line.startswith(("#", "manifest="))
    )


def compute_drift(
    manifest: CudaManifest,
    bom: Bom,
    policies: Mapping[str, AptPolicy],
    previous: Iterable[str] = (),
) -> HostDrift:
    """Compare a host's BOM (and apt's origin data) with a manifest. ``previous``: the
    ``name:arch`` of the manifest the host last installed; those still installed and not
    in this manifest are extra too, whatever their origin."""
    drifted: list[PackageDrift] = []
    for wanted in manifest.packages:
        entry = bom.get(wanted.key)
        if entry is None or not _present(entry):
            state = entry.state if entry is not None else "not-installed"
            drifted.append(
                PackageDrift(
                    wanted.name,
                    wanted.arch,
                    (MISSING,),
                    wanted.version,
                    None,
                    state,
                    held=entry is not None and entry.held,
                )
            )
            continue
        kinds = []
        if not entry.installed:
            kinds.append(BROKEN)
        if entry.version != wanted.version:
            kinds.append(VERSION)
        if not entry.held:
            kinds.append(NOT_HELD)
        if kinds:
            drifted.append(
                PackageDrift(
                    wanted.name,
                    wanted.arch,
                    tuple(kinds),
                    wanted.version,
                    entry.version,
                    entry.state,
                    entry.held,
                )
            )
    listed = manifest.by_key()
    vendor = installed_from(manifest.source, manifest.target.architecture, bom, policies)
    left = [bom[key] for key in previous if key in bom and _present(bom[key])]
    for entry in {package.key: package for package in [*vendor, *left]}.values():
        if entry.key not in listed:
            drifted.append(
                PackageDrift(
                    entry.name, entry.arch, (EXTRA,), None, entry.version, entry.state, entry.held
                )
            )
    drifted.sort(key=lambda p: (p.name, p.arch))
    return HostDrift(manifest.name, len(manifest.packages), tuple(drifted))


# -- rendering -----------------------------------------------------------------------------

# What a report holds per host: its drift, or the reason it could not be checked.
HostResult = HostDrift | str


def render_table(results: Mapping[str, HostResult]) -> str:
    """A fixed-width table, one row per drifted package, one summary row per host."""
    header = ("HOST", "MANIFEST", "PACKAGE", "ARCH", "WANTED", "INSTALLED", "DRIFT")
    rows: list[tuple[str, ...]] = []
    for host, result in results.items():
        if isinstance(result, str):
            rows.append((host, "-", "-", "-", "-", "-", f"not checked: {result}"))
            continue
        for package in result.packages:
            rows.append(
                (
                    host,
                    result.manifest,
                    package.name,
                    package.arch,
                    package.wanted or "-",
                    package.found or "-",
                    package.describe(),
                )
            )
        if result.in_sync:
            rows.append((host, result.manifest, "-", "-", "-", "-", result.summary()))
    return _table(header, rows)


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    rows = list(rows)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def drifted_hosts(results: Mapping[str, HostResult]) -> list[str]:
    """Hosts that drift or could not be checked (both make the drift command fail)."""
    return [
        host for host, result in results.items() if isinstance(result, str) or not result.in_sync
    ]


def render_json(results: Mapping[str, HostResult]) -> str:
    hosts = {
        host: ({"error": result} if isinstance(result, str) else result.to_json())
        for host, result in results.items()
    }
    return json.dumps({"hosts": hosts, "drifted": drifted_hosts(results)}, indent=2) + "\n"


def package_drift_from_json(data: Mapping[str, object]) -> PackageDrift:
    return PackageDrift(
        name=str(data["package"]),
        arch=str(data["arch"]),
        kinds=tuple(data["kinds"]),  # type: ignore[arg-type]
        wanted=data["manifest"],  # type: ignore[arg-type]
        found=data["installed"],  # type: ignore[arg-type]
        state=str(data["state"]),
        held=bool(data["held"]),
    )


def host_drift_from_json(data: Mapping[str, object]) -> HostDrift:
    """Inverse of ``HostDrift.to_json`` (the drift deploy hands its result over as JSON)."""
    return HostDrift(
        manifest=str(data["manifest"]),
        checked=int(data["checked"]),  # type: ignore[arg-type]
        packages=tuple(package_drift_from_json(p) for p in data["drift"]),  # type: ignore[union-attr]
    )
