"""Benchmark: first converge and no-op re-converge of a fresh sandbox, 1, 2, 4 and 8 workers.

    .venv/bin/python bench/converge.py [--workers 1 2 4 8] [--out bench/converge.md]

For each size: a fresh sandbox named "bench" (the base image is reused), then
`deploys/site.py` twice. Records wall time, the controller's CPU time (the pyinfra
process's user + system: the rest of the wall time is the hosts' work and waiting, on the
same 2 cores here), and the remote commands (facts included) and file uploads per host,
and writes them as markdown and JSON. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.sandbox.cluster import Sandbox  # noqa: E402


def timed_converge(sandbox: Sandbox, cache_dir: Path | None = None) -> dict:
    """One counted `deploys/site.py -y` run. ``cache_dir``: the controller's cache
    (XDG_CACHE_HOME: the fact batch's records of earlier runs); a fresh one for a first
    converge makes it a first converge for the controller too."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_dir)} if cache_dir else None
    with tempfile.NamedTemporaryFile(suffix=".json") as counts_file:
        command = [
            sys.executable,
            str(REPO / "bench/counting_pyinfra.py"),
            counts_file.name,
            str(sandbox.inventory_path),
            "deploys/site.py",
            "-y",
            "--json",
        ]
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, check=False, env=env
        )
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"converge failed:\n{done.stderr[-3000:]}")
        counts = json.loads(Path(counts_file.name).read_text())
    results = json.loads(done.stdout)["results"]
    changed = sum(len(op["success"]) for op in results["operations"])
    return {
        "wall_s": round(wall, 2),
        "controller_cpu_s": round(cpu, 2),
        "changed_ops": changed,
        **counts,
    }


def run(workers: int) -> dict:
    sandbox = Sandbox("bench")
    sandbox.down()
    started = time.monotonic()
    sandbox.up(workers=workers)
    up_s = round(time.monotonic() - started, 1)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        first = timed_converge(sandbox, Path(cache))
        noop = timed_converge(sandbox, Path(cache))
    sandbox.down()
    return {"workers": workers, "sandbox_up_s": up_s, "first": first, "noop": noop}


def markdown(rows: list[dict]) -> str:
    lines = [
        "# Converge benchmark (bench/converge.py)",
        "",
        f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores. "
        "Hosts are Docker containers on this machine; downloads come from Debian's mirror "
        "through the head's squid.",
        "",
        "| workers | run | wall s | controller CPU s | CPU s per host | changed ops "
        "| commands head | commands per worker (max) | uploads head | uploads per worker (max) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        for label in ("first", "noop"):
            run_ = row[label]
            workers = {h: n for h, n in run_["commands"].items() if h != "head"}
            uploads = {h: n for h, n in run_["uploads"].items() if h != "head"}
            lines.append(
                f"| {row['workers']} | {'first converge' if label == 'first' else 'no-op'} "
                f"| {run_['wall_s']} | {run_['controller_cpu_s']} "
                f"| {run_['controller_cpu_s'] / (row['workers'] + 1):.2f} "
                f"| {run_['changed_ops']} | {run_['commands'].get('head', 0)} "
                f"| {max(workers.values(), default=0)} | {run_['uploads'].get('head', 0)} "
                f"| {max(uploads.values(), default=0)} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--out", type=Path, default=REPO / "bench/converge.md")
    args = parser.parse_args()
    rows = []
    for count in args.workers:
        print(f"bench: {count} worker(s)...", flush=True)
        rows.append(run(count))
        print(json.dumps(rows[-1]), flush=True)
        args.out.write_text(markdown(rows))  # after each size: a long series may be cut
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"bench: wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
