"""`python -m tools.cuda rollout`: converge workers batch by batch, within a failure budget.

A manifest change reaches the workers a batch at a time (``cuda_rollout_batch``), each batch
after the one before has ended. Within a batch every worker goes its own pace (pyinfra
``--no-wait``): one whose node is idle is upgraded at once, while another waits, drained, for
its jobs (``cuda_drain_timeout_s``). Once ``cuda_rollout_max_failures`` workers have failed,
no further batch starts: those workers stay untouched, and the failed ones stay as their run
left them (a failed manifest change leaves its node drained, with the reason).

The data is read with ``pyinfra INVENTORY debug-inventory`` (which checks it, and connects to
nobody); the deploy is run with the real pyinfra CLI, so its output is what an admin knows.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
from pathlib import Path

from snakepit.cuda.rollout import Rollout, failed_hosts, plan_batches

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = "slurm_worker"
SETTINGS = {"batch": "cuda_rollout_batch", "max_failures": "cuda_rollout_max_failures"}
DEFAULTS = {"batch": 1, "max_failures": 1}


class RolloutError(RuntimeError):
    pass


def read_inventory(inventory: str) -> list[dict]:
    """Every host's name, groups and data, as pyinfra (and our preflight) load them."""
    done = subprocess.run(
        [sys.executable, "-m", "pyinfra", inventory, "debug-inventory", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RolloutError(lines[-1] if lines else f"pyinfra exited {done.returncode}")
    return json.loads(done.stdout)


def select_workers(hosts: list[dict], limit: list[str]) -> list[dict]:
    """The inventory's workers, in its order, that match a ``--limit`` pattern (pyinfra's
    meaning: a group name, or a host name glob); all of them without one."""
    workers = [h for h in hosts if WORKERS in h["groups"]]
    if not limit:
        return workers
    return [
        h for h in workers if any(p in h["groups"] or fnmatch.fnmatch(h["name"], p) for p in limit)
    ]


def setting(workers: list[dict], key: str, given: int | None) -> int:
    """A rollout setting: the flag, else the workers' data (one value for all of them)."""
    if given is not None:
        if given < 1:
            raise RolloutError(f"--{key.replace('_', '-')} must be at least 1, not {given}")
        return given
    name = SETTINGS[key]
    values = {h["name"]: h["data"].get(name, DEFAULTS[key]) for h in workers}
    if len(set(values.values())) > 1:
        found = ", ".join(f"{host}: {value}" for host, value in values.items())
        raise RolloutError(
            f"{name} differs between the workers of this rollout ({found}): set it for "
            f"all of them, or give --{key.replace('_', '-')}"
        )
    return next(iter(values.values()), DEFAULTS[key])


def run_batch(inventory: str, deploy: str, batch: tuple[str, ...], extra: list[str]) -> set[str]:
    """Converge one batch (its output goes to the terminal); return the hosts that failed."""
    command = [sys.executable, "-m", "pyinfra", inventory, deploy, "--no-wait", "--json"]
    for name in batch:
        command += ["--limit", name]
    done = subprocess.run(
        [*command, *extra], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, check=False
    )
    try:
        results = json.loads(done.stdout)
    except json.JSONDecodeError:
        results = None
    if "--dry" in extra:  # a plan has no results: only a refused plan fails
        return set(batch) if done.returncode != 0 else set()
    failed = failed_hosts(results, batch)
    if done.returncode != 0 and not failed:
        failed = set(batch)  # pyinfra failed and did not say where: count them all
    return failed


def rollout(args: argparse.Namespace) -> int:
    if not Path(args.inventory).is_file():
        print(f"rollout: {args.inventory} is not an inventory file", file=sys.stderr)
        return 2
    try:
        workers = select_workers(read_inventory(args.inventory), args.limit or [])
        if not workers:
            raise RolloutError(f"no host of group {WORKERS} matches --limit {args.limit}")
        size = setting(workers, "batch", args.batch)
        budget = setting(workers, "max_failures", args.max_failures)
    except RolloutError as error:
        print(f"rollout: {error}", file=sys.stderr)
        return 2
    extra = ["--dry"] if args.dry else ["-y"]
    for item in args.data or []:
        extra += ["--data", item]
    batches = plan_batches([h["name"] for h in workers], size)
    state = Rollout(batches, budget)
    for number, batch in enumerate(batches, start=1):
        print(f"rollout: batch {number}/{len(batches)}: {', '.join(batch)}", flush=True)
        state.record(batch, run_batch(args.inventory, args.deploy, batch, extra))
        if state.budget_spent and number < len(batches):
            state.stop(batches[number:])
            break
    sys.stderr.write(state.summary())
    return 1 if state.failed else 0


def add_parser(commands) -> None:
    p = commands.add_parser(
        "rollout", help="converge workers batch by batch, stopping at a failure budget"
    )
    p.add_argument("inventory", help="the pyinfra inventory")
    p.add_argument(
        "--deploy",
        default="deploys/worker.py",
        help="deploy each batch runs (default: deploys/worker.py; deploys/tools/cuda.py "
        "changes only the manifests)",
    )
    p.add_argument("--limit", action="append", help="a group or host name glob (repeatable)")
    p.add_argument("--batch", type=int, help="workers at once (default: cuda_rollout_batch)")
    p.add_argument(
        "--max-failures",
        type=int,
        help="stop after this many failed workers (default: cuda_rollout_max_failures)",
    )
    p.add_argument("--data", action="append", help="pyinfra --data key=value (repeatable)")
    p.add_argument("--dry", action="store_true", help="plan each batch; change nothing")
    p.set_defaults(run=rollout)
