"""Benchmark: plan (``--dry``) deploys/site.py for a fleet of 200 workers without 200 hosts.

    .venv/bin/python bench/fleet_plan.py [--workers 25 50 100 200] [--repeat 3]
    .venv/bin/python bench/fleet_plan.py --record SANDBOX

Every host is on pyinfra 3.10's fake connector (bench/fake_pyinfra.py), answering each command
from the answers a converged sandbox gave (bench/fake_fleet/responses.json, one head and one
worker, replayed by bench/fake_fleet/inventory.py for a head and N workers). For each size it
measures the controller: wall time, CPU time (user + system of the pyinfra process, from
``wait4``) and peak resident memory, and checks that the plan is a real one (no host failed,
every command had a recorded answer, every host planned operations). Writes
bench/fleet_plan.md and bench/fleet_plan.json with the machine, versions and every sample.

``--record SANDBOX`` makes the answers: a ``--dry`` run of deploys/site.py against that
sandbox (converge it first, so it answers as a converged cluster does), recorded by
bench/recording_pyinfra.py. Nothing is kept if any form of the sandbox's secrets (the munge
key, the slurmdbd password) appears in a command or an answer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from snakepit.secrets import generate, load_secrets  # noqa: E402

if TYPE_CHECKING:
    from tools.sandbox.cluster import Sandbox

FLEET = REPO / "bench/fake_fleet"
RESPONSES = FLEET / "responses.json"
THROWAWAY_SECRETS = FLEET / "secrets.yaml"  # git-ignored, made on first use


# -- recording ------------------------------------------------------------------------------


# Facts a converged sandbox's --dry never asks for, but a plan with changes does (pyinfra
# reads server.TmpDir before it plans an upload): recorded from the same hosts.
CHANGE_FACTS = ["server.TmpDir"]


def record(sandbox_name: str) -> None:
    from tools.sandbox.cluster import Sandbox  # Docker's client: only to record

    sandbox = Sandbox(sandbox_name)
    raw: dict[str, list[dict]] = {}
    for run in (["deploys/site.py", "--dry"], ["fact", *CHANGE_FACTS]):
        for host, responses in recorded(sandbox, run).items():
            raw.setdefault(host, []).extend(responses)
    leaked = secret_forms_in(raw, load_secrets(sandbox.secrets_path).forms())
    if leaked:
        raise SystemExit(
            f"refused: a secret of sandbox {sandbox_name} appears in {leaked} recorded answers; "
            "nothing was written"
        )
    addresses = json.loads(sandbox.hosts_path.read_text())
    head, worker = "head", sorted(name for name in raw if name != "head")[0]
    recording = {
        "recorded": {
            "sandbox": sandbox_name,
            "deploy": "deploys/site.py --dry, on the sandbox converged by deploys/site.py -y",
            "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "pyinfra": version("pyinfra"),
            "commit": git_commit(),
        },
        "subnet": addresses["subnet"],  # Docker's pick for the sandbox's network
        "head": {"name": head, "address": address_of(addresses, head), "responses": raw[head]},
        "worker": {
            "name": worker,
            "address": address_of(addresses, worker),
            "responses": raw[worker],
        },
    }
    RESPONSES.write_text(json.dumps(recording, indent=1) + "\n")
    print(
        f"{RESPONSES.relative_to(REPO)}: {len(raw[head])} answers of {head}, "
        f"{len(raw[worker])} of {worker}"
    )


def secret_forms_in(raw: dict, forms: list[str]) -> int:
    """How many recorded commands or answers hold any printable form of a secret."""
    texts = [
        text
        for responses in raw.values()
        for response in responses
        for text in (response["command"], *response["stdout"], *response["stderr"])
    ]
    return sum(1 for text in texts if any(form in text for form in forms))


def address_of(hosts: dict, name: str) -> str:
    return next(host["address"] for host in hosts["hosts"] if host["name"] == name)


def recorded(sandbox: Sandbox, pyinfra_args: list[str]) -> dict[str, list[dict]]:
    """Every command and answer per host of one pyinfra run on the sandbox."""
    with tempfile.NamedTemporaryFile(suffix=".json") as raw_file:
        command = [
            sys.executable,
            str(REPO / "bench/recording_pyinfra.py"),
            raw_file.name,
            str(sandbox.inventory_path),
            *pyinfra_args,
        ]
        # Each fact by its own command, as the fake connector is asked (glue/fact_batch.py
        # would read them in one script over SSH, past the recording).
        env = {**os.environ, "SNAKEPIT_FACT_BATCH": "0"}
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(
                f"{' '.join(pyinfra_args)} on sandbox {sandbox.name} failed:\n{done.stderr[-3000:]}"
            )
        return json.loads(Path(raw_file.name).read_text())


# -- planning -------------------------------------------------------------------------------


def plan(workers: int) -> dict:
    """One ``--dry`` of deploys/site.py for a head and ``workers`` fake workers, measured."""
    with tempfile.TemporaryDirectory() as scratch:
        summary_path = Path(scratch) / "summary.json"
        log_path = Path(scratch) / "pyinfra.log"
        command = [
            sys.executable,
            str(REPO / "bench/fake_pyinfra.py"),
            str(summary_path),
            str(FLEET / "inventory.py"),
            "deploys/site.py",
            "--dry",
        ]
        env = {**os.environ, "SNAKEPIT_FAKE_WORKERS": str(workers)}
        env.pop("SNAKEPIT_SECRETS", None)  # the fleet's own throwaway secrets, nobody else's
        with open(log_path, "w") as log:
            started = time.monotonic()
            child = subprocess.Popen(
                command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
        problem = plan_problem(child.returncode, summary, workers)
        if problem:
            raise SystemExit(f"{workers} workers: {problem}\n{log_path.read_text()[-3000:]}")
    hosts = summary["hosts"]
    worker_ops = [hosts[name]["operations"] for name in hosts if name != "head"]
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "workers": workers,
        "hosts": len(hosts),
        "wall_s": round(wall, 2),
        "cpu_user_s": round(usage.ru_utime, 2),
        "cpu_sys_s": round(usage.ru_stime, 2),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_host": round(1000 * cpu / len(hosts), 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "operations_head": hosts["head"]["operations"],
        "operations_worker": [min(worker_ops), max(worker_ops)],
        "changes_head": hosts["head"]["changes"],
        "changes_worker": max(hosts[name]["changes"] for name in hosts if name != "head"),
        "commands_head": hosts["head"]["commands"],
        "commands_worker": max(hosts[name]["commands"] for name in hosts if name != "head"),
    }


def plan_problem(returncode: int, summary: dict | None, workers: int) -> str | None:
    """Why this run is not a real plan of the whole fleet, or None when it is."""
    if summary is None:
        return f"pyinfra exited {returncode} before it had a state"
    if summary["failed_hosts"]:
        return f"failed hosts: {', '.join(summary['failed_hosts'])}"
    if returncode != 0:
        return f"pyinfra exited {returncode}"
    hosts = summary["hosts"]
    if len(hosts) != workers + 1:
        return f"{len(hosts)} hosts planned, not {workers + 1}"
    unrecorded = {name: host["unrecorded"] for name, host in hosts.items() if host["unrecorded"]}
    if unrecorded:
        name, commands = next(iter(unrecorded.items()))
        return f"{len(unrecorded)} hosts ran commands nobody recorded, {name}: {commands[:3]}"
    idle = [name for name, host in hosts.items() if host["operations"] == 0]
    if idle:
        return f"hosts that planned no operation: {', '.join(idle[:5])}"
    return None


# -- report ---------------------------------------------------------------------------------


def machine() -> dict:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "node": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024**2, 1),
        "python": platform.python_version(),
        "pyinfra": version("pyinfra"),
        "commit": git_commit(),
    }


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return done.stdout.strip()


def rows_by_size(samples: list[dict]) -> dict[int, list[dict]]:
    sizes: dict[int, list[dict]] = {}
    for sample in samples:
        sizes.setdefault(sample["workers"], []).append(sample)
    return sizes


def markdown(report: dict) -> str:
    box = report["machine"]
    lines = [
        "# Planning a big fake fleet (bench/fleet_plan.py)",
        "",
        f"Machine: {box['node']}, {box['cpu']}, {box['cores']} cores, {box['memory_gib']} GiB; "
        f"Python {box['python']}, pyinfra {box['pyinfra']}, commit {box['commit']}. "
        f"{report['note']}",
        "",
        f"Answers recorded {report['recorded']['at']} on sandbox "
        f"{report['recorded']['sandbox']} ({report['recorded']['deploy']}).",
        "",
        "`pyinfra bench/fake_fleet/inventory.py deploys/site.py --dry`, one head + N workers "
        "on the fake connector; medians of the samples (all in fleet_plan.json). CPU is the "
        "controller's (user + system): the fake hosts cost nothing.",
        "",
        "| workers | hosts | wall s | CPU s | CPU ms per host | peak RSS MiB "
        "| ops head / worker | changes head / worker | commands head / worker | samples |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for workers, samples in rows_by_size(report["samples"]).items():
        first = samples[0]
        ops = first["operations_worker"]
        ops_worker = str(ops[0]) if ops[0] == ops[1] else f"{ops[0]}–{ops[1]}"
        lines.append(
            f"| {workers} | {first['hosts']} "
            f"| {statistics.median(s['wall_s'] for s in samples):.1f} "
            f"| {statistics.median(s['cpu_s'] for s in samples):.1f} "
            f"| {statistics.median(s['cpu_ms_per_host'] for s in samples):.0f} "
            f"| {max(s['peak_rss_mib'] for s in samples):.0f} "
            f"| {first['operations_head']} / {ops_worker} "
            f"| {first['changes_head']} / {first['changes_worker']} "
            f"| {first['commands_head']} / {first['commands_worker']} "
            f"| {len(samples)} |"
        )
    medians = {
        workers: statistics.median(s["cpu_s"] for s in samples)
        for workers, samples in rows_by_size(report["samples"]).items()
    }
    sizes = sorted(medians)
    if len(sizes) > 1:
        steps = [
            f"{low}→{high}: {1000 * (medians[high] - medians[low]) / (high - low):.0f} ms"
            for low, high in pairwise(sizes)
        ]
        lines += [
            "",
            "Controller CPU per added worker (median CPU, between sizes): "
            + ", ".join(steps)
            + "; the rest is the fixed cost of starting pyinfra and loading the deploy.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--repeat", type=int, default=3, help="samples per size")
    parser.add_argument("--record", metavar="SANDBOX", help="record the answers of a sandbox")
    parser.add_argument("--note", default="", help="a line on the conditions (load, ...)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/fleet_plan.md")
    args = parser.parse_args()
    if args.record:
        record(args.record)
        return
    if not THROWAWAY_SECRETS.exists():
        generate(THROWAWAY_SECRETS)
    samples = []
    for _ in range(args.repeat):  # sizes alternate, so a slow minute hits each alike
        for workers in args.workers:
            samples.append(plan(workers))
            print(json.dumps(samples[-1]), flush=True)
    recording = json.loads(RESPONSES.read_text())["recorded"]
    report = {"machine": machine(), "note": args.note, "recorded": recording, "samples": samples}
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.write_text(markdown(report))
    print(f"wrote {args.out.relative_to(REPO)} and {args.out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
