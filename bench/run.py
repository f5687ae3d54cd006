"""Every benchmark, one after the other (each writes its own .md and .json in bench/).

    .venv/bin/python bench/run.py [--only side_by_side converge cuda_switch fleet_plan]

side_by_side: the project against the tuned Ansible anchor, one alternating series (needs
Ansible in $ANSIBLE_VENV, see its docstring). converge: growth with 1, 2, 4 and 8 workers,
with controller CPU. cuda_switch: a manifest switch per node and a rollout over the
workers. fleet_plan: `--dry` for a big fleet of fake hosts. About 45 minutes on a
2-core machine; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = ("side_by_side", "converge", "cuda_switch", "fleet_plan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = parser.parse_args()
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
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
