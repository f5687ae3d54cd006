"""
Install an exact CUDA/NVIDIA package manifest (``manifests/*.yaml``), hold it, keep it so.

The work is done by the pure planner in ``snakepit.cuda``; these operations read the facts,
call it and yield its commands.
"""

from __future__ import annotations

import functools
import io
import shlex
import urllib.request
from pathlib import Path, PurePosixPath

from pyinfra import host, logger
from pyinfra.api import OperationError, operation
from pyinfra.facts.files import FileContents
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import files

from facts.apt import AptPolicy
from facts.cuda import KeyringFingerprints
from facts.dpkg import DpkgBom
from facts.nvidia import NvidiaSmi
from facts.slurm import SlurmNodes
from snakepit.cuda.aptsource import apt_files, update_command
from snakepit.cuda.drift import (
    HostDrift,
    compute_drift,
    manifest_record,
    policy_names,
    record_path,
    recorded_packages,
)
from snakepit.cuda.health import health_action
from snakepit.cuda.manifest import CudaManifest, ManifestError, VendorSource, load_manifest
from snakepit.cuda.openpgp import OpenPGPError, dearmor, primary_fingerprints
from snakepit.cuda.plan import Plan, plan_changes, unavailable
from snakepit.cuda.rollout import (
    drain_command,
    needs_drain,
    resume_command,
    resumes_after_change,
    switch_reason,
    wait_for_jobs_command,
)
from snakepit.parsers.dpkg import Bom

REPO_ROOT = Path(__file__).resolve().parents[1]


def resolve_manifest(manifest: CudaManifest | str | Path) -> CudaManifest:
    """A loaded manifest, or the path of one (relative paths are from the repository root)."""
    if isinstance(manifest, CudaManifest):
        return manifest
    path = Path(manifest)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0  # load_manifest says what is wrong with the path
    return _load_once(path.resolve(), stamp)


@functools.cache
def _load_once(path: Path, mtime_ns: int) -> CudaManifest:
    # Every host of a run (and every operation) shares one validated manifest.
    try:
        return load_manifest(path)
    except ManifestError as error:
        raise OperationError(str(error)) from error


@functools.cache
def vendor_keyring(key_url: str, fingerprint: str) -> bytes:
    """The vendor's key, fetched by the controller (once per run) and checked against the
    manifest's fingerprint before it goes anywhere near a host."""
    try:
        with urllib.request.urlopen(key_url, timeout=30) as response:  # noqa: S310 - http(s) only, checked on load
            data = response.read()
        keyring = dearmor(data)
        found = primary_fingerprints(keyring)
    except (OSError, OpenPGPError) as error:
        raise OperationError(f"cannot fetch the vendor key {key_url}: {error}") from error
    if found != (fingerprint,):
        raise OperationError(
            f"the key at {key_url} has fingerprint(s) {', '.join(found) or 'none'}, "
            f"not {fingerprint} as the manifest says: refusing to trust it"
        )
    return keyring


def _source_commands(source: VendorSource, architecture: str) -> list:
    """Commands that make the host trust and prefer the vendor's repository (none when it
    already does). Facts are read now; nothing runs until the commands are yielded."""
    commands = []
    found = host.get_fact(KeyringFingerprints, path=source.keyring)
    if source.local_repo is not None:
        if found != (source.key_fingerprint,):
            commands.append(local_repo_key_command(source))
    elif source.key_url is None:
        # The distribution's own key: its keyring package owns the file; never write it.
        if source.key_fingerprint not in (found or ()):
            return [
                _fail(
                    f"{host.name}: {source.keyring} does not hold {source.key_fingerprint}, "
                    f"the key of {source.url} (the distribution's keyring package puts it "
                    "there). Nothing was changed."
                )
            ]
    elif found != (source.key_fingerprint,):
        keyring = vendor_keyring(source.key_url, source.key_fingerprint)
        commands += files.put._inner(
            src=io.BytesIO(keyring), dest=source.keyring, user="root", group="root", mode="644"
        )
    for apt_file in apt_files(source, architecture):
        commands += files.put._inner(
            src=io.StringIO(apt_file.content),
            dest=apt_file.path,
            user="root",
            group="root",
            mode=apt_file.mode,
        )
    return commands


def local_repo_key_command(source: VendorSource) -> str:
    """Install the local repository's ``.deb`` unless its directory already holds the key,
    then trust the key only if the repository's signed Release file verifies with it as
    ``key_fingerprint`` (``gpgv``, which apt itself needs, so every host has it). An
    armored key is dearmored in the shell: apt reads ``signed-by`` *.gpg files as binary."""
    local = source.local_repo
    assert local is not None
    key = shlex.quote(local.key_path)
    directory = local.directory.rstrip("/")
    in_release = shlex.quote(f"{directory}/InRelease")
    release = shlex.quote(f"{directory}/Release")
    release_gpg = shlex.quote(f"{directory}/Release.gpg")
    refusal = shlex.quote(
        f"{local.key_path} does not sign {source.url} as {source.key_fingerprint}: "
        "refusing to trust it"
    )
    return (
        "set -e; "
        f"[ -f {key} ] || dpkg -i {shlex.quote(local.deb)}; "
        'tmp="$(mktemp)"; trap \'rm -f "$tmp"\' EXIT; '
        f"if grep -q -- '-----BEGIN PGP' {key}; then "
        f"sed -e '1,/^$/d' -e '/^=/d' -e '/^-----END/d' {key} | base64 -d > \"$tmp\"; "
        f'else cat {key} > "$tmp"; fi; '
        f"if [ -f {in_release} ]; then set -- {in_release}; "
        f"else set -- {release_gpg} {release}; fi; "
        'gpgv --status-fd 1 --keyring "$tmp" "$@" 2>/dev/null'
        f" | awk -v fpr={shlex.quote(source.key_fingerprint)}"
        " '$2 == \"VALIDSIG\" && $NF == fpr { ok = 1 } END { exit !ok }'"
        f" || {{ echo {refusal} >&2; exit 1; }}; "
        f'install -m 644 -o root -g root "$tmp" {shlex.quote(source.keyring)}'
    )


def _wrong_target(manifest: CudaManifest, bom: Bom) -> str | None:
    """Why the manifest is not for this host (distro, release, dpkg architecture), if so."""
    release = host.get_fact(LinuxDistribution)["release_meta"]
    dpkg = [package.arch for package in bom.by_name("dpkg")]
    found = (release.get("ID"), release.get("VERSION_ID"), dpkg[0] if dpkg else None)
    target = manifest.target
    if found == (target.distro, target.release, target.architecture):
        return None
    return (
        f"manifest {manifest.name} is for {target.describe()}; "
        f"{host.name} is {' '.join(str(part) for part in found)}. Nothing was changed."
    )


def _fail(message: str) -> str:
    # Fail this host alone, with the message as its output: an exception raised while
    # executing would stop every host of the run.
    return f"echo {shlex.quote(message)} >&2; exit 1"


def _policies(manifest: CudaManifest, bom: Bom) -> dict:
    names = policy_names(bom, manifest.target.architecture, manifest.apt_names())
    return host.get_fact(AptPolicy, packages=names)


def _record(manifest: CudaManifest) -> list[str] | None:
    return host.get_fact(FileContents, path=record_path(manifest))


def read_drift(manifest: CudaManifest, beside: tuple[str, ...] = ()) -> HostDrift:
    """The current host's drift from a manifest, from three facts (read-only). ``beside``:
    the ``name:arch`` of the host's other manifests (``compute_drift``)."""
    bom = host.get_fact(DpkgBom)
    policies = _policies(manifest, bom)
    return compute_drift(manifest, bom, policies, recorded_packages(_record(manifest)), beside)


def _record_command(manifest: CudaManifest) -> str:
    lines = manifest_record(manifest).splitlines()
    quoted = " ".join(shlex.quote(line) for line in lines)
    path = record_path(manifest)
    return (
        f"mkdir -p {shlex.quote(str(PurePosixPath(path).parent))} && "
        f"printf '%s\\n' {quoted} > {shlex.quote(path)}"
    )


def _show(lines: list[str]) -> None:
    # Print once per run: while planning (--dry, or before the confirmation prompt), or
    # while executing when there was no planning pass (-y).
    state = host.state
    if state.is_executing != state.should_check_for_changes():
        for line in lines:
            host.log(line, log_func=logger.info)


@operation()
def vendor_source(source: VendorSource, architecture: str):
    """
    Make apt trust and prefer a vendor's repository: its keyring for ``signed-by``, the
    ``sources.list.d`` entry, a preferences pin above the distro's, and an
    unattended-upgrades blacklist for ``nvidia-*``, ``libnvidia-*`` and ``cuda-*``. The
    vendor's index is refreshed (alone) when any of that changed.

    + source: a ``snakepit.cuda.manifest.VendorSource`` (a manifest's ``source``)
    + architecture: dpkg architecture of the host (``amd64``), for ``[arch=...]``

    The key is fetched from ``source.key_url`` by the controller only when the host's
    keyring lacks ``source.key_fingerprint``, and refused unless it is exactly that key.

    **Example:**

    .. code:: python

        cuda.vendor_source(
            name="Trust NVIDIA's CUDA repository",
            source=manifest.source,
            architecture="amd64",
        )
    """
    commands = _source_commands(source, architecture)
    if not commands:
        host.noop(f"apt already trusts and prefers {source.url}")
        return
    yield from commands
    yield update_command(source)


@operation()
def manifest_installed(
    manifest: CudaManifest | str | Path,
    remove_unlisted: bool = True,
    beside: tuple[str, ...] = (),
):
    """
    Install exactly the packages of a CUDA manifest and hold them.

    + manifest: a ``CudaManifest``, or the path of its YAML file (relative to the repository)
    + remove_unlisted: also remove installed packages from the vendor's origin, and those
      of the manifest the host last installed (``/var/lib/snakepit/cuda-manifest``), that
      the manifest does not list, so the host holds exactly the manifest (``False``: they
      stay, without a hold, the plan says so and drift reports them as extra)
    + beside: ``name:arch`` of the host's other manifests (a local repository's beside the
      CUDA one): never removed or reported as extra by this one

    Configures the vendor source as ``vendor_source`` does, then compares the host's dpkg
    database with the manifest (``snakepit.cuda.drift``) and applies the plan: holds lifted
    where versions change, **one** ``apt-get install`` of ``name=version`` for every
    manifest package (``--allow-downgrades``; ``name-`` for packages to remove), then
    ``apt-mark hold`` on exactly the manifest's packages. The plan is printed per package
    (``upgrade   cuda-cudart-11-5 11.5.117-1 -> 11.5.120-1``), also with ``--dry``.

    When the host already matches: no apt command at all. When the repository does not
    offer a wanted version: an error naming each missing ``name=version`` before any
    package changes (only the vendor's index is refreshed first). A manifest for another
    distro, release or architecture is refused before anything changes.

    **Example:**

    .. code:: python

        cuda.manifest_installed(
            name="Install the exact CUDA 11.5 package set",
            manifest="manifests/cuda-11-5.yaml",
        )
    """
    manifest = resolve_manifest(manifest)
    native = manifest.target.architecture
    bom = host.get_fact(DpkgBom)
    wrong = _wrong_target(manifest, bom)
    if wrong is not None:
        yield _fail(wrong)
        return
    policies = _policies(manifest, bom)
    record = _record(manifest)
    drift = compute_drift(manifest, bom, policies, recorded_packages(record), beside)
    plan = plan_changes(drift, manifest, remove_unlisted)
    source_commands = _source_commands(manifest.source, native)
    lacking = unavailable(plan.to_install(), manifest.source, native, policies)
    _show(_plan_lines(plan, lacking, indexed=not source_commands))

    # The record of what the host holds changes with the packages, or when it names
    # another manifest; a host without one gets it with its next change.
    stale_record = record is not None and "\n".join(record) + "\n" != manifest_record(manifest)
    yield from source_commands
    if plan.empty:
        if source_commands:
            yield update_command(manifest.source)
        if stale_record:
            yield _record_command(manifest)
        else:
            host.noop(plan.summary())
        return

    if source_commands or lacking:
        # The index may be older than the manifest: refresh it, then ask apt again.
        yield update_command(manifest.source)
        wanted = [package.apt_name(native) for package in plan.to_install()]
        policies = host.get_fact(AptPolicy, packages=wanted)
        lacking = unavailable(plan.to_install(), manifest.source, native, policies)
    if lacking:
        yield _fail(
            f"manifest {manifest.name}: {manifest.source.url} does not offer "
            + "; ".join(item.render() for item in lacking)
            + ". No package was installed or removed."
        )
        return
    yield from plan.commands()
    yield _record_command(manifest)


def _plan_lines(plan: Plan, lacking, indexed: bool) -> list[str]:
    lines = plan.render()
    if lacking and not indexed:
        lines.append(
            "  (the vendor's index is not on the host yet: versions are checked after "
            "apt-get update)"
        )
    elif lacking:
        lines.append("  not in the host's apt index (checked again after apt-get update):")
        lines += [f"    {item.render()}" for item in lacking]
    return lines


@operation()
def manifest_verified(manifest: CudaManifest | str | Path, nvidia_smi: bool = True):
    """
    Check (read-only) that a host matches a manifest exactly, and that ``nvidia-smi`` is
    on its PATH; fail with the drift otherwise. Runs when the deploy executes, after the
    operations before it, so it checks what they did.

    + manifest: a ``CudaManifest``, or the path of its YAML file
    + nvidia_smi: also require ``nvidia-smi`` (any state but ``not-installed``)

    **Example:**

    .. code:: python

        cuda.manifest_verified(name="Check the manifest", manifest="manifests/cuda-11-5.yaml")
    """
    manifest = resolve_manifest(manifest)
    if not host.state.is_executing:
        host.noop(f"{manifest.name} is checked when the deploy runs")
        return
    drift = read_drift(manifest)
    problems = [f"{p.key} {p.describe()}" for p in drift.packages]
    report = None
    if nvidia_smi:
        report = host.get_fact(NvidiaSmi)
        if report.state == "not-installed":
            problems.append("nvidia-smi is not on PATH")
    if problems:
        yield _fail(f"{host.name} does not match manifest {manifest.name}: " + "; ".join(problems))
        return
    smi = ""
    if report is not None:
        smi = (
            f"; nvidia-smi: {report.state}, {len(report.gpus)} GPU(s), "
            f"driver {report.driver_version}, CUDA {report.cuda_version}"
        )
    host.log(f"{manifest.name}: {drift.summary()}{smi}", log_func=logger.info)


@operation()
def gpu_health(node: str):
    """
    Drain this worker when ``nvidia-smi`` says its GPU stack is broken
    (``driver-mismatch``, ``gpu-lost``, ``error``), with that state as the reason; resume it
    when a later run finds it healthy, only if the drain was this operation's own
    (``snakepit: gpu ...``). Runs when the deploy executes, after slurmd is up, so it sees
    the installed stack.

    + node: the worker's Slurm node name

    **Example:**

    .. code:: python

        cuda.gpu_health(name="Drain or resume worker1 by its GPU health", node="worker1")
    """
    if not host.state.is_executing:
        host.noop(f"{node}: GPU health is checked when the deploy runs")
        return
    report = host.get_fact(NvidiaSmi)
    table = host.get_fact(SlurmNodes, nodes=node)
    action = health_action(report.state, table.get(node))
    if action is None:
        found = table.get(node)
        where = table.error or (found.state_text if found else "no such node")
        host.noop(f"{node}: nvidia-smi {report.state}; Slurm: {where}; nothing to change")
        return
    host.log(f"GPU health: {action.describe()}", log_func=logger.warning)
    yield action.command()


def _pending_plan(
    manifest: CudaManifest, remove_unlisted: bool, beside: tuple[str, ...]
) -> Plan | None:
    """The plan manifest_installed will apply (None: the manifest is not for this host,
    which manifest_installed refuses)."""
    bom = host.get_fact(DpkgBom)
    if _wrong_target(manifest, bom) is not None:
        return None
    previous = recorded_packages(_record(manifest))
    drift = compute_drift(manifest, bom, _policies(manifest, bom), previous, beside)
    return plan_changes(drift, manifest, remove_unlisted)


@operation()
def drained_for_change(
    manifest: CudaManifest | str | Path,
    node: str,
    remove_unlisted: bool = True,
    timeout_s: int = 3600,
    beside: tuple[str, ...] = (),
    busy_at_deadline: str = "drained",
):
    """
    Before a manifest change that installs or removes packages: drain the worker's node
    (reason ``snakepit: manifest <name>``) and wait until it runs no job, at most
    ``timeout_s``; a node still busy then is skipped: nothing is installed, the host fails,
    and the node stays drained or, with ``busy_at_deadline="resumed"``, is resumed (only a
    drain this operation set). A node slurmctld does not know yet (a new worker) is not
    drained; one already drained (an admin's reason) keeps its reason and is only waited
    for. Nothing happens when the host already matches, or when only holds change.

    + manifest: a ``CudaManifest``, or the path of its YAML file
    + node: the worker's Slurm node name
    + remove_unlisted: as for ``manifest_installed`` (whether removals count)
    + timeout_s: how long to wait for the node's jobs to end
    + beside: as for ``manifest_installed``
    + busy_at_deadline: ``drained`` or ``resumed``, the data's ``cuda_busy_at_deadline``

    **Example:**

    .. code:: python

        cuda.drained_for_change(name="Drain worker1 for the change", manifest=m, node="worker1")
    """
    manifest = resolve_manifest(manifest)
    if not host.state.is_executing:
        host.noop(f"{node}: drained for {manifest.name} when the deploy runs, if packages change")
        return
    plan = _pending_plan(manifest, remove_unlisted, beside)
    if plan is None or not plan.needs_transaction:
        host.noop(f"{node}: no package of {manifest.name} changes: not drained")
        return
    found = host.get_fact(SlurmNodes, nodes=node).get(node)
    if found is None:
        host.noop(f"{node}: not a Slurm node yet: nothing to drain")
        return
    drains = needs_drain(found)
    if drains:
        reason = switch_reason(manifest.name)
        host.log(f"drain {node} ({reason}), then wait for its jobs", log_func=logger.warning)
        yield drain_command(node, reason)
    yield wait_for_jobs_command(
        node, timeout_s, resume_at_deadline=drains and busy_at_deadline == "resumed"
    )


@operation()
def resumed_after_change(node: str):
    """
    Resume the worker's node if a manifest change drained it (reason
    ``snakepit: manifest ...``); any other drain stays. Runs after the install, which
    fails the host (and so skips this) when it did not work.

    + node: the worker's Slurm node name

    **Example:**

    .. code:: python

        cuda.resumed_after_change(name="Resume worker1", node="worker1")
    """
    if not host.state.is_executing:
        host.noop(f"{node}: resumed after a manifest change when the deploy runs")
        return
    found = host.get_fact(SlurmNodes, nodes=node).get(node)
    if not resumes_after_change(found):
        host.noop(f"{node}: not drained by a manifest change")
        return
    host.log(f"resume {node} (was: {found.reason})", log_func=logger.warning)
    yield resume_command(node)
