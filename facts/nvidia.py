"""pyinfra facts about NVIDIA GPUs."""

from __future__ import annotations

import re

from pyinfra.api import FactBase

from snakepit.parsers.nvidia_smi import (
    EXIT_MARKER,
    NO_KERNEL_DRIVER_MARKER,
    NOT_INSTALLED_MARKER,
    Gpu,
    MigDevice,
    NvidiaSmiReport,
    gpus_from_csv,
    parse_csv,
    parse_mig_list,
    parse_output,
)

# How long nvidia-smi may take before timeout(1) kills it: with a lost GPU it can hang
# for minutes, and a hung fact would stall the whole pyinfra run.
NVIDIA_SMI_TIMEOUT_S = 120


class NvidiaSmi(FactBase[NvidiaSmiReport]):
    """
    Returns the GPU health and inventory that ``nvidia-smi -q -x`` reports, as a
    ``snakepit.parsers.nvidia_smi.NvidiaSmiReport``:

    .. code:: python

        NvidiaSmiReport(
            state="ok",  # or not-installed, no-driver, driver-mismatch, no-devices,
                         # gpu-lost, error
            gpus=(Gpu(index=0, name="NVIDIA GeForce RTX 2080 Ti", uuid="GPU-...",
                      pci_bus_id="00000000:01:00.0", memory_total_mib=11264,
                      mig_mode=None),),
            driver_version="550.144.03",
            cuda_version="12.4",
            message=None,
            source="xml",
        )

    The command never exits non-zero, since pyinfra fails a host whose fact command
    does: nvidia-smi's exit status travels in a marker line instead, and a host without
    nvidia-smi gives ``state="not-installed"`` rather than pyinfra's silent ``None``
    (hence no ``requires_command``). Plain POSIX ``sh``; ``timeout`` is used when present.
    """

    def command(self) -> str:
        run = "nvidia-smi -q -x 2>&1"
        return (
            f'[ -e /proc/driver/nvidia/version ] || echo "{NO_KERNEL_DRIVER_MARKER}"; '
            "if command -v nvidia-smi >/dev/null 2>&1; then "
            "if command -v timeout >/dev/null 2>&1; "
            f"then timeout {NVIDIA_SMI_TIMEOUT_S} {run}; else {run}; fi; "
            f'printf "\\n{EXIT_MARKER}%s\\n" "$?"; '
            f'else echo "{EXIT_MARKER}127"; echo "{NOT_INSTALLED_MARKER}"; fi'
        )

    @staticmethod
    def default() -> NvidiaSmiReport:
        # Only used when the command printed nothing at all (it always prints a marker),
        # i.e. the connection or shell failed before nvidia-smi could run.
        return NvidiaSmiReport(state="error", message="no output from the fact command")

    def process(self, output: list[str]) -> NvidiaSmiReport:
        return parse_output(output)


class NvidiaDeviceFiles(FactBase[tuple[str, ...]]):
    """
    Returns the GPU character devices matching a glob, e.g. ``("/dev/nvidia0",
    "/dev/nvidia1")``. Counts GPUs where no working driver answers nvidia-smi (a host whose
    driver is being replaced, or the sandbox's fake GPUs), and names gres.conf's ``File=``.
    """

    def command(self, glob: str = "/dev/nvidia[0-9]*") -> str:
        # The glob must expand, so it cannot be quoted: allow only a plain /dev pattern.
        if not re.match(r"^/dev/[A-Za-z0-9_*?\[\]-]+$", glob):
            raise ValueError(f"not a plain /dev glob: {glob!r}")
        return f'for f in {glob}; do [ -c "$f" ] && echo "$f"; done; true'

    @staticmethod
    def default() -> tuple[str, ...]:
        return ()

    def process(self, output: list[str]) -> tuple[str, ...]:
        paths = [line.strip() for line in output if line.strip().startswith("/dev/")]
        return tuple(sorted(paths, key=lambda p: (len(p), p)))


INVENTORY_FIELDS = "index,name,uuid,pci.bus_id,memory.total,mig.mode.current"


class NvidiaGpuQuery(FactBase[tuple[Gpu, ...] | list[dict[str, str | None]]]):
    """
    Returns ``nvidia-smi --query-gpu=<fields> --format=csv`` as rows, one dict per GPU with
    units stripped and "[N/A]"/"[Not Supported]" as None; with the default fields, the GPU
    inventory as ``Gpu`` tuples instead (a lighter read than `NvidiaSmi`'s XML):

    .. code:: sh

        pyinfra INVENTORY fact facts.nvidia.NvidiaGpuQuery
        pyinfra INVENTORY fact facts.nvidia.NvidiaGpuQuery fields=index,utilization.gpu
    """

    def command(self, fields: str = INVENTORY_FIELDS) -> str:
        if not re.fullmatch(r"[a-z0-9_.]+(,[a-z0-9_.]+)*", fields):
            raise ValueError(f"not a list of nvidia-smi query fields: {fields!r}")
        return f"nvidia-smi --query-gpu={fields} --format=csv"

    def requires_command(self, fields: str = INVENTORY_FIELDS) -> str:
        return "nvidia-smi"

    def process(self, output: list[str]) -> tuple[Gpu, ...] | list[dict[str, str | None]]:
        rows = parse_csv("\n".join(output))
        header = [key.strip() for key in output[0].split(",")] if output else []
        if ",".join(key.split(" [")[0] for key in header) == INVENTORY_FIELDS:
            return gpus_from_csv(rows)
        return rows


class NvidiaMigDevices(FactBase[tuple[MigDevice, ...]]):
    """
    Returns the MIG devices ``nvidia-smi -L`` lists, each with its parent GPU's index
    (empty where MIG is off): what a MIG-partitioned node could offer Slurm.
    """

    def command(self) -> str:
        return "nvidia-smi -L"

    def requires_command(self) -> str:
        return "nvidia-smi"

    def process(self, output: list[str]) -> tuple[MigDevice, ...]:
        return parse_mig_list("\n".join(output))
