"""A manifest change never changes packages under a running job (pure: reasons and commands).

Before a transaction that changes a worker's packages, the deploy drains the node (the
reason names the manifest) and waits, bounded, for its jobs to end; after the install it
resumes the node, but only from that drain: a node an admin drained stays drained. A node
still busy at the deadline is left drained, with nothing installed, and its host fails.
"""

from __future__ import annotations

import shlex

from snakepit.parsers.slurm_nodes import DEPLOY_REASON_PREFIX, SlurmNode

SWITCH_REASON = f"{DEPLOY_REASON_PREFIX} manifest "
POLL_S = 5


def switch_reason(manifest: str) -> str:
    return f"{SWITCH_REASON}{manifest}"


def drain_command(node: str, reason: str) -> str:
    return f"scontrol update nodename={shlex.quote(node)} state=drain reason={shlex.quote(reason)}"


def resume_command(node: str) -> str:
    return f"scontrol update nodename={shlex.quote(node)} state=resume"


def wait_for_jobs_command(node: str, timeout_s: int) -> str:
    """Poll squeue until the node runs no job; fail after ``timeout_s`` (the node stays
    drained and nothing is installed)."""
    quoted = shlex.quote(node)
    late = shlex.quote(
        f"{node} still runs jobs after {timeout_s}s: left drained, no package changed"
    )
    return (
        f"deadline=$(( $(date +%s) + {int(timeout_s)} )); "
        f'while [ -n "$(squeue -h -w {quoted} -o %i)" ]; do '
        f'if [ "$(date +%s)" -ge "$deadline" ]; then echo {late} >&2; exit 1; fi; '
        f"sleep {POLL_S}; done"
    )


def needs_drain(node: SlurmNode | None) -> bool:
    """Drain before the change unless slurmctld does not know the node (a new worker) or
    it is drained already (by anyone: an admin's reason is kept)."""
    return node is not None and not node.drained


def resumes_after_change(node: SlurmNode | None) -> bool:
    """Only the drain a manifest change set is lifted after it."""
    return node is not None and node.drained and (node.reason or "").startswith(SWITCH_REASON)
