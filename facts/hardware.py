"""pyinfra fact about a node's CPU topology and memory, in slurm.conf's terms."""

from __future__ import annotations

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from snakepit.parsers.hardware import SECTION_PREFIX, parse_hardware_output
from snakepit.parsers.hardware import Hardware as HardwareInfo

# slurmd -C asks NVML for GPUs (AutoDetect), which can hang on a lost GPU; a hung fact
# would stall the whole pyinfra run.
SLURMD_TIMEOUT_S = 60


class Hardware(FactBase[HardwareInfo]):
    """
    Returns the node's CPUs, topology and memory as slurm.conf needs them, as a
    ``snakepit.parsers.hardware.Hardware``:

    .. code:: python

        Hardware(cpus=48, boards=1, sockets=2, cores_per_socket=12,
                 threads_per_core=2, real_memory_mib=257843, source="slurmd")

    ``slurmd -C`` is asked first because slurmd checks the node against exactly what it
    prints; before Slurm is installed ``lscpu`` answers, then ``/proc/cpuinfo``
    (``source`` says which did). The command prints every available source under an
    ``@@name`` line and always exits 0, since pyinfra fails a host whose fact command
    does not; hence no ``requires_command`` either. Plain POSIX ``sh``; ``timeout`` is
    used when present. Only the cpuinfo and meminfo lines the parser reads are sent.
    """

    def command(self) -> str:
        mark = SECTION_PREFIX
        slurmd = "slurmd -C 2>/dev/null"
        return (
            "if command -v slurmd >/dev/null 2>&1; then "
            f"echo '{mark}slurmd'; "
            "if command -v timeout >/dev/null 2>&1; "
            f"then timeout {SLURMD_TIMEOUT_S} {slurmd}; else {slurmd}; fi; fi; "
            "if command -v lscpu >/dev/null 2>&1; then "
            f"echo '{mark}lscpu'; LC_ALL=C lscpu 2>/dev/null; fi; "
            f"echo '{mark}cpuinfo'; "
            "grep -E '^(processor|physical id|siblings|core id|cpu cores)[[:space:]]*:' "
            "/proc/cpuinfo 2>/dev/null; "
            f"echo '{mark}meminfo'; grep '^MemTotal:' /proc/meminfo 2>/dev/null; "
            "true"
        )

    def process(self, output: list[str]) -> HardwareInfo:
        try:
            return parse_hardware_output(output)
        except ValueError as error:
            raise FactProcessError(str(error)) from error
