"""Pure parser for ``scontrol show node -o``: what slurmctld thinks of each node.

One line per node of ``Key=Value`` pairs separated by spaces. Two values may themselves hold
spaces: ``OS=`` (the kernel's version string) and ``Reason=`` (free text, always last, ending
in `` [user@time]``). A key is a word at the start of the line or after a space, followed by
``=``; nothing else in a value looks like that in Slurm 22.05 to 24.11.

Decisions worth knowing:

* ``State=`` is a base state (``IDLE``, ``ALLOCATED``, ``MIXED``, ``DOWN``, ``UNKNOWN``, ...)
  plus ``+FLAG`` parts (``DRAIN``, ``INVALID_REG``, ``NOT_RESPONDING``, ...). A trailing
  ``*`` on the base (sinfo's and some scontrol versions' way of saying not responding) is
  read as the ``NOT_RESPONDING`` flag.
* The reason's ``[user@time]`` says who set it: slurmctld sets its own drains as the
  SlurmUser; an admin's drain names the admin. Drains this project sets start with
  ``snakepit:`` (``DEPLOY_REASON_PREFIX``).
* ``Gres=`` is kept per GRES type (``gpu:nvidia_titan_xp:2(S:0-1)`` -> ``{"gpu:nvidia_titan_xp":
  2}``); ``(null)`` is no GRES.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from snakepit.parsers.text import split_lines

# Drain reasons the deploys set themselves start with this; no other drain is ever resumed.
DEPLOY_REASON_PREFIX = "snakepit:"
# The fact prints this before scontrol's exit status, so a failed scontrol never fails a host.
EXIT_MARKER = "@@snakepit-scontrol-exit="

_KEY = re.compile(r"(?:^|(?<= ))([A-Z][A-Za-z_]*)=")
_REASON_BY = re.compile(r"^(?P<text>.*?)\s*\[(?P<user>[^@\]\s]+)@(?P<time>[^\]]+)\]$")


@dataclass(frozen=True)
class SlurmNode:
    """One node as slurmctld sees it."""

    name: str
    state: str  # the base state: IDLE, ALLOCATED, MIXED, DOWN, UNKNOWN, FUTURE, ...
    flags: frozenset[str]  # DRAIN, INVALID_REG, NOT_RESPONDING, COMPLETING, ...
    cpus: int | None
    boards: int | None
    sockets_per_board: int | None
    cores_per_socket: int | None
    threads_per_core: int | None
    real_memory: int | None
    gres: Mapping[str, int]  # "gpu:nvidia_titan_xp" -> 2 (as configured in slurm.conf)
    reason: str | None  # the text only, without "[user@time]"
    reason_user: str | None
    reason_time: str | None
    fields: Mapping[str, str] = field(repr=False, default_factory=dict)

    @property
    def not_responding(self) -> bool:
        return "NOT_RESPONDING" in self.flags

    @property
    def drained(self) -> bool:
        """Drain set (draining with jobs, drained without)."""
        return "DRAIN" in self.flags

    @property
    def invalid_registration(self) -> bool:
        return "INVALID_REG" in self.flags

    @property
    def down(self) -> bool:
        return self.state == "DOWN"

    @property
    def drained_by_deploy(self) -> bool:
        return self.drained and (self.reason or "").startswith(DEPLOY_REASON_PREFIX)

    def drained_by(self, slurm_user: str) -> bool:
        """Drained by slurmctld itself (its reason carries the SlurmUser's name)."""
        return self.drained and self.reason_user == slurm_user

    @property
    def state_text(self) -> str:
        return "+".join([self.state, *sorted(self.flags)])


@dataclass(frozen=True)
class SlurmNodeTable:
    """Every node slurmctld knows, or why it could not be asked (``error``)."""

    nodes: Mapping[str, SlurmNode]
    error: str | None = None

    def get(self, name: str) -> SlurmNode | None:
        return self.nodes.get(name)


def split_fields(line: str) -> dict[str, str]:
    """``Key=Value`` pairs of one ``-o`` line (values may hold spaces)."""
    line = line.strip()
    keys = list(_KEY.finditer(line))
    fields: dict[str, str] = {}
    for match, following in zip(keys, [*keys[1:], None], strict=True):
        end = following.start() if following is not None else len(line)
        fields[match.group(1)] = line[match.end() : end].strip()
    return fields


def parse_state(text: str) -> tuple[str, frozenset[str]]:
    """``IDLE+DRAIN+INVALID_REG`` -> ("IDLE", {"DRAIN", "INVALID_REG"}); ``DOWN*`` ->
    ("DOWN", {"NOT_RESPONDING"})."""
    base, *flags = text.split("+")
    found = set(flags)
    for mark, flag in (("*", "NOT_RESPONDING"), ("~", "POWERED_DOWN"), ("#", "POWERING_UP")):
        if base.endswith(mark):
            base = base[: -len(mark)]
            found.add(flag)
    return base.upper(), frozenset(f.upper() for f in found if f)


def parse_gres(text: str) -> dict[str, int]:
    """``gpu:nvidia_titan_xp:2(S:0),gpu:b:1`` -> {"gpu:nvidia_titan_xp": 2, "gpu:b": 1}."""
    gres: dict[str, int] = {}
    if not text or text == "(null)":
        return gres
    # Commas also appear inside "(S:0,1)"; split only outside parentheses.
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    for part in parts:
        words = part.split("(", 1)[0].strip().split(":")
        count = int(words.pop()) if len(words) > 1 and words[-1].isdigit() else 1
        if not all(words):
            raise ValueError(f"unreadable Gres entry {part!r}")
        name = ":".join(words)
        gres[name] = gres.get(name, 0) + count
    return gres


def _int(fields: Mapping[str, str], key: str) -> int | None:
    value = fields.get(key, "")
    return int(value) if value.isdigit() else None


def parse_node_line(line: str) -> SlurmNode:
    fields = split_fields(line)
    if "NodeName" not in fields:
        raise ValueError(f"not a node line: {line[:80]!r}")
    state, flags = parse_state(fields.get("State", "UNKNOWN"))
    reason = fields.get("Reason") or None
    reason_user = reason_time = None
    if reason:
        match = _REASON_BY.match(reason)
        if match:
            reason, reason_user, reason_time = (
                match.group("text"),
                match.group("user"),
                match.group("time"),
            )
    # 22.05 prints Sockets= (per board); older and newer ones may say SocketsPerBoard=.
    sockets = _int(fields, "SocketsPerBoard") or _int(fields, "Sockets")
    return SlurmNode(
        name=fields["NodeName"],
        state=state,
        flags=flags,
        cpus=_int(fields, "CPUTot"),
        boards=_int(fields, "Boards"),
        sockets_per_board=sockets,
        cores_per_socket=_int(fields, "CoresPerSocket"),
        threads_per_core=_int(fields, "ThreadsPerCore"),
        real_memory=_int(fields, "RealMemory"),
        gres=parse_gres(fields.get("Gres", "")),
        reason=reason,
        reason_user=reason_user,
        reason_time=reason_time,
        fields=fields,
    )


def parse_show_nodes(output: str | Iterable[str]) -> SlurmNodeTable:
    """The fact's output: ``scontrol show node -o`` lines, then ``EXIT_MARKER<status>``.

    A non-zero status (slurmctld down, scontrol missing) gives no nodes and the error text
    scontrol printed; "No nodes in the system" is an empty table, not an error.
    """
    nodes: dict[str, SlurmNode] = {}
    other: list[str] = []
    status = 0
    for line in split_lines(output):
        if line.startswith(EXIT_MARKER):
            value = line[len(EXIT_MARKER) :].strip()
            status = int(value) if value.isdigit() else 1
        elif line.startswith("NodeName="):
            node = parse_node_line(line)
            nodes[node.name] = node
        elif line.strip():
            other.append(line.strip())
    if status != 0:
        message = "; ".join(other) or f"scontrol exited {status}"
        return SlurmNodeTable(nodes={}, error=message)
    return SlurmNodeTable(nodes=nodes)
