"""pyinfra facts about the running Slurm cluster, as slurmctld sees it."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from snakepit.parsers.slurm_nodes import EXIT_MARKER, SlurmNodeTable, parse_show_nodes
from snakepit.slurm import NODE_TABLE_RECORD, NodeLine, parse_node_table_record

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

    # slurmctld's view moves on its own (a node registers, a job ends): never from a batch.
    snakepit_live = True

    def command(self, nodes: str | None = None) -> str:
        run = "scontrol show node -o" + (f" {shlex.quote(nodes)}" if nodes else "") + " 2>&1"
        return (
            "if command -v timeout >/dev/null 2>&1; "
            f"then timeout {SCONTROL_TIMEOUT_S} {run}; else {run}; fi; "
            f'printf "\\n{EXIT_MARKER}%s\\n" "$?"'
        )

    def process(self, output: list[str]) -> SlurmNodeTable:
        return parse_show_nodes(output)


class AppliedNodeTable(FactBase[dict]):
    """
    Returns the node lines the head last applied (``snakepit.slurm.NODE_TABLE_RECORD``), by
    node name, as ``snakepit.slurm.NodeLine``; empty when there is no (readable) record.

    The lines of workers outside the run, or unreachable, are taken from here instead of
    connecting to them.
    """

    def command(self) -> str:
        return f"cat {NODE_TABLE_RECORD} 2>/dev/null || true"

    @staticmethod
    def default() -> dict[str, NodeLine]:
        return {}  # no record yet (pyinfra gives a fact that printed nothing its default)

    def process(self, output: list[str]) -> dict[str, NodeLine]:
        return parse_node_table_record("\n".join(output))
