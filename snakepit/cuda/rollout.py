"""A manifest change never changes packages under a running job (pure: reasons and commands).

Before a transaction that changes a worker's packages, the deploy drains the node (the
reason names the manifest) and waits, bounded, for its jobs to end; after the install it
resumes the node, but only from that drain: a node an admin drained stays drained. A node
still busy at the deadline is left drained (or resumed, as the data says), with nothing
installed, and its host fails.

Across workers, ``python -m tools.cuda rollout`` runs the worker deploy batch by batch and
stops once a failure budget is spent (``plan_batches``, ``failed_hosts``, ``Rollout``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from snakepit.parsers.slurm_nodes import DEPLOY_REASON_PREFIX, SlurmNode

SWITCH_REASON = f"{DEPLOY_REASON_PREFIX} manifest "
POLL_S = 5


def switch_reason(manifest: str) -> str:
    return f"{SWITCH_REASON}{manifest}"


def drain_command(node: str, reason: str) -> str:
    return f"scontrol update nodename={shlex.quote(node)} state=drain reason={shlex.quote(reason)}"


def resume_command(node: str) -> str:
    return f"scontrol update nodename={shlex.quote(node)} state=resume"


def wait_for_jobs_command(node: str, timeout_s: int, resume_at_deadline: bool = False) -> str:
    """Poll squeue until the node runs no job; fail after ``timeout_s`` with nothing
    installed. The node then stays drained, or is resumed when ``resume_at_deadline`` (the
    data's ``cuda_busy_at_deadline = "resumed"``, and only a drain this change set)."""
    quoted = shlex.quote(node)
    left = "resumed" if resume_at_deadline else "left drained"
    late = shlex.quote(f"{node} still runs jobs after {timeout_s}s: {left}, no package changed")
    give_up = f"{resume_command(node)}; " if resume_at_deadline else ""
    return (
        f"deadline=$(( $(date +%s) + {int(timeout_s)} )); "
        f'while [ -n "$(squeue -h -w {quoted} -o %i)" ]; do '
        f'if [ "$(date +%s)" -ge "$deadline" ]; then {give_up}echo {late} >&2; exit 1; fi; '
        f"sleep {POLL_S}; done"
    )


def needs_drain(node: SlurmNode | None) -> bool:
    """Drain before the change unless slurmctld does not know the node (a new worker) or
    it is drained already (by anyone: an admin's reason is kept)."""
    return node is not None and not node.drained


def resumes_after_change(node: SlurmNode | None) -> bool:
    """Only the drain a manifest change set is lifted after it."""
    return node is not None and node.drained and (node.reason or "").startswith(SWITCH_REASON)


# -- a rollout over many workers: batches and a failure budget -----------------------------


def plan_batches(hosts: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """The workers in inventory order, ``size`` at a time (the last batch may be smaller)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    return [tuple(hosts[i : i + size]) for i in range(0, len(hosts), size)]


def failed_hosts(results: Mapping | None, batch: Iterable[str]) -> set[str]:
    """The hosts of a batch that did not converge, from pyinfra's ``--json`` output.

    A host failed when an operation lists it under ``error``, or when no operation lists it
    at all (it could not connect, or failed before its first operation). No results at all
    (pyinfra stopped before any operation, e.g. on bad data) fail the whole batch."""
    batch = set(batch)
    if not results or "results" not in results:
        return batch
    seen: set[str] = set()
    failed: set[str] = set()
    for op in results["results"]["operations"]:
        for outcome in ("success", "error", "no_change"):
            seen.update(op.get(outcome, ()))
        failed.update(op.get("error", ()))
    return (failed | (batch - seen)) & batch


@dataclass
class Rollout:
    """Batches run in order until the failures reach ``max_failures``; what is left is
    untouched and reported as such."""

    batches: list[tuple[str, ...]]
    max_failures: int
    converged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)

    def record(self, batch: tuple[str, ...], failed: set[str]) -> None:
        self.failed += [h for h in batch if h in failed]
        self.converged += [h for h in batch if h not in failed]

    @property
    def budget_spent(self) -> bool:
        return len(self.failed) >= self.max_failures

    def stop(self, remaining: Sequence[tuple[str, ...]]) -> None:
        self.untouched = [h for batch in remaining for h in batch]

    def summary(self) -> str:
        size = max(map(len, self.batches), default=0)
        lines = [
            f"rollout: {len(self.converged)} converged, {len(self.failed)} failed, "
            f"{len(self.untouched)} untouched (batches of {size}, "
            f"failure budget {self.max_failures})"
        ]
        if self.failed:
            lines.append(f"  failed (left as the run left them): {', '.join(self.failed)}")
        if self.untouched:
            lines.append(f"  untouched, the budget being spent: {', '.join(self.untouched)}")
        return "\n".join(lines) + "\n"
