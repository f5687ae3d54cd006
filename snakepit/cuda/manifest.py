"""The CUDA manifest: a YAML lock file of the exact vendor packages for one configuration.

A manifest says which metapackage it was made from and at which version, where the vendor's
apt repository is and which key signs it, which distro and architecture it is for, when it
was made, and the exact ``name``/``arch``/``version`` of every package that came from the
vendor's origin. It is loaded once, through ``load_manifest``, into frozen dataclasses; any
bad field is a ``ManifestError`` that names the file and the field (``packages[3].version``).

The vendor source and the target are also written on their own (a *source file*, see
``load_source_file``): that is the input of ``create``, which adds the rest.

Example (``manifests/cuda-11-5.yaml``, shortened)::

    schema: 1
    name: cuda-11-5
    created: '2022-01-10T15:28:10+00:00'
    metapackage: {name: cuda-11-5, version: 11.5.1-1}
    target: {distro: ubuntu, release: '18.04', architecture: amd64}
    source:
      name: nvidia-cuda
      url: https://developer.download.nvidia.com/compute/cuda/repos/ubuntu1804/x86_64/
      suite: /
      components: []
      key_url: https://developer.download.nvidia.com/compute/cuda/repos/ubuntu1804/x86_64/3bf863cc.pub
      key_fingerprint: EB693B3035CD5710E231E123A4B469963BF863CC
      keyring: /usr/share/keyrings/cuda-archive-keyring.gpg
      release: {label: NVIDIA CUDA}
      pin_priority: 600
    boms: {before: cuda-11-5.before.txt, after: cuda-11-5.after.txt}
    packages:
    - {name: cuda-11-5, arch: amd64, version: 11.5.1-1}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn
from urllib.parse import urlparse

import yaml
from debian.debian_support import Version

from snakepit.cuda.openpgp import OpenPGPError, normalize_fingerprint

SCHEMA = 1
CREATED_NOTE = "Written by `python -m tools.cuda create`; do not edit by hand (recreate it)."
# Debian policy 5.6.1 (names) and dpkg's architecture names.
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_ARCH = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# apt's preference pins: above the default 500 so the vendor's builds beat the distro's,
# below 1000 so a pin never forces a downgrade on its own (the manifest does that, exactly).
PIN_PRIORITY_RANGE = range(501, 1000)


class ManifestError(ValueError):
    """A manifest or source file is unusable; the message names the file and the field."""

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = f"{self.path}: {field}" if field else self.path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Target:
    """The hosts a manifest is for: ``/etc/os-release`` ID and VERSION_ID, dpkg's arch."""

    distro: str
    release: str
    architecture: str

    def describe(self) -> str:
        return f"{self.distro} {self.release} {self.architecture}"


@dataclass(frozen=True)
class ReleaseMatch:
    """Fields of the repository's Release file that apt's preferences pin by.

    NVIDIA's own pin file matches the label alone (``Pin: release l=NVIDIA CUDA``); an
    origin narrows it further where a Release file is known to carry one.
    """

    label: str
    origin: str | None = None

    def pin(self) -> str:
        fields = [f"o={self.origin}"] if self.origin else []
        return "release " + ",".join([*fields, f"l={self.label}"])

    def to_data(self) -> dict[str, str]:
        data = {"label": self.label}
        if self.origin:
            data["origin"] = self.origin
        return data


@dataclass(frozen=True)
class VendorSource:
    """The vendor's apt repository and how hosts trust and prefer it.

    ``suite`` ``/`` with no components is a flat repository, which is how NVIDIA publishes
    CUDA (``deb URL /``). ``name`` names the files written on hosts
    (``/etc/apt/sources.list.d/<name>.list``, ``/etc/apt/preferences.d/<name>``).
    """

    name: str
    url: str
    suite: str
    components: tuple[str, ...]
    key_url: str
    key_fingerprint: str
    keyring: str
    release: ReleaseMatch
    pin_priority: int

    @property
    def is_flat(self) -> bool:
        return self.suite.endswith("/")

    def offers(self, origin: str) -> bool:
        """Whether an ``apt-cache policy`` source line (``"http://... ./ Packages"``) is
        this repository: apt prints the URL first, without a trailing slash for flat ones."""
        words = origin.split()
        return bool(words) and words[0].rstrip("/") == self.url.rstrip("/")


@dataclass(frozen=True)
class ManifestPackage:
    name: str
    arch: str
    version: str

    @property
    def key(self) -> str:
        """``"name:arch"``, the key of ``snakepit.parsers.dpkg.Bom``."""
        return f"{self.name}:{self.arch}"

    def apt_name(self, native_arch: str) -> str:
        """The spelling apt uses: qualified only for a foreign architecture."""
        return self.name if self.arch in (native_arch, "all") else self.key


@dataclass(frozen=True)
class Metapackage:
    name: str
    version: str


@dataclass(frozen=True)
class Boms:
    """File names, relative to the manifest, of the ``dpkg -l`` BOMs from ``create``."""

    before: str
    after: str


@dataclass(frozen=True)
class CudaManifest:
    name: str
    created: datetime
    metapackage: Metapackage
    target: Target
    source: VendorSource
    packages: tuple[ManifestPackage, ...]
    boms: Boms | None = None
    path: Path | None = field(default=None, compare=False)

    def by_key(self) -> dict[str, ManifestPackage]:
        return {package.key: package for package in self.packages}

    def apt_names(self) -> list[str]:
        return [package.apt_name(self.target.architecture) for package in self.packages]

    def bom_paths(self) -> tuple[Path, Path] | None:
        if self.boms is None or self.path is None:
            return None
        return self.path.parent / self.boms.before, self.path.parent / self.boms.after


# -- loading -------------------------------------------------------------------------------


class _Reader:
    """Typed access to one YAML mapping, reporting errors with the file and field path."""

    def __init__(self, path: Path | str, data: Any, where: str = "") -> None:
        self.path = path
        self.where = where
        if not isinstance(data, Mapping):
            self.fail("", f"must be a mapping, got {_kind(data)}")
        self.data = data
        self.used: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ManifestError(self.path, self.name(key) if key else self.where, problem)

    def raw(self, key: str) -> Any:
        self.used.add(key)
        if key not in self.data:
            self.fail(key, "is missing")
        return self.data[key]

    def text(self, key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.raw(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # YAML reads an unquoted 18.04 or 12 as a number; a release or version is text.
            self.fail(key, f"must be a quoted string (YAML read {value!r} as a number)")
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {_kind(value)}")
        if pattern is not None and not pattern.match(value):
            self.fail(key, f"{value!r} does not match {pattern.pattern}")
        return value

    def version(self, key: str) -> str:
        value = self.text(key)
        try:
            upstream = Version(value).upstream_version
        except ValueError as error:
            self.fail(key, f"{value!r} is not a Debian version ({error})")
        if not upstream or not upstream[0].isdigit():
            self.fail(key, f"{value!r} is not a Debian version (must start with a digit)")
        return value

    def url(self, key: str) -> str:
        value = self.text(key)
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.fail(key, f"{value!r} is not an http(s) URL")
        return value

    def integer(self, key: str, allowed: range) -> int:
        value = self.raw(key)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(key, f"must be an integer, got {_kind(value)}")
        if value not in allowed:
            self.fail(key, f"{value} is outside {allowed.start}..{allowed.stop - 1}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(key, f"must be a list of strings, got {value!r}")
        return tuple(value)

    def child(self, key: str) -> _Reader:
        return _Reader(self.path, self.raw(key), self.name(key))

    def done(self) -> None:
        unknown = sorted(str(key) for key in self.data if key not in self.used)
        if unknown:
            self.fail(unknown[0], "is not a known field (a typo?)")


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as error:
        raise ManifestError(path, "", f"cannot be read: {error.strerror}") from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ManifestError(path, "", f"is not valid YAML: {error}") from error


def _target(reader: _Reader) -> Target:
    target = Target(
        distro=reader.text("distro", _SLUG),
        release=reader.text("release"),
        architecture=reader.text("architecture", _ARCH),
    )
    reader.done()
    return target


def _source(reader: _Reader) -> VendorSource:
    suite = reader.text("suite")
    components = reader.strings("components")
    if suite.endswith("/") and components:
        reader.fail("components", "must be empty for a flat repository (suite ending in /)")
    if not suite.endswith("/") and not components:
        reader.fail("components", "must name at least one component for a suite")
    fingerprint = reader.text("key_fingerprint")
    try:
        fingerprint = normalize_fingerprint(fingerprint)
    except OpenPGPError as error:
        reader.fail("key_fingerprint", str(error))
    keyring = reader.text("keyring")
    if not PurePosixPath(keyring).is_absolute() or not keyring.endswith(".gpg"):
        reader.fail("keyring", f"{keyring!r} must be an absolute path ending in .gpg")
    release = reader.child("release")
    release_match = ReleaseMatch(
        label=release.text("label"),
        origin=release.text("origin") if "origin" in release.data else None,
    )
    for key in ("origin", "label"):
        if "," in (getattr(release_match, key) or ""):
            release.fail(key, "cannot contain ',' (apt's pin syntax separates fields with it)")
    release.done()
    source = VendorSource(
        name=reader.text("name", _SLUG),
        url=reader.url("url"),
        suite=suite,
        components=components,
        key_url=reader.url("key_url"),
        key_fingerprint=fingerprint,
        keyring=keyring,
        release=release_match,
        pin_priority=reader.integer("pin_priority", PIN_PRIORITY_RANGE),
    )
    reader.done()
    return source


def _created(reader: _Reader) -> datetime:
    value = reader.raw("created")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            reader.fail("created", f"{value!r} is not an ISO 8601 time")
    if not isinstance(value, datetime):
        reader.fail("created", f"must be an ISO 8601 time, got {_kind(value)}")
    if value.tzinfo is None:
        reader.fail("created", "must carry a time zone (e.g. +00:00)")
    return value


def _packages(reader: _Reader) -> tuple[ManifestPackage, ...]:
    items = reader.raw("packages")
    if not isinstance(items, list) or not items:
        reader.fail("packages", "must be a non-empty list")
    packages: list[ManifestPackage] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        entry = _Reader(reader.path, item, f"packages[{index}]")
        package = ManifestPackage(
            name=entry.text("name", _PACKAGE_NAME),
            arch=entry.text("arch", _ARCH),
            version=entry.version("version"),
        )
        entry.done()
        if package.key in seen:
            entry.fail("name", f"{package.key} is listed twice")
        seen.add(package.key)
        packages.append(package)
    return tuple(packages)


def _boms(reader: _Reader, path: Path) -> Boms | None:
    if "boms" not in reader.data:
        return None
    boms_reader = reader.child("boms")
    boms = Boms(before=boms_reader.text("before"), after=boms_reader.text("after"))
    for key in ("before", "after"):
        if not (path.parent / getattr(boms, key)).is_file():
            boms_reader.fail(key, f"{getattr(boms, key)!r} is not a file beside the manifest")
    boms_reader.done()
    return boms


def load_manifest(path: Path | str) -> CudaManifest:
    """Read and validate a manifest; raise ManifestError naming the file and the field."""
    path = Path(path)
    reader = _Reader(path, _read_yaml(path))
    schema = reader.raw("schema")
    if schema != SCHEMA:
        reader.fail("schema", f"must be {SCHEMA}, got {schema!r}")
    metapackage_reader = reader.child("metapackage")
    metapackage = Metapackage(
        name=metapackage_reader.text("name", _PACKAGE_NAME),
        version=metapackage_reader.version("version"),
    )
    metapackage_reader.done()
    manifest = CudaManifest(
        name=reader.text("name", _SLUG),
        created=_created(reader),
        metapackage=metapackage,
        target=_target(reader.child("target")),
        source=_source(reader.child("source")),
        packages=_packages(reader),
        boms=_boms(reader, path),
        path=path,
    )
    reader.done()
    listed = [p for p in manifest.packages if p.name == metapackage.name]
    if not listed or any(p.version != metapackage.version for p in listed):
        reader.fail(
            "metapackage",
            f"{metapackage.name}={metapackage.version} is not in packages at that version",
        )
    return manifest


def load_source_file(path: Path | str) -> tuple[VendorSource, Target]:
    """Read a source file (``source:`` and ``target:`` only), the input of ``create``."""
    path = Path(path)
    reader = _Reader(path, _read_yaml(path))
    result = _source(reader.child("source")), _target(reader.child("target"))
    reader.done()
    return result


# -- writing -------------------------------------------------------------------------------


def _flow(mapping: Mapping[str, Any]) -> str:
    # One package per line keeps diffs of a manifest readable: a changed pin is one line.
    return yaml.safe_dump(dict(mapping), default_flow_style=True, sort_keys=False, width=10**6)


def source_to_data(source: VendorSource) -> dict[str, Any]:
    return {
        "name": source.name,
        "url": source.url,
        "suite": source.suite,
        "components": list(source.components),
        "key_url": source.key_url,
        "key_fingerprint": source.key_fingerprint,
        "keyring": source.keyring,
        "release": source.release.to_data(),
        "pin_priority": source.pin_priority,
    }


def target_to_data(target: Target) -> dict[str, str]:
    return {
        "distro": target.distro,
        "release": target.release,
        "architecture": target.architecture,
    }


def dump_source_file(source: VendorSource, target: Target, comment: str = "") -> str:
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    body = {"source": source_to_data(source), "target": target_to_data(target)}
    return header + yaml.safe_dump(body, sort_keys=False)


def dump_manifest(manifest: CudaManifest, note: str = CREATED_NOTE) -> str:
    """The manifest as YAML, in a fixed layout that ``load_manifest`` reads back equal."""
    head = {
        "schema": SCHEMA,
        "name": manifest.name,
        "created": manifest.created.astimezone(UTC).isoformat(),
    }
    lines = [
        f"# Exact package manifest {manifest.name}: the vendor packages that "
        f"{manifest.metapackage.name} {manifest.metapackage.version} installed on "
        f"{manifest.target.describe()}.",
        *(f"# {line}" for line in note.splitlines()),
        yaml.safe_dump(head, sort_keys=False).rstrip(),
        "metapackage: "
        + _flow(
            {"name": manifest.metapackage.name, "version": manifest.metapackage.version}
        ).rstrip(),
        "target: " + _flow(target_to_data(manifest.target)).rstrip(),
        yaml.safe_dump({"source": source_to_data(manifest.source)}, sort_keys=False).rstrip(),
    ]
    if manifest.boms is not None:
        lines.append(
            "boms: "
            + _flow({"before": manifest.boms.before, "after": manifest.boms.after}).rstrip()
        )
    lines.append(f"packages:  # {len(manifest.packages)}")
    for package in manifest.packages:
        entry = {"name": package.name, "arch": package.arch, "version": package.version}
        lines.append("- " + _flow(entry).rstrip())
    return "\n".join(lines) + "\n"


def sorted_packages(packages: list[ManifestPackage]) -> tuple[ManifestPackage, ...]:
    return tuple(sorted(packages, key=lambda p: (p.name, p.arch)))


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
