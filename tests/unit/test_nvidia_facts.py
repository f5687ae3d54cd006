"""The CSV and MIG-list facts read real captured nvidia-smi outputs through their process()."""

from __future__ import annotations

from pathlib import Path

import pytest

from facts.nvidia import INVENTORY_FIELDS, NvidiaGpuQuery, NvidiaMigDevices
from snakepit.parsers.nvidia_smi import Gpu

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia-smi"


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


def test_gpu_query_command_is_checked():
    assert NvidiaGpuQuery().command() == (f"nvidia-smi --query-gpu={INVENTORY_FIELDS} --format=csv")
    with pytest.raises(ValueError, match="query fields"):
        NvidiaGpuQuery().command(fields="index;reboot")


def test_gpu_query_with_inventory_fields_gives_gpus():
    output = [
        "index, name, uuid, pci.bus_id, memory.total [MiB], mig.mode.current",
        "0, NVIDIA H100 80GB HBM3, GPU-1, 00000000:19:00.0, 81559 MiB, Enabled",
    ]
    assert NvidiaGpuQuery().process(output) == (
        Gpu(0, "NVIDIA H100 80GB HBM3", "GPU-1", "00000000:19:00.0", 81559, "Enabled"),
    )


def test_gpu_query_with_other_fields_gives_rows():
    rows = NvidiaGpuQuery().process(lines("csv-power-draw-index-lms-series.csv"))
    assert rows and all("power.draw" in row for row in rows)


def test_mig_devices_from_a_real_list():
    migs = NvidiaMigDevices().process(lines("list-h200-mig-driver-590.48.01.txt"))
    assert migs and all(m.profile and m.uuid for m in migs)
    assert NvidiaMigDevices().process(lines("list-tesla-k80-x1.txt")) == ()
