"""Debian's own rules, in one place: package names, versions, and how apt spells a package.

Versions are checked and compared with python-debian, never as strings.
"""

from __future__ import annotations

import re

from debian.debian_support import Version

__all__ = ["ARCH_RE", "PACKAGE_RE", "apt_name", "check_version"]

# Debian policy 5.6.1 (package names) and dpkg's architecture names.
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
ARCH_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def check_version(value: str) -> str:
    """``value`` if it is a Debian version (upstream part starting with a digit), else
    ValueError naming it."""
    try:
        upstream = Version(value).upstream_version
    except ValueError as error:
        raise ValueError(f"{value!r} is not a Debian version ({error})") from None
    if not upstream or not upstream[0].isdigit():
        raise ValueError(f"{value!r} is not a Debian version (must start with a digit)")
    return value


def apt_name(name: str, arch: str, native_arch: str) -> str:
    """The spelling apt uses for a package: ``name`` for the native architecture and
    ``all``, ``name:arch`` for a foreign one (as ``apt-mark``, ``apt-cache policy`` and
    ``apt-get install`` print and accept it)."""
    return name if arch in (native_arch, "all") else f"{name}:{arch}"
