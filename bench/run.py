"""Every benchmark, one after the other (each writes its own .md and .json in bench/).

    .venv/bin/python bench/run.py [--only side_by_side converge cuda_switch fleet_plan]

side_by_side: the project against the tuned Ansible anchor, one alternating series (needs
Ansible in $ANSIBLE_VENV, see its docstring). converge: growth with 1, 2, 4 and 8 workers,
with controller CPU. cuda_switch: a manifest switch per node and a rollout over the
workers. fleet_plan: `--dry` for a big fleet of fake hosts. About an hour on a 2-core
machine; nothing here asserts a time.

Then bench/results.md and bench/results.json gather what every benchmark wrote (its .md
and .json, each with the machine, the versions and every raw sample), also those of a
benchmark not run this time, each under its name, with when its files were written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = ("side_by_side", "converge", "cuda_switch", "fleet_plan")


def gather(bench: Path = REPO / "bench") -> None:
    """bench/results.md and .json: every benchmark's own files, under its name."""
    parts = ["# Benchmarks (bench/run.py)", ""]
    raw: dict = {}
    for name in BENCHMARKS:
        md, data = bench / f"{name}.md", bench / f"{name}.json"
        if not md.exists():
            parts += [f"## {name}", "", "Not run yet.", ""]
            continue
        written = datetime.fromtimestamp(md.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = md.read_text().split("\n", 1)[1].strip()  # its own title becomes ours
        parts += [f"## {name} (`bench/{name}.py`, written {written})", "", body, ""]
        raw[name] = json.loads(data.read_text()) if data.exists() else None
    (bench / "results.md").write_text("\n".join(parts))
    (bench / "results.json").write_text(json.dumps(raw, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument(
        "--gather-only", action="store_true", help="run nothing, only write results.md/.json"
    )
    args = parser.parse_args()
    if args.gather_only:
        args.only = []
    failed = []
    for name in args.only:
        script = REPO / "bench" / f"{name}.py"
        if not script.exists():
            print(f"bench: {script.name} is not here", flush=True)
            failed.append(name)
            continue
        print(f"bench: {name}", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=REPO, check=False).returncode:
            failed.append(name)
    gather()
    print("bench: wrote bench/results.md and bench/results.json", flush=True)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
