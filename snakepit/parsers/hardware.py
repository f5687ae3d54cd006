"""Pure parsers for a node's CPU topology and memory, in Slurm's terms.

slurm.conf must describe every node exactly as slurmd finds it (CPUs, Boards,
SocketsPerBoard, CoresPerSocket, ThreadsPerCore, RealMemory), or slurmctld drains the
node. ``slurmd -C`` is the authority, so it is preferred; before Slurm is installed,
``lscpu`` (then ``/proc/cpuinfo``) plus ``/proc/meminfo`` give the same numbers. No I/O
and no pyinfra here, so every branch can be tested against captured real output.

Decisions worth knowing:

* ``sockets`` is the total over all boards (``Boards * SocketsPerBoard``); lscpu and
  cpuinfo know no boards, so they say ``boards=1`` as slurmd does on PCs.
* ``real_memory_mib`` is MemTotal in MiB, rounded down, which is what slurmd reports.
  Configure RealMemory a little lower than this: kernel updates move MemTotal.
* lscpu's numbers are taken as printed, even when CPUs is not sockets*cores*threads
  (offline CPUs); only /proc/cpuinfo, which has no topology on many VMs and ARM boards,
  falls back to "1 socket, one core per CPU, 1 thread".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from snakepit.parsers.text import split_lines

# The Hardware fact command prints "@@<name>" above each tool's output; nothing those
# tools print starts with "@@".
SECTION_PREFIX = "@@"
SECTIONS = ("slurmd", "lscpu", "cpuinfo", "meminfo")

_SLURMD_KEYS = (
    "CPUs",
    "Boards",
    "SocketsPerBoard",
    "CoresPerSocket",
    "ThreadsPerCore",
    "RealMemory",
)


@dataclass(frozen=True)
class Hardware:
    """A node's topology and memory, in the units slurm.conf's node lines use."""

    cpus: int
    boards: int
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    real_memory_mib: int
    source: str  # "slurmd", "lscpu" or "cpuinfo": how much to trust the numbers

    def __post_init__(self) -> None:
        # A zero would make a slurm.conf line that drains the node; fail at the source.
        for name in ("cpus", "boards", "sockets", "cores_per_socket", "threads_per_core"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.real_memory_mib < 1:
            raise ValueError(f"real_memory_mib must be positive, got {self.real_memory_mib}")

    @property
    def sockets_per_board(self) -> int:
        return self.sockets // self.boards

    def to_json(self) -> dict[str, int | str]:
        return asdict(self)


def _colon_fields(text: str | Iterable[str]) -> list[tuple[str, str]]:
    # "Key:   value" (lscpu, meminfo) and "key\t: value" (cpuinfo), in order, repeats kept.
    fields = []
    for line in split_lines(text):
        key, sep, value = line.partition(":")
        if sep:
            fields.append((key.strip(), value.strip()))
    return fields


def _int(value: str | None) -> int | None:
    # lscpu prints "-" for what it does not know (Socket(s) on many ARM boards).
    return int(value) if value is not None and value.isdigit() else None


def parse_meminfo(text: str | Iterable[str]) -> int:
    """MemTotal of ``/proc/meminfo`` in MiB, rounded down."""
    for key, value in _colon_fields(text):
        if key == "MemTotal":
            amount, _, unit = value.partition(" ")
            if unit.strip() != "kB" or not amount.isdigit():
                raise ValueError(f"unexpected MemTotal value {value!r}")
            return int(amount) // 1024
    raise ValueError("no MemTotal line in meminfo")


def parse_slurmd_c(text: str | Iterable[str]) -> Hardware:
    """Parse ``slurmd -C``: ``NodeName=... CPUs=... RealMemory=...`` then ``UpTime=...``.

    Read as ``Key=Value`` words wherever they are, so the ``ClusterName=`` prefix of old
    Slurm, the ``Gres=`` suffix and ``AutoDetect=`` line of new Slurm do not matter.
    """
    values: dict[str, str] = {}
    for line in split_lines(text):
        for word in line.split():
            key, sep, value = word.partition("=")
            if sep:
                values.setdefault(key, value)
    numbers: dict[str, int] = {}
    for key in _SLURMD_KEYS:
        number = _int(values.get(key))
        if number is not None:
            numbers[key] = number
    missing = [key for key in _SLURMD_KEYS if key not in numbers]
    if missing:
        raise ValueError(f"slurmd -C output lacks {', '.join(missing)}")
    return Hardware(
        cpus=numbers["CPUs"],
        boards=numbers["Boards"],
        sockets=numbers["Boards"] * numbers["SocketsPerBoard"],
        cores_per_socket=numbers["CoresPerSocket"],
        threads_per_core=numbers["ThreadsPerCore"],
        real_memory_mib=numbers["RealMemory"],
        source="slurmd",
    )


def parse_lscpu(text: str | Iterable[str], meminfo_text: str | Iterable[str]) -> Hardware:
    """Parse ``LC_ALL=C lscpu`` (other locales translate the keys) plus meminfo."""
    fields = dict(_colon_fields(text))
    cpus = _int(fields.get("CPU(s)"))
    if cpus is None:
        raise ValueError("lscpu output has no CPU(s) line")
    threads = _int(fields.get("Thread(s) per core")) or 1
    sockets = _int(fields.get("Socket(s)")) or 1
    # ARM boards without socket information count cores per cluster instead.
    cores = (
        _int(fields.get("Core(s) per socket"))
        or _int(fields.get("Core(s) per cluster"))
        or max(cpus // (sockets * threads), 1)
    )
    return Hardware(
        cpus=cpus,
        boards=1,
        sockets=sockets,
        cores_per_socket=cores,
        threads_per_core=threads,
        real_memory_mib=parse_meminfo(meminfo_text),
        source="lscpu",
    )


def parse_cpuinfo(text: str | Iterable[str], meminfo_text: str | Iterable[str]) -> Hardware:
    """Parse ``/proc/cpuinfo`` plus meminfo, for hosts without lscpu.

    Sockets are the distinct ``physical id`` values, cores per socket ``cpu cores``,
    threads ``siblings / cpu cores``. When any is missing (containers, many VMs, ARM)
    or they do not multiply up to the processor count, the topology is unknown and
    reported flat: 1 socket, one core per CPU, 1 thread; CPUs stay right either way.
    """
    fields = _colon_fields(text)
    cpus = sum(1 for key, value in fields if key == "processor" and value.isdigit())
    if cpus == 0:
        raise ValueError("no processor lines in cpuinfo")
    physical_ids = {value for key, value in fields if key == "physical id"}
    first = dict(reversed(fields))  # first value of each key
    cores = _int(first.get("cpu cores"))
    siblings = _int(first.get("siblings"))
    sockets, cores_per_socket, threads = 1, cpus, 1
    if cores and siblings and siblings % cores == 0:
        topology = (len(physical_ids), cores, siblings // cores)
        if topology[0] * topology[1] * topology[2] == cpus:
            sockets, cores_per_socket, threads = topology
    return Hardware(
        cpus=cpus,
        boards=1,
        sockets=sockets,
        cores_per_socket=cores_per_socket,
        threads_per_core=threads,
        real_memory_mib=parse_meminfo(meminfo_text),
        source="cpuinfo",
    )


def split_sections(lines: str | Iterable[str]) -> dict[str, list[str]]:
    """Split the Hardware fact output at its ``@@name`` lines (text before the first is
    dropped; a repeated section is appended to)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in split_lines(lines):
        if line.startswith(SECTION_PREFIX):
            current = sections.setdefault(line[len(SECTION_PREFIX) :].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def parse_hardware_output(lines: str | Iterable[str]) -> Hardware:
    """Parse the Hardware fact's sectioned output: slurmd if it answered, else lscpu,
    else /proc/cpuinfo. A source that is missing or unparsable is skipped, since the
    next one answers the same question; ValueError only when none does.
    """
    sections = split_sections(lines)
    meminfo = sections.get("meminfo", [])
    attempts = (
        ("slurmd", parse_slurmd_c),
        ("lscpu", lambda text: parse_lscpu(text, meminfo)),
        ("cpuinfo", lambda text: parse_cpuinfo(text, meminfo)),
    )
    errors = []
    for name, parse in attempts:
        if name not in sections:
            continue
        try:
            return parse(sections[name])
        except ValueError as error:
            errors.append(f"{name}: {error}")
    raise ValueError("no usable hardware information: " + ("; ".join(errors) or "no sections"))
