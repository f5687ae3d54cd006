"""A manifest change waits for the node's jobs: the drain, the bounded wait, the resume."""

from __future__ import annotations

import subprocess

import pytest

from snakepit.cuda.rollout import (
    Rollout,
    failed_hosts,
    needs_drain,
    plan_batches,
    resumes_after_change,
    wait_for_jobs_command,
)
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


def test_at_the_deadline_a_node_is_resumed_when_the_data_says_so(tmp_path):
    (tmp_path / "squeue").write_text("#!/bin/sh\nprintf 4242\n")
    (tmp_path / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/scontrol.log\n')
    for tool in ("squeue", "scontrol"):
        (tmp_path / tool).chmod(0o755)
    command = wait_for_jobs_command("worker1", 0, resume_at_deadline=True)
    done = subprocess.run(
        ["sh", "-c", command],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "worker1 still runs jobs after 0s: resumed, no package changed" in done.stderr
    assert (tmp_path / "scontrol.log").read_text() == "update nodename=worker1 state=resume\n"


# -- a rollout over many workers -------------------------------------------------------------


def results(**outcomes: list[str]) -> dict:
    """pyinfra --json results with one operation per outcome list given."""
    operations = [{"name": "op", "success": [], "error": [], "no_change": []}]
    operations[0].update(outcomes)
    return {"results": {"operations": operations}}


def test_batches_keep_the_inventory_order():
    assert plan_batches(["w1", "w2", "w3", "w4", "w5"], 2) == [("w1", "w2"), ("w3", "w4"), ("w5",)]
    assert plan_batches(["w1"], 4) == [("w1",)]
    with pytest.raises(ValueError):
        plan_batches(["w1"], 0)


def test_failed_hosts_are_the_errors_and_the_hosts_no_operation_saw():
    batch = ("w1", "w2", "w3")
    assert failed_hosts(results(success=["w1"], no_change=["w2", "w3"]), batch) == set()
    assert failed_hosts(results(success=["w1"], error=["w2"], no_change=["w3"]), batch) == {"w2"}
    # w3 never reached an operation: it could not connect
    assert failed_hosts(results(success=["w1", "w2"]), batch) == {"w3"}
    # pyinfra stopped before any operation (bad data, say): the whole batch failed
    assert failed_hosts(None, batch) == set(batch)
    assert failed_hosts({"plan": []}, batch) == set(batch)


def test_the_rollout_stops_when_the_budget_is_spent():
    rollout = Rollout(plan_batches(["w1", "w2", "w3", "w4"], 1), max_failures=1)
    rollout.record(("w1",), set())
    assert not rollout.budget_spent
    rollout.record(("w2",), {"w2"})
    assert rollout.budget_spent
    rollout.stop(rollout.batches[2:])
    assert (rollout.converged, rollout.failed, rollout.untouched) == (["w1"], ["w2"], ["w3", "w4"])
    summary = rollout.summary()
    assert "1 converged, 1 failed, 2 untouched (batches of 1, failure budget 1)" in summary
    assert "failed (left as the run left them): w2" in summary
    assert "untouched, the budget being spent: w3, w4" in summary
