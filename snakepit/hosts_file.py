"""/etc/hosts with a marked block of the cluster's hosts; every other line stays as it is."""

from __future__ import annotations

from collections.abc import Sequence

BEGIN = "# BEGIN snakepit-pyinfra: the cluster's hosts (managed; edits are overwritten)"
END = "# END snakepit-pyinfra"


def with_hosts_block(lines: Sequence[str], entries: Sequence[tuple[str, str]]) -> list[str]:
    """``lines`` (the file, without newlines) with the block replaced, or appended when absent.

    ``entries`` are (address, name) pairs; an empty list still writes the (empty) block, so
    a host that left the cluster leaves the file too.
    """
    block = [BEGIN, *(f"{address} {name}" for address, name in entries), END]
    lines = list(lines)
    if BEGIN in lines and END in lines[lines.index(BEGIN) :]:
        start = lines.index(BEGIN)
        end = lines.index(END, start)
        return lines[:start] + block + lines[end + 1 :]
    while lines and not lines[-1].strip():
        lines.pop()
    return [*lines, *block]
