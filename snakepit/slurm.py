"""Slurm's configuration as pure functions: node lines from facts, the hardware-truth check,
rendering, and what a change means for the daemons (nothing, reconfigure, or restart)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import jinja2

from snakepit.model import Cluster, NodeSpec
from snakepit.parsers.hardware import Hardware
from snakepit.parsers.nvidia_smi import NvidiaSmiReport
from snakepit.slurm_settings import VERSIONS

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def gres_type(product_name: str) -> str:
    """The GRES type Slurm's NVML plugin gives a GPU model: nvidia-smi's product name with
    ASCII letters in lower case and each space as ``_``; nothing else changes ('-' stays).

    Slurm's ``gpu_common_underscorify_tolower`` (src/plugins/gpu/common/gpu_common.c, the
    same in 22.05 and later): "NVIDIA TITAN Xp" -> "nvidia_titan_xp",
    "NVIDIA A100-SXM4-80GB" -> "nvidia_a100-sxm4-80gb".
    """
    return "".join(
        "_" if ch == " " else ch.lower() if "A" <= ch <= "Z" else ch for ch in product_name
    )


@dataclass(frozen=True)
class DetectedNode:
    """What the facts say about one worker."""

    hardware: Hardware
    nvidia: NvidiaSmiReport
    gpu_devices: tuple[str, ...]  # character devices matching the node's device glob

    @property
    def driver_answers(self) -> bool:
        return self.nvidia.state == "ok"

    @property
    def no_driver_yet(self) -> bool:
        """Nothing of a driver: nvidia-smi absent or finding no kernel module, and no GPU
        device file (a node that just arrived, or whose driver is being installed)."""
        return self.nvidia.state in ("not-installed", "no-driver") and not self.gpu_devices

    @property
    def gpu_count(self) -> int:
        if self.driver_answers:
            return self.nvidia.gpu_count
        return len(self.gpu_devices)

    @property
    def gpus(self) -> tuple[tuple[str | None, str], ...]:
        """(GRES type, device file) per GPU in nvidia-smi's index order. The device file
        follows the minor number, as Slurm's NVML plugin does (it need not follow the
        index); without a driver: the device files found, of no known type."""
        if self.driver_answers:
            return tuple(
                (gres_type(gpu.name), f"/dev/nvidia{gpu.index if gpu.minor is None else gpu.minor}")
                for gpu in self.nvidia.gpus
            )
        return tuple((None, path) for path in self.gpu_devices)


@dataclass(frozen=True)
class Gres:
    """One GPU model of a node: its GRES type, how many, and their device files."""

    type: str
    count: int
    files: str  # compressed: /dev/nvidia[0-3]

    @property
    def spec(self) -> str:
        return f"gpu:{self.type}:{self.count}"


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
    gres: tuple[Gres, ...]  # one per GPU model; empty without GPUs
    # Where the values came from (FROM_FACTS, FROM_RECORD, FROM_DECLARED); not part of the line.
    source: str = field(default="facts", compare=False)

    @property
    def gpus(self) -> int:
        return sum(g.count for g in self.gres)

    @property
    def line(self) -> str:
        text = (
            f"NodeName={self.name} CPUs={self.cpus} Boards={self.boards} "
            f"SocketsPerBoard={self.sockets_per_board} CoresPerSocket={self.cores_per_socket} "
            f"ThreadsPerCore={self.threads_per_core} RealMemory={self.real_memory}"
        )
        if self.gres:
            text += " Gres=" + ",".join(g.spec for g in self.gres)
        return text + " State=UNKNOWN"


# Where a node line comes from: the node's own facts (it is in this run), the head's record of
# the node table it last applied (the node is outside --limit or unreachable), or, for a node
# the head never applied, its data's declarations alone.
FROM_FACTS = "facts"
FROM_RECORD = "the head's record"
FROM_DECLARED = "declared data"


class PlanProblems(ValueError):
    """Problems found while planning node lines: a heading, then one line per problem."""

    heading = ""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__(self.heading + ":\n" + "\n".join(f"  {p}" for p in problems))


class HardwareMismatch(PlanProblems):
    """Nodes would declare more (or other) than their hardware has; one line per problem."""

    heading = (
        "node declarations exceed or contradict detected hardware (slurmctld would drain them)"
    )


def _model_problem(spec: NodeSpec, detected: DetectedNode) -> str | None:
    """A node whose driver reports a GPU model its partition does not declare, naming both."""
    found = {gres_type(gpu.name): gpu.name for gpu in detected.nvidia.gpus}
    foreign = {t: name for t, name in found.items() if t not in spec.gpu_types}
    if not detected.driver_answers or not foreign:
        return None
    models = ", ".join(f"{t} ({name!r})" for t, name in foreign.items())
    return (
        f"{spec.host}: nvidia-smi found GPU model {models} but partition {spec.partition} "
        f"declares gpu_type {', '.join(spec.gpu_types)} (slurm_partitions' gpu_type)"
    )


def _gres(spec: NodeSpec, gpus: Sequence[tuple[str | None, str]]) -> tuple[Gres, ...]:
    """One entry per GPU model, in the partition's order; untyped GPUs (no driver) are
    taken to be its first model."""
    files: dict[str, list[str]] = {}
    for found, path in gpus:
        files.setdefault(found or spec.gpu_types[0], []).append(path)
    order = {t: i for i, t in enumerate(spec.gpu_types)}
    return tuple(
        Gres(t, len(paths), compress_devices(paths))
        for t, paths in sorted(files.items(), key=lambda item: order.get(item[0], len(order)))
    )


def awaits_driver(spec: NodeSpec, detected: DetectedNode, driver_coming: bool) -> bool:
    """A node with no driver yet that this run gives one (its CUDA manifest brings the
    driver): its GPUs are planned from its data and checked once the driver is in
    (operations.nvidia.gpus_detected). Without a driver coming, or with a driver that
    answers, fewer GPUs than declared are GPUs missing."""
    return driver_coming and bool(spec.gpu_count) and detected.no_driver_yet


def plan_node(
    spec: NodeSpec, detected: DetectedNode, reserve_mib: int, driver_coming: bool = False
) -> tuple[NodeLine, list[str]]:
    """The node's slurm.conf line (declared values win, facts fill the rest) and problems.

    ``driver_coming``: this run installs the node's driver; a node without one yet is then
    planned with the declared GPUs at /dev/nvidia0..N-1, where the driver will make them."""
    if awaits_driver(spec, detected, driver_coming):
        expected = tuple(f"/dev/nvidia{minor}" for minor in range(spec.gpu_count or 0))
        detected = replace(detected, gpu_devices=expected)
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
                if key == "gpus" and detected.driver_answers
                else "device files"
                if key == "gpus"
                else f"facts ({hw.source})"
            )
            problems.append(
                f"{spec.host}: declares {key}={declared} but {how} found {found} "
                f"(node.{key} in the data of partition {spec.partition})"
            )
        values[key] = found if declared is None else declared
    model_problem = _model_problem(spec, detected)
    if model_problem:
        problems.append(model_problem)
    boards = max(hw.boards, 1)
    sockets = values["sockets"]
    line = NodeLine(
        name=spec.host,
        partition=spec.partition,
        cpus=values["cpus"],
        boards=boards,
        sockets_per_board=max(sockets // boards, 1),
        cores_per_socket=values["cores_per_socket"],
        threads_per_core=values["threads_per_core"],
        real_memory=max(hw.real_memory_mib - reserve_mib, 1),
        gres=_gres(spec, detected.gpus[: values["gpus"]]),
    )
    return line, problems


class MemoryMismatch(PlanProblems):
    """A partition's DefMemPerCPU would ask more than a node has; one line per node."""

    heading = (
        "DefMemPerCPU x CPUs exceeds RealMemory (a job without --mem on the whole node could "
        "never run)"
    )


def declared_line(spec: NodeSpec) -> NodeLine:
    """The line of a node never seen (no facts, not in the head's record): what its data
    declares, and the least Slurm accepts for the rest (1 CPU, RealMemory=1), so that the
    node, once it registers with more, is never drained for reporting less than its line."""
    sockets = spec.sockets or 1
    threads = spec.threads_per_core or 1
    cores = spec.cores_per_socket or max((spec.cpus or 1) // (sockets * threads), 1)
    gpus = spec.gpu_count or 0
    return NodeLine(
        name=spec.host,
        partition=spec.partition,
        cpus=spec.cpus or sockets * cores * threads,
        boards=1,
        sockets_per_board=sockets,
        cores_per_socket=cores,
        threads_per_core=threads,
        real_memory=1,
        gres=_gres(spec, [(None, f"/dev/nvidia{i}") for i in range(gpus)]),
        source=FROM_DECLARED,
    )


def plan_nodes(
    cluster: Cluster,
    detected: Mapping[str, DetectedNode],
    recorded: Mapping[str, NodeLine] | None = None,
    drivers_coming: Collection[str] = (),
) -> list[NodeLine]:
    """Every worker's node line: from its facts where it is in this run (``detected``),
    else from the head's record of what it last applied (``recorded``), else from its
    declarations (`declared_line`). Raises HardwareMismatch listing every overclaim of a
    detected node, then MemoryMismatch listing every detected node whose partition's
    DefMemPerCPU does not fit (the other lines were checked when they were detected).
    ``drivers_coming``: the workers this run installs a GPU driver on (see plan_node)."""
    recorded = recorded or {}
    lines, problems = [], []
    for spec in cluster.nodes:
        if spec.host in detected:
            line, node_problems = plan_node(
                spec,
                detected[spec.host],
                cluster.slurm.memory_reserve_mib,
                driver_coming=spec.host in drivers_coming,
            )
            problems += node_problems
        elif spec.host in recorded:
            line = replace(recorded[spec.host], partition=spec.partition, source=FROM_RECORD)
        else:
            line = declared_line(spec)
        lines.append(line)
    if problems:
        raise HardwareMismatch(problems)
    checked = [line for line in lines if line.source == FROM_FACTS]
    too_big = memory_per_cpu_problems(cluster, checked, "DefMemPerCPU")
    if too_big:
        raise MemoryMismatch(too_big)
    return lines


# -- the head's record of the node table it applied -----------------------------------------

NODE_TABLE_RECORD = "/var/lib/snakepit/node-table.json"


def node_table_record(lines: Sequence[NodeLine]) -> str:
    """The JSON the head keeps of the node lines slurmctld took (written only after the
    cluster was verified). Lines that only repeat declarations are left out: they were never
    seen, and the next run should say so again."""
    nodes = {
        line.name: {k: v for k, v in asdict(line).items() if k not in ("name", "source")}
        for line in lines
        if line.source != FROM_DECLARED
    }
    return json.dumps({"version": 1, "nodes": nodes}, indent=1, sort_keys=True) + "\n"


def parse_node_table_record(text: str | None) -> dict[str, NodeLine]:
    """The node lines of the head's record; an absent or unreadable record is empty (every
    node outside the run then falls back to its declarations)."""
    try:
        data = json.loads(text or "{}")
        return {
            name: NodeLine(
                name=name,
                partition=str(values["partition"]),
                cpus=int(values["cpus"]),
                boards=int(values["boards"]),
                sockets_per_board=int(values["sockets_per_board"]),
                cores_per_socket=int(values["cores_per_socket"]),
                threads_per_core=int(values["threads_per_core"]),
                real_memory=int(values["real_memory"]),
                gres=tuple(
                    Gres(str(g["type"]), int(g["count"]), str(g["files"])) for g in values["gres"]
                ),
                source=FROM_RECORD,
            )
            for name, values in data.get("nodes", {}).items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def line_sources(lines: Sequence[NodeLine]) -> str:
    """Where the node lines came from, for the preview: ``from facts: worker1; from the
    head's record: worker2``."""
    by_source: dict[str, list[str]] = {}
    for line in lines:
        by_source.setdefault(line.source, []).append(line.name)
    return "; ".join(f"from {source}: {', '.join(names)}" for source, names in by_source.items())


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
    pid_file = VERSIONS[cluster.slurm.version].slurmdbd_pid_file
    return render("slurmdbd.conf.j2", slurm=cluster.slurm, password=password, pid_file=pid_file)


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


def restart_fingerprint(
    slurm_conf: str, *extra: str, restart_keys: frozenset[str], node_lines: bool = False
) -> str:
    """Digest of what only a daemon restart applies: the settings the Slurm version reads
    only at start (``SlurmSettings.restart_keys``) and the set of nodes, plus any ``extra``
    text (a worker adds its own node and gres lines).

    ``node_lines``: each node's whole line too. Slurm 22.05's ``scontrol reconfigure``
    refuses a node's new Gres count ("Attempt to change gres/gpu Count on node ... invalid
    with File configuration": the node ends IDLE+DRAIN+INVALID_REG) and keeps the CPUs and
    topology slurmd registered with; slurmctld takes them only when it starts, and the
    node's slurmd only when it starts (its own line is in its restart fingerprint)."""
    settings, nodes, _ = parse_conf(slurm_conf)
    material = [f"{k}={settings[k]}" for k in sorted(restart_keys & settings.keys())]
    material.append("nodes=" + ",".join(sorted(nodes)))
    if node_lines:
        material += [nodes[name] for name in sorted(nodes)]
    material += extra
    return hashlib.sha256("\n".join(material).encode()).hexdigest()


def full_fingerprint(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()
