"""The pure planner: a host's drift from a manifest in, the actions and commands out.

The plan is applied as

1. ``apt-mark unhold`` on held packages that are about to change or leave the hold set,
2. **one** ``apt-get install`` transaction naming ``name=version`` for every manifest
   package (so apt's resolver can neither float nor drop any of them) plus ``name-`` for
   each vendor package to remove, with ``--allow-downgrades``,
3. ``apt-mark hold`` on exactly the manifest's packages.

An empty plan means the host matches: the operation then runs no apt command at all.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from snakepit.cuda.drift import BROKEN, EXTRA, MISSING, NOT_HELD, VERSION, HostDrift
from snakepit.cuda.manifest import CudaManifest, ManifestPackage, VendorSource
from snakepit.debian import apt_name
from snakepit.parsers.apt import AptPolicy

INSTALL = "install"
UPGRADE = "upgrade"
DOWNGRADE = "downgrade"
REINSTALL = "reinstall"
REMOVE = "remove"
HOLD = "hold"
UNHOLD = "unhold"
# Verbs that make the apt-get transaction necessary.
TRANSACTION_VERBS = frozenset({INSTALL, UPGRADE, DOWNGRADE, REINSTALL, REMOVE})

# Non-interactive, keep locally changed conffiles, wait for a running apt instead of failing.
APT_GET = (
    "DEBIAN_FRONTEND=noninteractive apt-get -y -q"
    " -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
    " -o DPkg::Lock::Timeout=300"
)


@dataclass(frozen=True)
class Action:
    verb: str
    name: str
    arch: str
    current: str | None
    wanted: str | None
    note: str = ""

    def render(self) -> str:
        """One line for people: ``upgrade   cuda-cudart-11-5 11.5.117-1 -> 11.5.120-1``."""
        if self.verb in (UPGRADE, DOWNGRADE, REINSTALL):
            versions = f"{self.current} -> {self.wanted}"
        elif self.verb == INSTALL:
            versions = f"(none) -> {self.wanted}"
        elif self.verb == REMOVE:
            versions = f"{self.current} -> (removed)"
        else:
            versions = self.current or self.wanted or ""
        note = f"  ({self.note})" if self.note else ""
        return f"{self.verb:<9} {self.name} {versions}{note}"


@dataclass(frozen=True)
class Plan:
    manifest: CudaManifest
    actions: tuple[Action, ...]
    kept: tuple[str, ...]  # extra vendor packages left installed (remove_unlisted=False)

    @property
    def empty(self) -> bool:
        return not self.actions

    @property
    def needs_transaction(self) -> bool:
        return any(action.verb in TRANSACTION_VERBS for action in self.actions)

    def of_verb(self, verb: str) -> tuple[Action, ...]:
        return tuple(action for action in self.actions if action.verb == verb)

    def to_install(self) -> tuple[ManifestPackage, ...]:
        """Manifest packages whose wanted version must come from the repository."""
        changing = {
            (action.name, action.arch)
            for action in self.actions
            if action.verb in (INSTALL, UPGRADE, DOWNGRADE, REINSTALL)
        }
        return tuple(p for p in self.manifest.packages if (p.name, p.arch) in changing)

    def summary(self) -> str:
        kept = (
            f"; {len(self.kept)} vendor package(s) not in the manifest left installed "
            "(remove_unlisted is off; drift reports them as extra)"
            if self.kept
            else ""
        )
        if self.empty:
            return (
                f"{self.manifest.name}: all {len(self.manifest.packages)} packages at the "
                f"manifest's versions and held{kept}"
            )
        order = (INSTALL, UPGRADE, DOWNGRADE, REINSTALL, REMOVE, UNHOLD, HOLD)
        counts = [f"{len(self.of_verb(v))} to {v}" for v in order if self.of_verb(v)]
        return f"{self.manifest.name}: " + ", ".join(counts) + kept

    def render(self) -> list[str]:
        lines = [self.summary()]
        lines += [f"  {action.render()}" for action in self.actions]
        lines += [f"  keep      {key}  (vendor package not in the manifest)" for key in self.kept]
        return lines

    def commands(self) -> list[str]:
        """The shell commands that apply the plan, in order (none when it is empty)."""
        native = self.manifest.target.architecture
        commands = []
        unhold = [apt_name(a.name, a.arch, native) for a in self.actions if a.verb == UNHOLD]
        if unhold:
            commands.append(_quoted("apt-mark unhold", unhold))
        if self.needs_transaction:
            removals = [apt_name(a.name, a.arch, native) + "-" for a in self.of_verb(REMOVE)]
            pins = [f"{p.apt_name(native)}={p.version}" for p in self.manifest.packages]
            options = "install --no-install-recommends --allow-downgrades"
            if removals:
                options += " --purge"
            commands.append(_quoted(f"{APT_GET} {options}", pins + removals))
        if self.needs_transaction or self.of_verb(HOLD):
            commands.append(_quoted("apt-mark hold", self.manifest.apt_names()))
        return commands


def _quoted(command: str, words: list[str]) -> str:
    return " ".join([command, *(shlex.quote(word) for word in words)])


def plan_changes(drift: HostDrift, manifest: CudaManifest, remove_unlisted: bool = False) -> Plan:
    """What to do to a host with this drift so it matches the manifest exactly.

    Extra vendor packages are removed only with ``remove_unlisted``; otherwise they stay,
    without a hold (the hold set is exactly the manifest's).
    """
    actions: list[Action] = []
    kept: list[str] = []
    for package in drift.packages:
        name, arch, found, wanted = package.name, package.arch, package.found, package.wanted
        if EXTRA in package.kinds:
            if package.held:
                actions.append(Action(UNHOLD, name, arch, found, None, "not in the manifest"))
            if remove_unlisted:
                actions.append(Action(REMOVE, name, arch, found, None, "not in the manifest"))
            else:
                kept.append(package.key)
            continue
        if MISSING in package.kinds:
            actions.append(Action(INSTALL, name, arch, None, wanted))
            continue
        if VERSION in package.kinds or BROKEN in package.kinds:
            if package.held:
                actions.append(Action(UNHOLD, name, arch, found, wanted, "to change it"))
            verb = package.direction or REINSTALL
            note = package.state if BROKEN in package.kinds else ""
            actions.append(Action(verb, name, arch, found, wanted, note))
            continue
        if NOT_HELD in package.kinds:
            actions.append(Action(HOLD, name, arch, found, wanted))
    return Plan(manifest, tuple(actions), tuple(kept))


@dataclass(frozen=True)
class Unavailable:
    package: ManifestPackage
    offered: tuple[str, ...]  # the versions the vendor's repository does offer

    def render(self) -> str:
        offered = ", ".join(self.offered) if self.offered else "no version at all"
        return f"{self.package.name}={self.package.version} (the repository offers {offered})"


def unavailable(
    packages: tuple[ManifestPackage, ...],
    source: VendorSource,
    native_arch: str,
    policies: Mapping[str, AptPolicy],
) -> tuple[Unavailable, ...]:
    """The packages whose wanted version the vendor's repository does not offer."""
    missing = []
    for package in packages:
        policy = policies.get(package.apt_name(native_arch))
        offered = tuple(
            row.version
            for row in (policy.versions if policy is not None else ())
            if any(source.offers(s.origin) for s in row.sources)
        )
        if package.version not in offered:
            missing.append(Unavailable(package, offered))
    return tuple(missing)
