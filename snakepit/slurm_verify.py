"""Did the cluster take the configuration? Pure checks of ``scontrol show node`` against the
planned node lines, run after every daemon action and before its record is written.

A refused change leaves signs: ``scontrol reconfigure`` that slurmctld refused for a node
keeps the old CPUs or Gres in its table; a slurmd that registered what its line does not
describe is ``INVALID_REG`` and drained by slurmctld; a slurmd that died is not responding.
Any of these fails the host with slurmctld's own reason, so the record is not written and the
next run tries again.

Drains: an admin's drain (any reason not set by slurmctld) and the deploys' own
(``snakepit:``) are left alone. A drain slurmctld set because a registration did not match
its line (``Low RealMemory``, ``gres/gpu count reported lower than configured``, ...) is
resumed once the node registers exactly as planned: the deploy fixed what it complained of.
slurmctld signs such a drain as the SlurmUser, and as root once it has been reconfigured or
restarted since (seen on 22.05), so the reason's wording, not only its signer, tells it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from snakepit.parsers.slurm_nodes import SlurmNode, SlurmNodeTable
from snakepit.slurm import NodeLine

# Reasons slurmctld (22.05 .. 24.11, src/slurmctld/node_mgr.c and gres.c) gives when a
# node's registration does not match its slurm.conf line; only these drains are resumed.
REGISTRATION_REASONS = re.compile(
    r"^(Low (CPUs|RealMemory|TmpDisk|socket\*core count|socket\*core\*thread count)"
    r"|gres/\S+ count (reported lower|too low)"
    r"|.*invalid with File configuration"
    r"|Node configuration differs from hardware"
    r"|.*GRES.*doesn't match)",
)


@dataclass(frozen=True)
class Verdict:
    problems: tuple[str, ...]  # one line per node: what is wrong, in slurmctld's words
    resume: tuple[str, ...]  # nodes to resume: drained by slurmctld for a fixed mismatch

    @property
    def ok(self) -> bool:
        return not self.problems


def planned_gres(line: NodeLine) -> dict[str, int]:
    return {f"gpu:{g.type}": g.count for g in line.gres}


def _config_problems(node: SlurmNode, line: NodeLine) -> list[str]:
    """The node's line as slurmctld holds it, against the plan (a refused reconfigure)."""
    problems = []
    if node.cpus is not None and node.cpus != line.cpus:
        problems.append(f"CPUs={node.cpus}, planned {line.cpus}")
    if node.gres != planned_gres(line):
        have = ",".join(f"{k}:{v}" for k, v in sorted(node.gres.items())) or "none"
        want = ",".join(g.spec for g in line.gres) or "none"
        problems.append(f"Gres={have}, planned {want}")
    return problems


def check_nodes(
    table: SlurmNodeTable,
    lines: Sequence[NodeLine],
    slurm_user: str,
    registered: bool,
) -> Verdict:
    """Compare slurmctld's view of ``lines``' nodes with the plan.

    ``registered``: also require each node's slurmd to have registered as planned (after a
    slurmd start); without it only slurmctld's configuration is checked (after slurmctld's
    own restart or reconfigure, before the workers' slurmd restarted).
    """
    if table.error is not None:
        return Verdict((f"slurmctld does not answer: {table.error}",), ())
    problems: list[str] = []
    resume: list[str] = []
    for line in lines:
        node = table.get(line.name)
        if node is None:
            problems.append(f"{line.name}: slurmctld does not know this node")
            continue
        wrong = _config_problems(node, line)
        reason = f" ({node.reason})" if node.reason else ""
        if registered:
            if node.invalid_registration:
                wrong.append(f"invalid registration{reason}")
            elif node.not_responding or node.down or node.state in ("UNKNOWN", "FUTURE"):
                wrong.append(f"state {node.state_text}{reason}")
            elif node.drained and REGISTRATION_REASONS.match(node.reason or ""):
                if wrong:
                    wrong.append(f"drained by slurmctld{reason}")
                else:
                    resume.append(line.name)
            elif node.drained and node.reason_user == slurm_user:
                wrong.append(f"drained by slurmctld{reason}")
        if wrong:
            problems.append(f"{line.name}: {'; '.join(wrong)} [{node.state_text}]")
    return Verdict(tuple(problems), tuple(resume))
