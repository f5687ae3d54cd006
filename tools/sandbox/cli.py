"""`snakepit-sandbox`: bring a sandbox cluster up, list it, read its facts, tear it down."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from tools.sandbox import slurm_checks as checks
from tools.sandbox.cluster import DEFAULT_NAME, REPO_ROOT, Sandbox, SandboxError
from tools.sandbox.engine import EngineError
from tools.sandbox.fleet import FleetError, load
from tools.sandbox.image import DEFAULT_RELEASE, SUITES

FACTS = (
    "server.LinuxDistribution",
    "facts.hardware.Hardware",
    "facts.dpkg.DpkgBom",
    "facts.nvidia.NvidiaSmi",
)


def gather_facts(sandbox: Sandbox) -> dict[str, dict]:
    """Read the report's facts from every host over SSH with the pyinfra CLI.

    Returns ``{host: {fact name: data}}`` (pyinfra prints ``{fact name: {host: data}}``).
    """
    command = [
        sys.executable,
        "-m",
        "pyinfra",
        str(sandbox.inventory_path),
        "fact",
        *FACTS,
        "--json",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SandboxError(f"pyinfra fact failed ({done.returncode}):\n{done.stderr[-3000:]}")
    by_host: dict[str, dict] = {}
    for fact, per_host in json.loads(done.stdout).items():
        for host, data in per_host.items():
            by_host.setdefault(host, {})[fact] = data
    return {host: by_host[host] for host in sorted(by_host, key=_host_order)}


def _host_order(name: str) -> tuple:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (name != "head", name.rstrip("0123456789"), int(digits or 0))


def facts_table(facts: dict[str, dict]) -> str:
    rows = [("host", "os", "cpus", "sockets x cores x threads", "memory MiB", "packages", "gpu")]
    for host, data in facts.items():
        distro = data.get("server.LinuxDistribution") or {}
        hardware = data.get("facts.hardware.Hardware") or {}
        bom = data.get("facts.dpkg.DpkgBom") or {}
        gpu = data.get("facts.nvidia.NvidiaSmi") or {}
        installed = [p for p in bom.values() if p.get("status") == "i"]
        gpu_text = gpu.get("state", "?")
        if gpu.get("gpus"):
            gpu_text += f" ({len(gpu['gpus'])}x {gpu['gpus'][0]['name']})"
        rows.append(
            (
                host,
                f"{distro.get('name', '?')} {distro.get('release_meta', {}).get('VERSION_ID', '')}",
                str(hardware.get("cpus", "?")),
                "x".join(
                    str(hardware.get(k, "?"))
                    for k in ("sockets", "cores_per_socket", "threads_per_core")
                ),
                str(hardware.get("real_memory_mib", "?")),
                str(len(installed)),
                gpu_text,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def demo(sandbox: Sandbox, workers: int, release: str | None = None) -> int:
    started = time.monotonic()
    hosts = sandbox.up(workers=workers, release=release)
    print(
        f"== sandbox {sandbox.name!r}: {len(hosts)} hosts up in {time.monotonic() - started:.1f}s"
    )
    for host in hosts:
        print(f"   {host.name:10} {host.role:7} {host.address:16} {host.container}")
    print(f"   inventory: {sandbox.inventory_path}")
    print("== facts read over SSH by pyinfra")
    print(facts_table(gather_facts(sandbox)), flush=True)

    print(f"== pyinfra {sandbox.inventory_path} deploys/site.py -y", flush=True)
    started = time.monotonic()
    if (rc := checks.converge(sandbox)) != 0:
        print(f"converge failed (pyinfra exit {rc})", file=sys.stderr)
        return rc
    print(f"== converged in {time.monotonic() - started:.1f}s; sinfo -N:")
    print(checks.wait_for_idle_nodes(sandbox, count=workers).rstrip())
    print(f"== srun -N{workers} hostname")
    print("\n".join(checks.srun_hostnames(sandbox, workers)))
    print("== sbatch a job that writes into /data/rw (shared storage), read back on the head")
    path, text = checks.batch_job_to_shared_storage(sandbox)
    print(f"{path}: {text.strip()}")
    return 0


RELEASE_OPTION = {
    "choices": sorted(SUITES),
    "help": f"Debian release of the hosts (default: the sandbox's, else {DEFAULT_RELEASE}, "
    "production's); hosts of another release are replaced",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="snakepit-sandbox", description=__doc__)
    parser.add_argument("--name", default=DEFAULT_NAME, help="sandbox name (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create or resume the sandbox cluster")
    shape = up.add_mutually_exclusive_group()
    shape.add_argument(
        "--workers",
        type=int,
        help="N workers of one partition, 2 fake GPUs each (default: the fleet of the last "
        "`up`, else 2)",
    )
    shape.add_argument(
        "--spec",
        help="a fleet spec (YAML): partitions, GPU model and count per worker, workers "
        "without a driver yet (see tools/sandbox/fleet.py)",
    )
    up.add_argument("--release", **RELEASE_OPTION)
    sub.add_parser("list", help="list the sandbox's hosts")
    sub.add_parser("down", help="remove the sandbox's containers, network and keys")
    sub.add_parser("inventory", help="print the path of the generated pyinfra inventory")
    sub.add_parser("facts", help="print a per-host table of facts read over SSH")
    demo_parser = sub.add_parser("demo", help="the main job: up, then the facts table")
    demo_parser.add_argument(
        "--workers", type=int, default=2, help="number of workers (default: 2)"
    )
    demo_parser.add_argument("--release", **RELEASE_OPTION)
    args = parser.parse_args(argv)

    sandbox = Sandbox(args.name)
    try:
        if args.command == "demo":
            return demo(sandbox, args.workers, args.release)
        if args.command == "up":
            started = time.monotonic()
            fleet = load(args.spec) if args.spec else None
            hosts = sandbox.up(workers=args.workers, fleet=fleet, release=args.release)
            for host in hosts:
                print(f"{host.name:10} {host.role:7} {host.address:16} {host.container}")
            print(f"inventory: {sandbox.inventory_path}")
            print(f"sandbox up in {time.monotonic() - started:.1f}s")
        elif args.command == "list":
            for host in sandbox.hosts():
                print(f"{host.name:10} {host.role:7} {host.address:16} {host.container}")
        elif args.command == "down":
            sandbox.down()
            print(f"sandbox {sandbox.name!r} removed")
        elif args.command == "inventory":
            print(sandbox.inventory_path)
        elif args.command == "facts":
            print(facts_table(gather_facts(sandbox)))
    except (SandboxError, EngineError, FleetError) as error:
        print(f"snakepit-sandbox: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
