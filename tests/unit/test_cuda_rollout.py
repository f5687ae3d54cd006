"""A manifest change waits for the node's jobs: the drain, the bounded wait, the resume."""

from __future__ import annotations

import subprocess

from snakepit.cuda.rollout import needs_drain, resumes_after_change, wait_for_jobs_command
from snakepit.parsers.slurm_nodes import parse_node_line


def node(state: str, reason: str | None = None):
    line = f"NodeName=worker1 CPUTot=2 State={state} Partitions=txp"
    return parse_node_line(line + (f" Reason={reason}" if reason else ""))


def test_drain_only_a_known_node_not_drained_yet():
    assert needs_drain(node("MIXED"))
    assert not needs_drain(node("MIXED+DRAIN", "fan [alice@2026-11-29T20:00:00]"))
    assert not needs_drain(None)


def test_resume_only_the_drain_of_a_manifest_change():
    assert resumes_after_change(node("IDLE+DRAIN", "snakepit: manifest cuda-11-5"))
    assert not resumes_after_change(node("IDLE+DRAIN", "snakepit: gpu gpu-lost"))
    assert not resumes_after_change(node("IDLE+DRAIN", "fan [alice@2026-11-29T20:00:00]"))
    assert not resumes_after_change(node("IDLE"))
    assert not resumes_after_change(None)


def run_wait(tmp_path, squeue_output: str, timeout_s: int) -> subprocess.CompletedProcess:
    """The wait loop under sh, with a fake squeue on PATH."""
    (tmp_path / "squeue").write_text(f"#!/bin/sh\nprintf '%s' '{squeue_output}'\n")
    (tmp_path / "squeue").chmod(0o755)
    (tmp_path / "sleep").write_text("#!/bin/sh\nexit 0\n")  # no real waiting in a unit test
    (tmp_path / "sleep").chmod(0o755)
    command = wait_for_jobs_command("worker1", timeout_s)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    return subprocess.run(
        ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_wait_ends_when_the_node_runs_no_job(tmp_path):
    assert run_wait(tmp_path, "", 600).returncode == 0


def test_wait_fails_at_the_deadline_naming_the_node(tmp_path):
    done = run_wait(tmp_path, "4242", 0)
    assert done.returncode == 1
    assert "worker1 still runs jobs after 0s: left drained, no package changed" in done.stderr
