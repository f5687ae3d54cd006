"""A worker's GPU health and its Slurm state: when the deploy drains it, when it resumes it.

After the GPU stack is in place, ``nvidia-smi`` saying ``driver-mismatch`` (the libraries
changed under a loaded module), ``gpu-lost`` or ``error`` means jobs landing there fail, so
the node is drained with that state as the reason. When a later run finds it healthy, the
drain is lifted, but only a drain this module set (its reason starts ``snakepit: gpu``): a
drain an admin or slurmctld set is never resumed, nor overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from snakepit.cuda.rollout import drain_command, resume_command
from snakepit.parsers.slurm_nodes import DEPLOY_REASON_PREFIX, SlurmNode

UNHEALTHY = ("driver-mismatch", "gpu-lost", "error")
# States that say nothing about a GPU stack in place: no nvidia-smi, no kernel module (a
# container, or a host before its reboot); they neither drain nor resume.
NO_VERDICT = ("not-installed", "no-driver")
GPU_REASON = f"{DEPLOY_REASON_PREFIX} gpu "


@dataclass(frozen=True)
class HealthAction:
    verb: str  # "drain" or "resume"
    node: str
    reason: str

    def command(self) -> str:
        if self.verb == "drain":
            return drain_command(self.node, self.reason)
        return resume_command(self.node)

    def describe(self) -> str:
        if self.verb == "drain":
            return f"drain {self.node}: {self.reason}"
        return f"resume {self.node} (was: {self.reason})"


def health_action(smi_state: str, node: SlurmNode | None) -> HealthAction | None:
    """What to do with a node given its nvidia-smi state; None: nothing (already right,
    unknown to slurmctld, no verdict, or drained by someone else)."""
    if node is None or smi_state in NO_VERDICT:
        return None
    ours = node.drained and (node.reason or "").startswith(GPU_REASON)
    if smi_state in UNHEALTHY:
        reason = f"{GPU_REASON}{smi_state}"
        if node.drained and (node.reason == reason or not ours):
            return None  # already so, or an admin's drain (their reason stays)
        return HealthAction("drain", node.name, reason)
    if ours:
        return HealthAction("resume", node.name, node.reason or "")
    return None
