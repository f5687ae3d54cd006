"""Make a manifest from what a clean install actually brought (pure).

``create`` installs the metapackage in a clean container and hands the BOM after it, and
apt's policy for every installed package, to ``build_manifest``: the manifest lists exactly
the packages whose installed version apt says came from the vendor's repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from snakepit.cuda.drift import installed_from
from snakepit.cuda.manifest import (
    Boms,
    CudaManifest,
    ManifestPackage,
    Metapackage,
    Target,
    VendorSource,
    sorted_packages,
)
from snakepit.parsers.apt import AptPolicy
from snakepit.parsers.dpkg import Bom


class CreateError(RuntimeError):
    pass


def bom_file_names(manifest_path: Path) -> Boms:
    """``cuda-11-5.yaml`` -> ``cuda-11-5.before.txt`` and ``cuda-11-5.after.txt``."""
    return Boms(before=f"{manifest_path.stem}.before.txt", after=f"{manifest_path.stem}.after.txt")


def build_manifest(
    path: Path,
    metapackage: str,
    source: VendorSource,
    target: Target,
    after: Bom,
    policies: Mapping[str, AptPolicy],
    created: datetime,
) -> CudaManifest:
    vendor = installed_from(source, target.architecture, after, policies)
    if not vendor:
        raise CreateError(
            f"no installed package comes from {source.url}: is the source right, and did "
            f"{metapackage} install from it?"
        )
    meta = [package for package in vendor if package.name == metapackage]
    if len(meta) != 1:
        raise CreateError(f"{metapackage} is not installed from {source.url}")
    packages = sorted_packages([ManifestPackage(p.name, p.arch, p.version) for p in vendor])
    return CudaManifest(
        name=path.stem,
        created=created,
        metapackage=Metapackage(metapackage, meta[0].version),
        target=target,
        source=source,
        packages=packages,
        boms=bom_file_names(path),
        path=path,
    )
