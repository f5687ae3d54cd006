"""Benchmark: wall time per node of a CUDA manifest install, a switch, and a no-op.

    .venv/bin/python bench/cuda_switch.py [--workers 2] [--out bench/cuda_switch.md]

A fresh sandbox "bench-cuda" (no Slurm: the drain waits depend on the jobs, not measured
here), the signed stub vendor repository served to it, stub manifests cuda-11-4 (470
driver) and cuda-11-5 (495) made by `python -m tools.cuda create`; then on all workers at
once, `deploys/tools/cuda.py`: install 11-4, switch to 11-5 (11-4's packages removed),
re-run (no-op), switch back; then the same switches as rollouts (`python -m tools.cuda
rollout --deploy deploys/tools/cuda.py`): one worker per batch, then all in one batch.
Writes the wall times as markdown and JSON. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from snakepit.cuda.manifest import dump_source_file  # noqa: E402
from tools.sandbox.cluster import Sandbox  # noqa: E402
from tools.sandbox.stubrepo import TARGET, StubRepo  # noqa: E402


def run(*args: str) -> float:
    started = time.monotonic()
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "bench" / "cuda_switch.md"))
    args = parser.parse_args()
    sandbox = Sandbox(os.environ.get("SNAKEPIT_SANDBOX_PREFIX", "") + "bench-cuda")
    sandbox.down()
    sandbox.up(workers=args.workers)
    rows: list[tuple[str, float]] = []
    try:
        gateway = sandbox.client.networks.get(sandbox.network_name).attrs["IPAM"]["Config"][0][
            "Gateway"
        ]
        with StubRepo() as stub, tempfile.TemporaryDirectory() as tmp:
            stub.build()
            stub.serve(gateway)
            source = Path(tmp) / "source.yaml"
            source.write_text(dump_source_file(stub.source(), TARGET))
            made = {}
            for name, also in (("cuda-11-4", ["cuda-drivers=470.82.01-1"]), ("cuda-11-5", [])):
                made[name] = Path(tmp) / f"{name}.yaml"
                command = [sys.executable, "-m", "tools.cuda", "create", name]
                command += ["--source", str(source), "--out", str(made[name])]
                command += ["--network", sandbox.network_name]
                if also:
                    command += ["--also", *also]
                run(*command)
            steps = (
                ("install cuda-11-4 (fresh workers)", "cuda-11-4"),
                ("switch cuda-11-4 -> cuda-11-5", "cuda-11-5"),
                ("no-op re-run of cuda-11-5", "cuda-11-5"),
                ("switch cuda-11-5 -> cuda-11-4", "cuda-11-4"),
            )
            for label, name in steps:
                seconds = run(
                    sys.executable, "-m", "pyinfra", str(sandbox.inventory_path),
                    "deploys/tools/cuda.py", "-y", "--limit", "slurm_worker",
                    "--data", f"cuda_manifest={made[name]}",
                )  # fmt: skip
                rows.append((label, seconds))
            rollouts = (
                ("rollout -> cuda-11-5, batches of 1", "cuda-11-5", 1),
                (f"rollout -> cuda-11-4, one batch of {args.workers}", "cuda-11-4", args.workers),
            )
            for label, name, batch in rollouts:
                seconds = run(
                    sys.executable, "-m", "tools.cuda", "rollout", str(sandbox.inventory_path),
                    "--deploy", "deploys/tools/cuda.py", "--batch", str(batch),
                    "--data", f"cuda_manifest={made[name]}",
                )  # fmt: skip
                rows.append((label, seconds))
    finally:
        sandbox.down()
    machine = f"{platform.node()}, {platform.machine()}, {os.cpu_count()} cores"
    lines = [
        "# CUDA manifest switch benchmark (bench/cuda_switch.py)",
        "",
        f"Machine: {machine}. {args.workers} workers (Docker containers) converged at once; "
        "stub vendor repository served from this machine; no Slurm, so no drain wait.",
        "",
        "| step | wall s (all workers) |",
        "| --- | --- |",
        *(f"| {label} | {seconds:.1f} |" for label, seconds in rows),
        "",
    ]
    out = Path(args.out)
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(
        json.dumps({"workers": args.workers, "steps": dict(rows)}, indent=2) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
