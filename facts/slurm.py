"""pyinfra facts about the running Slurm cluster, as slurmctld sees it."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from snakepit.parsers.slurm_nodes import EXIT_MARKER, SlurmNodeTable, parse_show_nodes

# slurmctld answers in milliseconds; a hung one must not stall the whole run.
SCONTROL_TIMEOUT_S = 30


class SlurmNodes(FactBase[SlurmNodeTable]):
    """
    Returns every node slurmctld knows (or only ``nodes``, a Slurm hostlist such as
    ``worker[1-2]``), as a ``snakepit.parsers.slurm_nodes.SlurmNodeTable``:

    .. code:: python

        SlurmNodeTable(nodes={"worker1": SlurmNode(name="worker1", state="IDLE",
            flags=frozenset({"DRAIN", "INVALID_REG"}), cpus=2, gres={"gpu:nvidia_titan_xp": 2},
            reason="gres/gpu count reported lower than configured (1 < 2)",
            reason_user="slurm", ...)}, error=None)

    Reads ``scontrol show node -o``. The command never exits non-zero, since pyinfra fails
    a host whose fact command does: scontrol's status travels in a marker line, and when
    slurmctld does not answer (or scontrol is missing) the table is empty with ``error``
    set to what scontrol said. Plain POSIX ``sh``; ``timeout`` is used when present.
    """

    def command(self, nodes: str | None = None) -> str:
        run = "scontrol show node -o" + (f" {shlex.quote(nodes)}" if nodes else "") + " 2>&1"
        return (
            "if command -v timeout >/dev/null 2>&1; "
            f"then timeout {SCONTROL_TIMEOUT_S} {run}; else {run}; fi; "
            f'printf "\\n{EXIT_MARKER}%s\\n" "$?"'
        )

    def process(self, output: list[str]) -> SlurmNodeTable:
        return parse_show_nodes(output)
