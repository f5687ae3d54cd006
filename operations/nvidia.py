"""
Bring a freshly installed (or changed) NVIDIA driver into service, then check that the
node's GPUs answer as its node line says.

Installing the packages is not enough: the kernel module must be loaded, and a module
that is already loaded in another version (``driver-mismatch``) can only be replaced by a
reboot. Both operations read their facts when the deploy runs, after the packages before
them were installed; while planning they only say so.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import File
from pyinfra.operations import server

from facts.nvidia import NvidiaDeviceFiles, NvidiaSmi
from snakepit.parsers.nvidia_smi import NvidiaSmiReport
from snakepit.slurm import gres_type

# Debian's and Ubuntu's packages ask for a reboot here (update-notifier's convention).
REBOOT_REQUIRED = "/run/reboot-required"
DEFAULT_GLOB = "/dev/nvidia[0-9]*"


def _fail(message: str) -> StringCommand:
    # Fail this host alone, with the message as its output: an exception raised while
    # executing would stop every host of the run.
    return StringCommand(f"echo {shlex.quote(message)} >&2; exit 1")


def _describe(report: NvidiaSmiReport) -> str:
    text = f"nvidia-smi: {report.state}"
    if report.message:
        text += f" ({report.message.strip().splitlines()[0]})"
    return text


@operation()
def driver_loaded(gpus: int, device_glob: str = DEFAULT_GLOB, reboot_timeout: int = 900):
    """
    Make the installed NVIDIA driver answer: load its kernel module (``nvidia-modprobe``,
    which also makes ``/dev/nvidia<minor>`` for each GPU) when nvidia-smi finds no driver,
    or reboot and wait for the host (pyinfra's ``server.reboot``) when the running module
    is another version than the installed one (``driver-mismatch``) or the packages asked
    for a reboot (``/run/reboot-required``). Nothing when the driver answers with all the
    device files.

    + gpus: how many GPUs the node has (their device files are made for minors 0..gpus-1)
    + device_glob: the GPUs' character devices (the node's ``gpu_device_glob``)
    + reboot_timeout: seconds to wait for the host to come back from a reboot

    **Example:**

    .. code:: python

        nvidia.driver_loaded(name="The NVIDIA driver is loaded", gpus=8)
    """
    if not host.state.is_executing:
        host.noop("the driver is checked (loaded, or the host rebooted) when the deploy runs")
        return
    report = host.get_fact(NvidiaSmi)
    devices = host.get_fact(NvidiaDeviceFiles, glob=device_glob)
    if report.state == "ok" and len(devices) >= gpus:
        host.noop(f"the NVIDIA driver answers ({report.gpu_count} GPUs)")
        return
    if report.state == "not-installed":
        yield _fail(
            f"{host.name}: nvidia-smi is not installed, so no NVIDIA driver is: the node's "
            "CUDA manifest brings none"
        )
        return
    if report.state == "driver-mismatch" or host.get_fact(File, path=REBOOT_REQUIRED):
        yield from server.reboot._inner(delay=10, reboot_timeout=reboot_timeout)
        return
    if report.state in ("no-driver", "ok"):
        for minor in range(gpus):
            yield StringCommand(f"nvidia-modprobe -c {minor:d}")
        return
    host.noop(f"not a driver that is missing: {_describe(report)}")


@operation()
def gpus_detected(gpus: int, gpu_types: Sequence[str], device_glob: str = DEFAULT_GLOB):
    """
    Check (read-only) that the driver answers with at least ``gpus`` GPUs, each of a
    model the node's partition declares, and their device files; fail the host with one
    line otherwise. Runs when the deploy executes, after the driver was installed and
    loaded, so slurmd never starts with a ``gres.conf`` naming GPUs that are not there.

    + gpus: the node line's GPU count
    + gpu_types: the GRES types its partition declares
    + device_glob: the GPUs' character devices

    **Example:**

    .. code:: python

        nvidia.gpus_detected(name="Check the GPUs", gpus=2, gpu_types=["nvidia_titan_xp"])
    """
    if not host.state.is_executing:
        host.noop(f"{gpus} GPUs are checked when the deploy runs")
        return
    report = host.get_fact(NvidiaSmi)
    devices = host.get_fact(NvidiaDeviceFiles, glob=device_glob)
    found = report.gpu_count if report.state == "ok" else 0
    foreign = sorted({gres_type(gpu.name) for gpu in report.gpus} - set(gpu_types))
    if found >= gpus and len(devices) >= gpus and not foreign:
        host.noop(f"{found} GPUs answer ({', '.join(sorted(set(gpu_types)))})")
        return
    if foreign:
        problem = f"nvidia-smi found GPU model {', '.join(foreign)}, not {', '.join(gpu_types)}"
    else:
        problem = (
            f"{found} of {gpus} GPUs answer ({_describe(report)}), {len(devices)} device files"
        )
    yield _fail(f"{host.name}: after the driver install {problem} (slurmd left as it was)")
