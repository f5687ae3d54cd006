"""The ``--data`` options of the tool deploys, each a small schema (an unknown or mistyped
option is refused with one line). In a module of their own: pyinfra executes deploy files in
a namespace pydantic cannot resolve annotations in."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

from snakepit.schema import Field, Schema


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class ManifestCreateOptions(Schema):
    """deploys/tools/manifest_create.py"""

    metapackage: str = Field(description="the metapackage to install the plain way")
    source: str = Field(description="the vendor source file (manifests/sources/*.yaml)")
    out: str = Field(description="where to write the manifest")
    also: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        (), description="more apt arguments, e.g. a driver pin"
    )


class ManifestTestOptions(Schema):
    """deploys/tools/manifest_test.py"""

    manifest: str = Field(description="the manifest to test, manifests/<name>.yaml")


class DriftOptions(Schema):
    """deploys/tools/manifest_drift.py"""

    drift_out: str = Field(description="directory for the results, one JSON file per host")


# Which deploy file takes which options (the pre-connection check leaves them aside).
OPTIONS_BY_DEPLOY: dict[str, type[Schema]] = {
    "deploys/tools/manifest_create.py": ManifestCreateOptions,
    "deploys/tools/manifest_test.py": ManifestTestOptions,
    "deploys/tools/manifest_drift.py": DriftOptions,
}
