"""The files that make a host trust and prefer the vendor's apt repository (pure rendering).

* ``/etc/apt/sources.list.d/<name>.list``: the repository, trusted only through its own
  keyring (``signed-by``), never through apt's global trusted keys;
* ``/etc/apt/preferences.d/<name>``: the vendor's Release (origin and label) pinned above the
  distro's 500, so a plain ``apt-get install`` never takes the distro's driver build (none
  when the vendor is the distribution itself);
* ``/etc/apt/apt.conf.d/51<name>-unattended-upgrades``: unattended-upgrades keeps its hands
  off ``nvidia-*``, ``libnvidia-*`` and ``cuda-*`` (the holds already stop it; this is the
  belt to their braces, and covers packages outside any manifest).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from snakepit.cuda.manifest import VendorSource

# Patterns are Python regular expressions matched at the start of a package name.
UNATTENDED_BLACKLIST = ("nvidia-", "libnvidia-", "cuda-")
MANAGED = "Managed by snakepit-pyinfra (snakepit.cuda); local changes are overwritten."


@dataclass(frozen=True)
class AptFile:
    path: str
    content: str
    mode: str = "644"


def sources_list_path(source: VendorSource) -> str:
    return f"/etc/apt/sources.list.d/{source.name}.list"


def sources_list(source: VendorSource, architecture: str) -> AptFile:
    options = f"[arch={architecture} signed-by={source.keyring}]"
    lines = [
        " ".join(["deb", options, line.url, line.suite, *source.components])
        for line in source.lines()
    ]
    return AptFile(sources_list_path(source), f"# {MANAGED}\n" + "\n".join(lines) + "\n")


def preferences(source: VendorSource) -> AptFile | None:
    if source.release is None:
        return None  # the distribution's own packages: no other repository to out-rank
    content = (
        f"# {MANAGED}\n"
        f"# {source.name}: the vendor's builds win over the distro's (500), without\n"
        "# forcing downgrades (<1000); exact versions come from the manifest.\n"
        "Package: *\n"
        f"Pin: {source.release.pin()}\n"
        f"Pin-Priority: {source.pin_priority}\n"
    )
    return AptFile(f"/etc/apt/preferences.d/{source.name}", content)


def unattended_upgrades(source: VendorSource) -> AptFile:
    patterns = "".join(f'    "{pattern}";\n' for pattern in UNATTENDED_BLACKLIST)
    content = (
        f"// {MANAGED}\n"
        "// Driver and CUDA versions change only through their manifest.\n"
        f"Unattended-Upgrade::Package-Blacklist {{\n{patterns}}};\n"
    )
    return AptFile(f"/etc/apt/apt.conf.d/51{source.name}-unattended-upgrades", content)


def apt_files(source: VendorSource, architecture: str) -> tuple[AptFile, ...]:
    files = (sources_list(source, architecture), preferences(source), unattended_upgrades(source))
    return tuple(file for file in files if file is not None)


def update_command(source: VendorSource) -> str:
    """``apt-get update`` of the vendor's repository alone: quick, and it leaves the other
    sources' indexes exactly as they were."""
    return (
        "apt-get update -q"
        f" -o Dir::Etc::SourceList={shlex.quote(sources_list_path(source))}"
        " -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0"
        " -o DPkg::Lock::Timeout=300"
    )
