"""The fake fleet of bench/fleet_plan.py: a head and N workers on pyinfra's fake connector,
answering from a converged sandbox's recorded answers, plan deploys/site.py like real hosts.
No Docker: a plan of 5 hosts takes a few seconds."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.fleet_plan import plan_problem, secret_forms_in
from snakepit.secrets import generate, load_secrets

REPO = Path(__file__).resolve().parents[2]


def fake_plan(tmp_path: Path, workers: int) -> tuple[subprocess.CompletedProcess, dict]:
    generate(tmp_path / "secrets.yaml")
    summary_path = tmp_path / "summary.json"
    env = {
        **os.environ,
        "SNAKEPIT_FAKE_WORKERS": str(workers),
        "SNAKEPIT_SECRETS": str(tmp_path / "secrets.yaml"),
    }
    done = subprocess.run(
        [
            sys.executable,
            "bench/fake_pyinfra.py",
            str(summary_path),
            "bench/fake_fleet/inventory.py",
            "deploys/site.py",
            "--dry",
        ],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, json.loads(summary_path.read_text())


def test_a_fake_fleet_of_four_workers_plans_every_node_line_from_facts(tmp_path):
    done, summary = fake_plan(tmp_path, workers=4)
    output = done.stdout + done.stderr
    assert plan_problem(done.returncode, summary, workers=4) is None, output[-3000:]
    assert sorted(summary["hosts"]) == ["head", "worker1", "worker2", "worker3", "worker4"]
    # The head renders all four node lines from the workers' hardware facts (the recorded
    # worker's answers), and plans to write slurm.conf and /etc/hosts for the new fleet.
    slurm_conf = next(line for line in output.splitlines() if "/etc/slurm/slurm.conf (" in line)
    assert "(node lines from facts: worker1, worker2, worker3, worker4)" in slurm_conf
    assert "1 (head)" in slurm_conf
    assert "/etc/hosts: the cluster's 5 hosts" in output
    # A worker plans as many operations as the recorded one, and each answered every command.
    operations = {name: host["operations"] for name, host in summary["hosts"].items()}
    assert operations["worker4"] == operations["worker2"] > 20
    assert summary["hosts"]["worker4"]["commands"] >= summary["hosts"]["worker1"]["commands"]


def test_a_command_nobody_recorded_fails_the_plan():
    summary = {
        "hosts": {
            "head": {"operations": 70, "unrecorded": []},
            "worker1": {"operations": 0, "unrecorded": ["slurmd -C"]},
        },
        "failed_hosts": [],
    }
    assert "commands nobody recorded, worker1" in plan_problem(0, summary, workers=1)
    summary["hosts"]["worker1"]["unrecorded"] = []
    assert "planned no operation: worker1" in plan_problem(0, summary, workers=1)
    assert "failed hosts: worker1" in plan_problem(1, {**summary, "failed_hosts": ["worker1"]}, 1)


def test_recorded_answers_holding_a_secret_are_counted(tmp_path):
    generate(tmp_path / "secrets.yaml")
    secrets = load_secrets(tmp_path / "secrets.yaml")
    munge_key = base64.b64encode(secrets.munge_key).decode()
    raw = {
        "head": [
            {"command": "cat /etc/munge/munge.key | base64", "stdout": [munge_key], "stderr": []},
            {"command": "hostname", "stdout": ["head"], "stderr": []},
        ],
        "worker1": [
            {"command": f"echo {secrets.slurmdbd_db_password}", "stdout": [], "stderr": []},
        ],
    }
    assert secret_forms_in(raw, secrets.forms()) == 2
