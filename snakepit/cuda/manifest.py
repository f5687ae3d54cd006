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
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import urlparse

import yaml
from pydantic import AfterValidator, BeforeValidator, PrivateAttr, model_validator

from snakepit.cuda.openpgp import normalize_fingerprint
from snakepit.debian import ARCH_RE, PACKAGE_RE, apt_name, check_version
from snakepit.schema import (
    DataError,
    Field,
    FieldProblem,
    Schema,
    load_yaml,
    render_model_docs,
    validate,
)

SCHEMA = 1
CREATED_NOTE = "Written by `python -m tools.cuda create`; do not edit by hand (recreate it)."
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# apt's preference pins: above the default 500 so the vendor's builds beat the distro's,
# below 1000 so a pin never forces a downgrade on its own (the manifest does that, exactly).
PIN_PRIORITY_RANGE = range(501, 1000)


class ManifestError(DataError):
    """A manifest or source file is unusable; the message names the file and the field."""

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.path = str(path)
        self.field = field
        self.with_source(self.path)

    @classmethod
    def of(cls, path: Path | str, error: DataError) -> ManifestError:
        return cls(path, error.field_path, error.problem)


# -- value types: each says what is allowed ------------------------------------------------


def _check(test, problem: str) -> AfterValidator:
    def validator(value: Any) -> Any:
        if not test(value):
            raise ValueError(problem.format(value=value))
        return value

    return AfterValidator(validator)


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        # YAML reads an unquoted 18.04 or 12 as a number; a release or version is text.
        raise ValueError(f"must be a quoted string (YAML read {value!r} as a number)")
    return value


def _matching(pattern: re.Pattern[str]) -> AfterValidator:
    return _check(pattern.match, "{value!r} does not match " + pattern.pattern)


def _tuple(value: Any) -> Any:
    # YAML writes lists; the models keep tuples. Anything else is refused by type.
    return tuple(value) if isinstance(value, list) else value


def _iso_time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"must be an ISO 8601 time, got {type(value).__name__}")
    return value


# apt trusts a key in trusted.gpg.d for every repository: a vendor's key lives where only
# its own `signed-by` source uses it.
KEYRING_DIRS = ("/usr/share/keyrings/", "/etc/apt/keyrings/")
_APT_WORD = re.compile(r"^[A-Za-z0-9._~+/-]+$")


def _keyring(value: str) -> bool:
    path = PurePosixPath(value)
    return (
        value.startswith(KEYRING_DIRS)
        and value.endswith(".gpg")
        and ".." not in path.parts
        and re.fullmatch(r"[A-Za-z0-9/_.+-]+", value) is not None
    )


def _http_url(value: str) -> bool:
    parsed = urlparse(value)
    return (
        parsed.scheme in ("http", "https")
        and bool(parsed.netloc)
        and not any(c.isspace() for c in value)
    )


Text = Annotated[
    str,
    BeforeValidator(_not_a_number),
    _check(lambda v: v.strip(), "must be a non-empty string, got {value!r}"),
]
Slug = Annotated[Text, _matching(_SLUG)]
PackageName = Annotated[Text, _matching(PACKAGE_RE)]
Arch = Annotated[Text, _matching(ARCH_RE)]
DebianVersion = Annotated[Text, AfterValidator(check_version)]
HttpUrl = Annotated[Text, _check(_http_url, "{value!r} is not an http(s) URL")]
PinField = Annotated[
    Text, _check(lambda v: "," not in v, "cannot contain ',' (apt's pin syntax separates fields)")
]
Fingerprint = Annotated[Text, AfterValidator(normalize_fingerprint)]
Keyring = Annotated[
    Text,
    _check(
        _keyring,
        "{value!r} must be a .gpg file under /usr/share/keyrings/ or /etc/apt/keyrings/",
    ),
]
AptWord = Annotated[
    Text, _check(_APT_WORD.match, "{value!r} is not one apt word (letters, digits, ._~+/-)")
]
PinPriority = Annotated[
    int,
    _check(
        lambda v: v in PIN_PRIORITY_RANGE,
        f"{{value}} is outside {PIN_PRIORITY_RANGE.start}..{PIN_PRIORITY_RANGE.stop - 1}",
    ),
]
AwareTime = Annotated[
    datetime,
    BeforeValidator(_iso_time),
    _check(lambda v: v.tzinfo is not None, "must carry a time zone (e.g. +00:00)"),
]


class _Record(Schema):
    """A model Python code may also build positionally, in field order, like a dataclass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = list(type(self).model_fields)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} arguments")
        super().__init__(**dict(zip(names, args, strict=False)), **kwargs)


# -- the schema of manifests and source files ----------------------------------------------


class Target(_Record):
    """The hosts a manifest is for: ``/etc/os-release`` ID and VERSION_ID, dpkg's arch."""

    distro: Slug = Field(description="`ID` of /etc/os-release, e.g. ubuntu or debian")
    release: Text = Field(description="`VERSION_ID` of /etc/os-release, quoted: '18.04'")
    architecture: Arch = Field(description="dpkg's native architecture, e.g. amd64")

    def describe(self) -> str:
        return f"{self.distro} {self.release} {self.architecture}"


class ReleaseMatch(_Record):
    """Fields of the repository's Release file that apt's preferences pin by.

    NVIDIA's own pin file matches the label alone (``Pin: release l=NVIDIA CUDA``); an
    origin narrows it further where a Release file is known to carry one.
    """

    label: PinField = Field(description="`Label:` of the Release file (`l=` in the pin)")
    origin: PinField | None = Field(
        None, description="`Origin:` of the Release file (`o=`); None: pin by label alone"
    )

    def pin(self) -> str:
        fields = [f"o={self.origin}"] if self.origin else []
        return "release " + ",".join([*fields, f"l={self.label}"])

    def to_data(self) -> dict[str, str]:
        data = {"label": self.label}
        if self.origin:
            data["origin"] = self.origin
        return data


class SuiteLine(_Record):
    """One more ``deb URL suite`` line of the same vendor: same components, same key."""

    url: HttpUrl = Field(description="the repository's URL")
    suite: AptWord = Field(description="the suite, e.g. bookworm-security")


class VendorSource(_Record):
    """The vendor's apt repository and how hosts trust and prefer it.

    ``suite`` ``/`` with no components is a flat repository, which is how NVIDIA publishes
    CUDA (``deb URL /``). ``name`` names the files written on hosts
    (``/etc/apt/sources.list.d/<name>.list``, ``/etc/apt/preferences.d/<name>``).

    The vendor may be the distribution itself (Debian's non-free NVIDIA driver): then
    ``components`` select the vendor's packages (``non-free``, not ``main``: the compiler
    DKMS pulls in stays an ordinary Debian package), ``also`` adds the suites where the
    distribution publishes fixed versions (``bookworm-security``), ``key_url`` is None
    (the distribution's own keyring package already put the key on every host; it is
    checked, never fetched or written) and so are ``release`` and ``pin_priority`` (no
    other repository offers these packages: nothing to out-rank).
    """

    name: Slug = Field(description="names the .list, preferences and keyring files on hosts")
    url: HttpUrl = Field(description="the repository's URL (`deb URL suite components`)")
    suite: AptWord = Field(description="the suite; ending in `/`: a flat repository")
    components: Annotated[tuple[AptWord, ...], BeforeValidator(_tuple)] = Field(
        description="the components of a suite (only these are the vendor's); empty for a "
        "flat repository"
    )
    key_url: HttpUrl | None = Field(
        description="where the signing key is downloaded from; None: the distribution's "
        "keyring on the host already holds it (checked, never written)"
    )
    key_fingerprint: Fingerprint = Field(
        description="the signing key's 40-digit fingerprint; a downloaded key must match it"
    )
    keyring: Keyring = Field(description="where hosts keep the key (`signed-by`), *.gpg")
    release: ReleaseMatch | None = Field(
        description="what apt's preferences pin by; None: no pin (the distribution's own)"
    )
    pin_priority: PinPriority | None = Field(
        description="apt pin priority of the repository: 501..999 (beats the distro's 500); "
        "None with `release`"
    )
    also: Annotated[tuple[SuiteLine, ...], BeforeValidator(_tuple)] = Field(
        (),
        description="more suites of the same vendor (same components and key), e.g. "
        "Debian's security suite",
    )

    @model_validator(mode="after")
    def _suite_and_components(self) -> VendorSource:
        if self.is_flat and self.components:
            raise FieldProblem(
                "components", "must be empty for a flat repository (suite ending in /)"
            )
        if not self.is_flat and not self.components:
            raise FieldProblem("components", "must name at least one component for a suite")
        if self.is_flat and self.also:
            raise FieldProblem("also", "must be empty for a flat repository")
        if (self.release is None) != (self.pin_priority is None):
            raise FieldProblem("pin_priority", "must be set exactly when release is")
        return self

    @property
    def is_flat(self) -> bool:
        return self.suite.endswith("/")

    def lines(self) -> tuple[SuiteLine, ...]:
        """Every ``deb URL suite`` of the vendor, the main one first."""
        return (SuiteLine(self.url, self.suite), *self.also)

    def offers(self, origin: str) -> bool:
        """Whether an ``apt-cache policy`` source line is this vendor's: apt prints the URL
        first (without a trailing slash for flat repositories), then ``suite/component``
        (``"http://deb.debian.org/debian bookworm/non-free amd64 Packages"``)."""
        words = origin.split()
        if not words:
            return False
        for line in self.lines():
            if words[0].rstrip("/") != line.url.rstrip("/"):
                continue
            if self.is_flat:
                return True
            wanted = {f"{line.suite}/{component}" for component in self.components}
            if len(words) > 1 and words[1] in wanted:
                return True
        return False


class ManifestPackage(_Record):
    """One package the metapackage brought from the vendor, exactly."""

    name: PackageName = Field(description="Debian package name")
    arch: Arch = Field(description="its architecture (the native one, `all`, or foreign)")
    version: DebianVersion = Field(description="the exact Debian version installed and held")

    @property
    def key(self) -> str:
        """``"name:arch"``, the key of ``snakepit.parsers.dpkg.Bom``."""
        return f"{self.name}:{self.arch}"

    def apt_name(self, native_arch: str) -> str:
        """The spelling apt uses: qualified only for a foreign architecture."""
        return apt_name(self.name, self.arch, native_arch)


class Metapackage(_Record):
    """The package the manifest was made by installing."""

    name: PackageName = Field(description="e.g. cuda-11-5")
    version: DebianVersion = Field(description="its version; `packages` lists it at this one")


class Boms(_Record):
    """File names, relative to the manifest, of the ``dpkg -l`` BOMs from ``create``."""

    before: Text = Field(description="the BOM of the clean host before the install")
    after: Text = Field(description="the BOM after installing the metapackage")


DRIVER_PACKAGE_RE = re.compile(r"^(cuda-drivers|nvidia-driver|nvidia-kernel-|nvidia-open-kernel)")


class CudaManifest(_Record):
    """A CUDA manifest (``manifests/<name>.yaml``); the file also starts with ``schema: 1``.

    ``path`` is the file it was read from (None for one built in memory); it is not part of
    the manifest's value: two manifests with the same content are equal wherever they are.
    """

    name: Slug = Field(description="the manifest's name, its file name without .yaml")
    created: AwareTime = Field(description="when `create` made it, ISO 8601 with a zone")
    metapackage: Metapackage = Field(description="what was installed to make it")
    target: Target = Field(description="the hosts it is for")
    source: VendorSource = Field(description="the vendor's repository")
    packages: Annotated[
        tuple[ManifestPackage, ...],
        BeforeValidator(_tuple),
        _check(len, "must be a non-empty list"),
    ] = Field(description="every package from the vendor's origin, exactly")
    boms: Boms | None = Field(None, description="the BOM files beside it; None: none kept")
    _path: Path | None = PrivateAttr(None)

    def __init__(self, *args: Any, path: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._path = path

    @model_validator(mode="after")
    def _each_package_once(self) -> CudaManifest:
        seen: set[str] = set()
        for index, package in enumerate(self.packages):
            if package.key in seen:
                raise FieldProblem(f"packages[{index}].name", f"{package.key} is listed twice")
            seen.add(package.key)
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CudaManifest):
            return NotImplemented
        return self.__dict__ == other.__dict__

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def driver_packages(self) -> tuple[ManifestPackage, ...]:
        """The packages that bring the NVIDIA kernel driver: NVIDIA's ``cuda-drivers*``,
        ``nvidia-driver-<branch>`` and ``nvidia-kernel-*``, Debian's ``nvidia-driver``,
        ``nvidia-kernel-dkms`` and ``nvidia-open-kernel-dkms``. A worker whose manifest has
        them gets its driver from this run, so no driver yet is not a GPU missing."""
        return tuple(p for p in self.packages if DRIVER_PACKAGE_RE.match(p.name))

    def by_key(self) -> dict[str, ManifestPackage]:
        return {package.key: package for package in self.packages}

    def apt_names(self) -> list[str]:
        return [package.apt_name(self.target.architecture) for package in self.packages]

    def bom_paths(self) -> tuple[Path, Path] | None:
        if self.boms is None or self.path is None:
            return None
        return self.path.parent / self.boms.before, self.path.parent / self.boms.after


class SourceFile(_Record):
    """A source file (``manifests/sources/*.yaml``): the input of ``create``."""

    source: VendorSource = Field(description="the vendor's repository")
    target: Target = Field(description="the hosts the manifest will be for")


# -- loading -------------------------------------------------------------------------------


def _read_mapping(path: Path) -> dict[Any, Any]:
    try:
        data = load_yaml(path)
    except DataError as error:
        raise ManifestError.of(path, error) from None
    if not isinstance(data, Mapping):
        kind = "nothing" if data is None else type(data).__name__
        raise ManifestError(path, "", f"must be a mapping, got {kind}")
    return dict(data)


def load_manifest(path: Path | str) -> CudaManifest:
    """Read and validate a manifest; raise ManifestError naming the file and the field."""
    path = Path(path)
    data = _read_mapping(path)
    if "schema" not in data:
        raise ManifestError(path, "schema", "is missing")
    schema = data.pop("schema")
    if schema != SCHEMA:
        raise ManifestError(path, "schema", f"must be {SCHEMA}, got {schema!r}")
    try:
        manifest = validate(CudaManifest, data)
    except DataError as error:
        raise ManifestError.of(path, error) from None
    meta = manifest.metapackage
    listed = [p for p in manifest.packages if p.name == meta.name]
    if not listed or any(p.version != meta.version for p in listed):
        raise ManifestError(
            path, "metapackage", f"{meta.name}={meta.version} is not in packages at that version"
        )
    if manifest.boms is not None:
        for key in ("before", "after"):
            name = getattr(manifest.boms, key)
            if not (path.parent / name).is_file():
                raise ManifestError(path, f"boms.{key}", f"{name!r} is not a file beside it")
    manifest._path = path
    return manifest


def load_source_file(path: Path | str) -> tuple[VendorSource, Target]:
    """Read a source file (``source:`` and ``target:`` only), the input of ``create``."""
    path = Path(path)
    try:
        loaded = validate(SourceFile, _read_mapping(path))
    except DataError as error:
        raise ManifestError.of(path, error) from None
    return loaded.source, loaded.target


def for_release(
    manifests: tuple[CudaManifest, ...], distro: str | None, release: str | None
) -> CudaManifest | None:
    """The manifest, of a worker's list (one per release), whose target is that distro and
    release; None when none is. The installing operation checks the architecture too."""
    for manifest in manifests:
        if (manifest.target.distro, manifest.target.release) == (distro, release):
            return manifest
    return None


def one_per_release(manifests: tuple[CudaManifest, ...]) -> str | None:
    """Why a worker's list of manifests is ambiguous (two for one target), if it is."""
    seen: dict[str, str] = {}
    for manifest in manifests:
        target = manifest.target.describe()
        if target in seen:
            return f"{seen[target]} and {manifest.name} are both for {target}: list one per release"
        seen[target] = manifest.name
    return None


def render_manifest_docs(heading: str = "###") -> str:
    """Markdown: every key of a CUDA manifest and of a source file, its type and meaning."""
    source_keys = ", ".join(f"`{name}`" for name in SourceFile.model_fields)
    return (
        f"A manifest starts with `schema: {SCHEMA}` (its format version), then the keys of "
        "`CudaManifest`. A source file (`manifests/sources/*.yaml`, the input of `create`) "
        f"holds only {source_keys}, as in a manifest. Unknown and repeated keys are refused."
        "\n\n" + render_model_docs(CudaManifest, heading)
    )


# -- writing -------------------------------------------------------------------------------


def _flow(mapping: Mapping[str, Any]) -> str:
    # One package per line keeps diffs of a manifest readable: a changed pin is one line.
    return yaml.safe_dump(dict(mapping), default_flow_style=True, sort_keys=False, width=10**6)


def source_to_data(source: VendorSource) -> dict[str, Any]:
    data = {
        "name": source.name,
        "url": source.url,
        "suite": source.suite,
        "components": list(source.components),
        "key_url": source.key_url,
        "key_fingerprint": source.key_fingerprint,
        "keyring": source.keyring,
        "release": source.release.to_data() if source.release is not None else None,
        "pin_priority": source.pin_priority,
    }
    if source.also:
        data["also"] = [{"url": line.url, "suite": line.suite} for line in source.also]
    return data


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
