"""When the deploy drains a worker for its GPU health, and when it resumes it."""

from __future__ import annotations

import pytest

from snakepit.cuda.health import HealthAction, health_action
from snakepit.parsers.slurm_nodes import parse_node_line


def node(state: str, reason: str | None = None):
    line = f"NodeName=worker1 CPUTot=2 State={state} Partitions=txp"
    return parse_node_line(line + (f" Reason={reason}" if reason else ""))


@pytest.mark.parametrize("state", ["driver-mismatch", "gpu-lost", "error"])
def test_a_broken_stack_drains_with_its_state_as_the_reason(state):
    action = health_action(state, node("MIXED"))
    assert action == HealthAction("drain", "worker1", f"snakepit: gpu {state}")
    assert action.command() == (
        f"scontrol update nodename=worker1 state=drain reason='snakepit: gpu {state}'"
    )


def test_a_new_failure_replaces_our_own_older_reason():
    drained = node("IDLE+DRAIN", "snakepit: gpu gpu-lost [root@2026-11-29T20:00:00]")
    assert health_action("driver-mismatch", drained).reason == "snakepit: gpu driver-mismatch"


@pytest.mark.parametrize("state", ["ok", "no-devices"])
def test_healthy_resumes_only_our_own_drain(state):
    ours = node("IDLE+DRAIN", "snakepit: gpu error [root@2026-11-29T20:00:00]")
    assert health_action(state, ours).command() == "scontrol update nodename=worker1 state=resume"
    # another deploy step's drain (a rolling upgrade) and an admin's stay
    assert health_action(state, node("IDLE+DRAIN", "snakepit: manifest switch")) is None
    assert health_action(state, node("IDLE+DRAIN", "fan [alice@2026-11-29T20:00:00]")) is None
    assert health_action(state, node("IDLE")) is None


@pytest.mark.parametrize("state", ["not-installed", "no-driver"])
def test_no_verdict_without_a_driver_or_a_node(state):
    assert health_action(state, node("IDLE")) is None
    assert health_action(state, node("IDLE+DRAIN", "snakepit: gpu error")) is None
    assert health_action("gpu-lost", None) is None
