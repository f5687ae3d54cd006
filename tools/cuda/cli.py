"""`python -m tools.cuda`: create, test and check exact CUDA package manifests.

    create METAPACKAGE --source FILE --out manifests/NAME.yaml   # clean container -> manifest
    test MANIFEST                                                # clean container: install, check
    drift INVENTORY [--manifest FILE] [--limit HOST] [--json]    # read-only; exit 1 on drift
    rollout INVENTORY [--batch N] [--max-failures K] [--limit G] # workers batch by batch
    stubrepo --sandbox NAME                                      # serve the test repository

create and test run the pyinfra deploys in ``deploys/`` against a throwaway container of the
sandbox's Debian 12 image (``--image`` for another distro: it needs only ``apt-get``) and
remove it afterwards. drift only reads: it runs ``deploys/tools/manifest_drift.py`` with ``--dry``
against exactly the inventory it is given.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from snakepit.cuda.drift import (
    HostResult,
    drifted_hosts,
    host_drift_from_json,
    render_json,
    render_table,
)
from snakepit.cuda.manifest import ManifestError, dump_source_file, load_manifest, load_source_file
from tools.cuda.rollout import add_parser as add_rollout_parser

REPO_ROOT = Path(__file__).resolve().parents[2]
THROWAWAY_LABEL = "snakepit.cuda.throwaway"
# drift's exit statuses: in sync, drifted (or a host could not be checked), usage/run error.
EXIT_SYNC, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def pyinfra(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    """Run the pyinfra CLI from the repository root (where deploys import from)."""
    command = [sys.executable, "-m", "pyinfra", *args]
    return subprocess.run(command, cwd=REPO_ROOT, check=False, text=True, capture_output=capture)


@contextmanager
def throwaway_container(image: str | None, network: str | None) -> Iterator[str]:
    """A clean container (``sleep infinity``, no init) removed on exit; yields its name."""
    import docker

    from tools.sandbox.engine import ensure_engine
    from tools.sandbox.image import build_base_image

    ensure_engine()
    client = docker.from_env()
    image = image or build_base_image(client)
    name = f"snakepit-cuda-{secrets.token_hex(4)}"
    container = client.containers.run(
        image,
        ["sleep", "infinity"],
        name=name,
        detach=True,
        labels={THROWAWAY_LABEL: "1"},
        network=network,
    )
    try:
        yield name
    finally:
        container.remove(force=True)
        print(f"removed the throwaway container {name}", flush=True)


def copy_local_repo(container: str, deb: str, local: str | None) -> None:
    """Put a local repository's .deb where the source says hosts find it (shared storage,
    which a throwaway container lacks); ``local``: its path here, if not the same."""
    subprocess.run(["docker", "exec", container, "mkdir", "-p", str(Path(deb).parent)], check=True)
    subprocess.run(["docker", "cp", local or deb, f"{container}:{deb}"], check=True)


def create(args: argparse.Namespace) -> int:
    source, _ = load_source_file(args.source)  # fail here, not inside pyinfra, on a bad file
    out = Path(args.out).resolve()
    data = [
        "--data", f"metapackage={args.metapackage}",
        "--data", f"source={Path(args.source).resolve()}",
        "--data", f"out={out}",
    ]  # fmt: skip
    if args.also:
        data += ["--data", f"also={json.dumps(args.also)}"]
    started = time.monotonic()
    with throwaway_container(args.image, args.network) as container:
        if source.local_repo is not None:
            copy_local_repo(container, source.local_repo.deb, args.local_repo_deb)
        done = pyinfra(f"@docker/{container}", "deploys/tools/manifest_create.py", "-y", *data)
    if done.returncode != 0:
        return done.returncode
    manifest = load_manifest(out)
    print(
        f"created {out}: {len(manifest.packages)} packages from {manifest.source.url}, "
        f"{manifest.metapackage.name} {manifest.metapackage.version} "
        f"({time.monotonic() - started:.0f}s)"
    )
    return 0


def test(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    started = time.monotonic()
    with throwaway_container(args.image, args.network) as container:
        done = pyinfra(
            f"@docker/{container}",
            "deploys/tools/manifest_test.py",
            "-y",
            "--data",
            f"manifest={Path(args.manifest).resolve()}",
        )
    verdict = "passed" if done.returncode == 0 else "FAILED"
    print(f"test of {manifest.name} {verdict} ({time.monotonic() - started:.0f}s)")
    return done.returncode


def collect_drift(
    inventory: str, manifest: str | None, limit: str | None
) -> tuple[dict[str, HostResult], subprocess.CompletedProcess]:
    """Run the read-only drift deploy; return {host: drift or why it was not checked}."""
    with tempfile.TemporaryDirectory(prefix="snakepit-drift-") as out:
        args = [inventory, "deploys/tools/manifest_drift.py", "--dry", "--data", f"drift_out={out}"]
        if manifest is not None:
            args += ["--data", f"cuda_manifest={Path(manifest).resolve()}"]
        if limit is not None:
            args += ["--limit", limit]
        done = pyinfra(*args, capture=True)
        records = [json.loads(path.read_text()) for path in sorted(Path(out).glob("*.json"))]
    results: dict[str, HostResult] = {}
    for record in sorted(records, key=lambda r: r["host"]):
        if "drift" in record:
            results[record["host"]] = host_drift_from_json(record["drift"])
    return results, done


def drift(args: argparse.Namespace) -> int:
    if not Path(args.inventory).is_file():
        print(f"drift: {args.inventory} is not an inventory file", file=sys.stderr)
        return EXIT_ERROR
    if args.manifest is not None:
        load_manifest(args.manifest)
    results, done = collect_drift(args.inventory, args.manifest, args.limit)
    if done.returncode != 0:
        # Hosts pyinfra could not reach or read: say so rather than report them in sync.
        print(done.stderr[-4000:], file=sys.stderr)
        if not results:
            return EXIT_ERROR
    if not results:
        print("drift: no host has a cuda_manifest (give one with --manifest)", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(render_json(results) if args.json else render_table(results))
    if done.returncode != 0:
        return EXIT_ERROR
    return EXIT_DRIFT if drifted_hosts(results) else EXIT_SYNC


def stubrepo(args: argparse.Namespace) -> int:
    from tools.sandbox.stubrepo import NEWER, TARGET, StubRepo

    address = args.address
    if address is None:
        from tools.sandbox.cluster import Sandbox

        network = Sandbox(args.sandbox).client.networks.get(f"{args.sandbox}-net")
        address = network.attrs["IPAM"]["Config"][0]["Gateway"]
    with StubRepo() as repo:
        repo.build()
        url = repo.serve(address, args.port)
        source_file = Path(args.source_out)
        source_file.write_text(
            dump_source_file(repo.source(), TARGET, "The stub repository's source (test only).")
        )
        print(f"serving {repo.package_count()} stub packages at {url}")
        print(f"source file for create: {source_file}  (Ctrl-C stops the server)", flush=True)
        print(f"kill -USR1 {os.getpid()} makes it gain point release {NEWER}", flush=True)
        # SIGTERM too must leave through the context manager, which deletes the signing key.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGUSR1, lambda *_: _gain(repo, NEWER))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _gain(repo, version: str) -> None:
    repo.publish(version)
    print(
        f"published {version}: the repository now offers {repo.package_count()} packages",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cuda",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("create", help="make a manifest in a clean throwaway container")
    p.add_argument("metapackage", help="what to install the plain way, e.g. cuda-11-5")
    p.add_argument("--source", required=True, help="source file: the vendor repo and target")
    p.add_argument("--out", required=True, help="manifest to write (BOMs go beside it)")
    p.add_argument("--also", nargs="*", default=[], help="more install requests (pkg=version)")
    p.add_argument("--image", help="container image (default: the sandbox's Debian 12)")
    p.add_argument("--network", help="Docker network for the container")
    p.add_argument(
        "--local-repo-deb",
        help="a local-repository source's .deb on this machine (default: its path in the "
        "source file)",
    )
    p.set_defaults(run=create)

    p = commands.add_parser("test", help="install a manifest in a clean container and check it")
    p.add_argument("manifest")
    p.add_argument("--image", help="container image (default: the sandbox's Debian 12)")
    p.add_argument("--network", help="Docker network for the container")
    p.set_defaults(run=test)

    p = commands.add_parser("drift", help="read-only: hosts against their manifests")
    p.add_argument("inventory", help="the pyinfra inventory file to check, and nothing else")
    p.add_argument("--manifest", help="check every host against this manifest instead")
    p.add_argument("--limit", help="pyinfra --limit (a host or group)")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(run=drift)

    add_rollout_parser(commands)

    p = commands.add_parser("stubrepo", help="build and serve the stub vendor repository")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--sandbox", help="serve on this sandbox network's gateway address")
    where.add_argument("--address", help="serve on this local address")
    p.add_argument("--port", type=int, default=8750)
    p.add_argument("--source-out", default="stub-source.yaml", help="source file to write")
    p.set_defaults(run=stubrepo)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
