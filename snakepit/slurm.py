"""Slurm's configuration as pure functions: node lines from facts, the hardware-truth check,
rendering, and what a change means for the daemons (nothing, reconfigure, or restart)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from snakepit.model import Cluster, NodeSpec
from snakepit.parsers.hardware import Hardware
from snakepit.parsers.nvidia_smi import NvidiaSmiReport

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@dataclass(frozen=True)
class DetectedNode:
    """What the facts say about one worker."""

    hardware: Hardware
    nvidia: NvidiaSmiReport
    gpu_devices: tuple[str, ...]  # character devices matching the node's device glob

    @property
    def gpu_count(self) -> int:
        if self.nvidia.state == "ok":
            return self.nvidia.gpu_count
        return len(self.gpu_devices)

    @property
    def gpu_files(self) -> tuple[str, ...]:
        if self.nvidia.state == "ok":
            return tuple(f"/dev/nvidia{gpu.index}" for gpu in self.nvidia.gpus)
        return self.gpu_devices


@dataclass(frozen=True)
class NodeLine:
    name: str
    partition: str
    cpus: int
    boards: int
    sockets_per_board: int
    cores_per_socket: int
    threads_per_core: int
    real_memory: int
    gpu_type: str
    gpus: int
    gpu_files: str

    @property
    def line(self) -> str:
        text = (
            f"NodeName={self.name} CPUs={self.cpus} Boards={self.boards} "
            f"SocketsPerBoard={self.sockets_per_board} CoresPerSocket={self.cores_per_socket} "
            f"ThreadsPerCore={self.threads_per_core} RealMemory={self.real_memory}"
        )
        if self.gpus:
            text += f" Gres=gpu:{self.gpu_type}:{self.gpus}"
        return text + " State=UNKNOWN"


class HardwareMismatch(ValueError):
    """Nodes would declare more than their hardware has; one line per problem."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__(
            "node declarations exceed detected hardware (slurmctld would drain them):\n"
            + "\n".join(f"  {p}" for p in problems)
        )


def plan_node(
    spec: NodeSpec, detected: DetectedNode, reserve_mib: int
) -> tuple[NodeLine, list[str]]:
    """The node's slurm.conf line (declared values win, facts fill the rest) and problems."""
    hw = detected.hardware
    problems = []
    wanted = {
        "cpus": (spec.cpus, hw.cpus),
        "sockets": (spec.sockets, hw.sockets),
        "cores_per_socket": (spec.cores_per_socket, hw.cores_per_socket),
        "threads_per_core": (spec.threads_per_core, hw.threads_per_core),
        "gpus": (spec.gpu_count, detected.gpu_count),
    }
    values = {}
    for key, (declared, found) in wanted.items():
        if declared is not None and declared > found:
            how = (
                f"nvidia-smi ({detected.nvidia.state})"
                if key == "gpus" and detected.nvidia.state == "ok"
                else "device files"
                if key == "gpus"
                else f"facts ({hw.source})"
            )
            problems.append(
                f"{spec.host}: declares {key}={declared} but {how} found {found} "
                f"(node.{key} in the data of partition {spec.partition})"
            )
        values[key] = found if declared is None else declared
    boards = max(hw.boards, 1)
    sockets = values["sockets"]
    gpu_files = detected.gpu_files[: values["gpus"]]
    line = NodeLine(
        name=spec.host,
        partition=spec.partition,
        cpus=values["cpus"],
        boards=boards,
        sockets_per_board=max(sockets // boards, 1),
        cores_per_socket=values["cores_per_socket"],
        threads_per_core=values["threads_per_core"],
        real_memory=max(hw.real_memory_mib - reserve_mib, 1),
        gpu_type=spec.gpu_type,
        gpus=values["gpus"],
        gpu_files=compress_devices(gpu_files),
    )
    return line, problems


class MemoryMismatch(ValueError):
    """A partition's DefMemPerCPU would ask more than a node has; one line per node."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__(
            "DefMemPerCPU x CPUs exceeds RealMemory (a job without --mem on the whole node "
            "could never run):\n" + "\n".join(f"  {p}" for p in problems)
        )


def plan_nodes(cluster: Cluster, detected: Mapping[str, DetectedNode]) -> list[NodeLine]:
    """Every worker's node line; raises HardwareMismatch listing every overclaim, then
    MemoryMismatch listing every node whose partition's DefMemPerCPU does not fit."""
    lines, problems = [], []
    for spec in cluster.nodes:
        line, node_problems = plan_node(spec, detected[spec.host], cluster.slurm.memory_reserve_mib)
        lines.append(line)
        problems += node_problems
    if problems:
        raise HardwareMismatch(problems)
    too_big = memory_per_cpu_problems(cluster, lines, "DefMemPerCPU")
    if too_big:
        raise MemoryMismatch(too_big)
    return lines


def memory_per_cpu(cluster: Cluster, partition: str, key: str) -> int | None:
    """The partition's DefMemPerCPU or MaxMemPerCPU (MiB): its own, else slurm.conf's."""
    config = next(p.config for p in cluster.partitions if p.name == partition)
    value = config.get(key, cluster.slurm.conf.get(key))
    return None if value is None or not str(value).isdigit() else int(value)


def memory_per_cpu_problems(cluster: Cluster, lines: Sequence[NodeLine], key: str) -> list[str]:
    """One line per node where ``key`` (DefMemPerCPU or MaxMemPerCPU) x CPUs > RealMemory."""
    problems = []
    for line in lines:
        per_cpu = memory_per_cpu(cluster, line.partition, key)
        if per_cpu is not None and per_cpu * line.cpus > line.real_memory:
            problems.append(
                f"{line.name} (partition {line.partition}): {key}={per_cpu} x "
                f"CPUs={line.cpus} = {per_cpu * line.cpus} MiB > RealMemory={line.real_memory}"
            )
    return problems


def compress_devices(paths: Sequence[str]) -> str:
    """/dev/nvidia0,/dev/nvidia1 -> /dev/nvidia[0-1] (Slurm's hostlist-style syntax)."""
    if not paths:
        return ""
    numbered = [re.match(r"^(.*?)(\d+)$", p) for p in paths]
    if all(numbered) and len({m.group(1) for m in numbered}) == 1:
        prefix = numbered[0].group(1)
        numbers = sorted(int(m.group(2)) for m in numbered)
        if len(numbers) == 1:
            return f"{prefix}{numbers[0]}"
        ranges, start, previous = [], numbers[0], numbers[0]
        for number in [*numbers[1:], None]:
            if number is not None and number == previous + 1:
                previous = number
                continue
            ranges.append(f"{start}-{previous}" if previous != start else f"{start}")
            if number is not None:
                start = previous = number
        return f"{prefix}[{','.join(ranges)}]"
    return ",".join(paths)


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - configuration files, not HTML
)


def render(template: str, **context) -> str:
    return _env.get_template(template).render(**context)


def render_slurm_conf(cluster: Cluster, nodes: Sequence[NodeLine]) -> str:
    partitions = [
        {
            "name": p.name,
            "nodes": ",".join(n.name for n in nodes if n.partition == p.name),
            "default": p.default,
            "max_time": p.max_time,
            "config": sorted((key, str(value)) for key, value in p.config.items()),
        }
        for p in cluster.partitions
        if any(n.partition == p.name for n in nodes)
    ]
    return render(
        "slurm.conf.j2", cluster=cluster, slurm=cluster.slurm, nodes=nodes, partitions=partitions
    )


def render_gres_conf(nodes: Sequence[NodeLine]) -> str:
    return render("gres.conf.j2", nodes=nodes)


def render_cgroup_conf() -> str:
    return render("cgroup.conf.j2")


def render_slurmdbd_conf(cluster: Cluster, password: str) -> str:
    return render("slurmdbd.conf.j2", slurm=cluster.slurm, password=password)


# -- what a change means ---------------------------------------------------------------------


def parse_conf(text: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(global settings, node lines by name, partition lines by name) of a slurm.conf."""
    settings: dict[str, str] = {}
    nodes: dict[str, str] = {}
    partitions: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if key == "NodeName":
            nodes[value.split()[0]] = line
        elif key == "PartitionName":
            partitions[value.split()[0]] = line
        else:
            settings[key] = value
    return settings, nodes, partitions


def restart_fingerprint(slurm_conf: str, *extra: str, restart_keys: frozenset[str]) -> str:
    """Digest of what only a daemon restart applies: the settings the Slurm version reads
    only at start (``SlurmSettings.restart_keys``) and the set of nodes, plus any ``extra``
    text (a worker adds its own node and gres lines)."""
    settings, nodes, _ = parse_conf(slurm_conf)
    material = [f"{k}={settings[k]}" for k in sorted(restart_keys & settings.keys())]
    material.append("nodes=" + ",".join(sorted(nodes)))
    material += extra
    return hashlib.sha256("\n".join(material).encode()).hexdigest()


def full_fingerprint(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()
