"""Benchmark: this project against the tuned Ansible playbook of ../shared/anchors/ansible.

    .venv/bin/python bench/side_by_side.py [--rounds 5] [--workers 2]

Two fresh sandboxes of the project's own image (head + N workers each): "bench-p" for this
project, "bench-a" for the Ansible playbook. First converge of each (one run each), then
``--rounds`` rounds of no-op re-converges, each round alternating the project, stock
Ansible and Ansible with Mitogen, so that machine noise hits all three. Remote commands
per host are counted for the project on every run (bench/counting_pyinfra.py) and for
Ansible once (``run.sh --count``). Controller CPU is the pyinfra process's user + system
time. Writes bench/side_by_side.md and .json with the machine, versions and every sample.

Needs a venv with Ansible (``ANSIBLE_VENV``, default /tmp/ansvenv):
``python3 -m venv /tmp/ansvenv && /tmp/ansvenv/bin/pip install ansible==12.3.0 mitogen==0.3.54``.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.converge import timed_converge  # noqa: E402
from tools.sandbox.cluster import Sandbox  # noqa: E402

ANCHOR = REPO.parent / "shared" / "anchors" / "ansible"
ANSIBLE_VENV = os.environ.get("ANSIBLE_VENV") or str(Path(tempfile.gettempdir()) / "ansvenv")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def project_run(sandbox: Sandbox, cache_dir: Path) -> dict:
    """One `deploys/site.py -y` run, counted (bench/converge.py's)."""
    sample = timed_converge(sandbox, cache_dir)
    return {
        "tool": "project",
        "wall_s": sample["wall_s"],
        "controller_cpu_s": sample["controller_cpu_s"],
        "changed": sample["changed_ops"],
        "commands": sample["commands"],
        "uploads": sample["uploads"],
    }


def ansible_run(anchor: Path, *flags: str) -> dict:
    env = {**os.environ, "ANSIBLE_VENV": ANSIBLE_VENV}
    cpu = children_cpu()
    done = subprocess.run(
        ["./run.sh", *flags], cwd=anchor, capture_output=True, text=True, check=False, env=env
    )
    cpu = children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"ansible {' '.join(flags)} failed:\n{done.stdout[-3000:]}")
    wall = float(re.search(r"wall_s=([0-9.]+)", done.stdout).group(1))
    changed = sum(int(n) for n in re.findall(r"changed=(\d+)", done.stdout))
    sample = {
        "tool": "ansible + mitogen" if "--mitogen" in flags else "ansible",
        "wall_s": wall,
        "controller_cpu_s": round(cpu, 2),
        "changed": changed,
    }
    execs = dict(re.findall(r"^\s+(\S+): exec=(\d+)", done.stdout, re.MULTILINE))
    if execs:
        sample["commands"] = {ip: int(n) for ip, n in execs.items()}
    return sample


def anchor_copy(sandbox: Sandbox, where: Path) -> Path:
    if where.exists():
        shutil.rmtree(where)
    shutil.copytree(ANCHOR, where)
    hosts = where / "hosts.txt"
    hosts.write_text("".join(f"{h.name} {h.address}\n" for h in sandbox.hosts()))
    subprocess.run(
        ["./inventory.sh", str(hosts), str(sandbox.key_path)],
        cwd=where,
        check=True,
        capture_output=True,
    )
    return where


def versions() -> dict:
    venv = Path(ANSIBLE_VENV)

    def pip_version(python: Path, package: str) -> str:
        done = subprocess.run(
            [str(python), "-m", "pip", "show", package], capture_output=True, text=True
        )
        match = re.search(r"^Version: (.+)$", done.stdout, re.MULTILINE)
        return match.group(1) if match else "?"

    return {
        "python": platform.python_version(),
        "pyinfra": pip_version(Path(sys.executable), "pyinfra"),
        "ansible": pip_version(venv / "bin/python", "ansible"),
        "mitogen": pip_version(venv / "bin/python", "mitogen"),
    }


def machine() -> dict:
    return {
        "node": platform.node(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
    }


def medians(samples: list[dict]) -> dict:
    by_tool: dict[str, list[dict]] = {}
    for sample in samples:
        by_tool.setdefault(sample["tool"], []).append(sample)
    return {
        tool: {
            "wall_s": round(statistics.median(s["wall_s"] for s in runs), 2),
            "controller_cpu_s": round(statistics.median(s["controller_cpu_s"] for s in runs), 2),
            "runs": len(runs),
        }
        for tool, runs in by_tool.items()
    }


def markdown(report: dict) -> str:
    first = report["first_median"]
    noop = report["noop_median"]
    project = noop["project"]["wall_s"]
    stock, mitogen = noop["ansible"]["wall_s"], noop["ansible + mitogen"]["wall_s"]
    projects = [s for s in report["noop"] if s["tool"] == "project"]
    commands = projects[-1]["commands"] if projects else {}
    lines = [
        "# Side by side: this project and the tuned Ansible playbook (bench/side_by_side.py)",
        "",
        f"Machine: {report['machine']['node']}, {report['machine']['cpus']} cores, "
        f"{report['machine']['memory_gib']} GiB, kernel {report['machine']['kernel']}. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in report['versions'].items())}. "
        f"Head + {report['workers']} workers per tool, fresh sandboxes of the project's "
        "image; no-op runs alternate the three tools in each round.",
        "",
        "| figure | stock Ansible | Ansible + Mitogen | this project | goal |",
        "| --- | --- | --- | --- | --- |",
        f"| no-op re-converge, median of {noop['project']['runs']} (s) | {stock} | {mitogen} "
        f"| {project} | ≤ {stock / 3:.2f} (⅓ stock) and ≤ {mitogen / 2:.2f} (½ Mitogen) |",
        f"| no-op, controller CPU median (s) | {noop['ansible']['controller_cpu_s']} "
        f"| {noop['ansible + mitogen']['controller_cpu_s']} "
        f"| {noop['project']['controller_cpu_s']} | |",
        f"| remote commands per host on a no-op | "
        f"{report.get('ansible_commands', '–')} | – | "
        f"{', '.join(f'{h} {n}' for h, n in sorted(commands.items()))} | ≤ 10 |",
        f"| first converge, fresh hosts, median of {first['project']['runs']} (s) "
        f"| {first['ansible']['wall_s']} | – | {first['project']['wall_s']} "
        f"| ≤ {first['ansible']['wall_s'] * 0.8:.1f} (0.8×) |",
        "",
        f"No-op ratios: project / stock Ansible = {project / stock:.2f}, "
        f"project / Mitogen = {project / mitogen:.2f}; first converge: project / stock "
        f"Ansible = {first['project']['wall_s'] / first['ansible']['wall_s']:.2f} (medians), "
        "per round: "
        + ", ".join(f"{r:.2f}" for r in first_ratios(report["first"]))
        + ". Each first-converge round makes both sandboxes anew and alternates which "
        "tool goes first; the project's controller starts it with an empty cache (no "
        "record of earlier runs).",
        "",
        "Every sample (wall s, controller CPU s, changed):",
        "",
        "| run | tool | wall s | controller CPU s | changed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, samples in (("first", report["first"]), ("no-op", report["noop"])):
        samples = sorted(samples, key=lambda s: s.get("round", 0))
        for sample in samples:
            lines.append(
                f"| {label} | {sample['tool']} | {sample['wall_s']} "
                f"| {sample['controller_cpu_s']} | {sample['changed']} |"
            )
    return "\n".join(lines) + "\n"


def first_ratios(samples: list[dict]) -> list[float]:
    """project / stock Ansible wall time of each first-converge round."""
    rounds: dict[int, dict] = {}
    for sample in samples:
        rounds.setdefault(sample["round"], {})[sample["tool"]] = sample["wall_s"]
    return [r["project"] / r["ansible"] for _, r in sorted(rounds.items())]


def fresh(sandboxes: tuple[Sandbox, Sandbox], workers: int) -> Path:
    """Both sandboxes made anew; the anchor's copy pointed at the second one's hosts."""
    for sandbox in sandboxes:
        sandbox.down()
        sandbox.up(workers=workers)
    return anchor_copy(sandboxes[1], Path(tempfile.gettempdir()) / "snakepit-anchor")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="no-op rounds")
    parser.add_argument(
        "--first-rounds", type=int, default=3, help="first converges, fresh sandboxes each"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench/side_by_side.md")
    parser.add_argument("--keep", action="store_true", help="keep both sandboxes")
    args = parser.parse_args()
    project, ansible = Sandbox("bench-p"), Sandbox("bench-a")
    report: dict = {
        "machine": machine(),
        "versions": versions(),
        "workers": args.workers,
        "first": [],
        "noop": [],
    }
    raw = args.out.with_suffix(".json")
    cache = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    for round_ in range(args.first_rounds):
        print(f"bench: first converges, round {round_ + 1}/{args.first_rounds}", flush=True)
        anchor = fresh((project, ansible), args.workers)
        shutil.rmtree(cache)
        cache.mkdir()
        runs = [(project_run, project, cache), (ansible_run, anchor, "--fresh")]
        for run, *run_args in runs if round_ % 2 == 0 else runs[::-1]:
            report["first"].append({**run(*run_args), "round": round_ + 1})
            print(json.dumps(report["first"][-1]), flush=True)
            raw.write_text(json.dumps(report, indent=2) + "\n")  # kept if a later step fails
    report["first_median"] = medians(report["first"])
    counted = ansible_run(anchor, "--count")
    report["ansible_commands"] = ", ".join(f"{ip} {n}" for ip, n in counted["commands"].items())
    for round_ in range(args.rounds):
        for run in (
            lambda: project_run(project, cache),
            lambda: ansible_run(anchor),
            lambda: ansible_run(anchor, "--mitogen"),
        ):
            report["noop"].append(run())
            print(json.dumps(report["noop"][-1]), flush=True)
            raw.write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: round {round_ + 1}/{args.rounds} done", flush=True)
    report["noop_median"] = medians(report["noop"])
    args.out.write_text(markdown(report))
    raw.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {args.out} and {raw}")
    shutil.rmtree(cache, ignore_errors=True)
    if not args.keep:
        for sandbox in (project, ansible):
            sandbox.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
