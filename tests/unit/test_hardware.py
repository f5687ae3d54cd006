"""Tests for snakepit.parsers.hardware and the Hardware fact."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from pyinfra.api.exceptions import FactProcessError

from facts.hardware import Hardware as HardwareFact
from snakepit.parsers.hardware import (
    Hardware,
    parse_cpuinfo,
    parse_hardware_output,
    parse_lscpu,
    parse_meminfo,
    parse_slurmd_c,
    split_sections,
)

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"
SH = "/bin/sh"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


MEMINFO = sample("meminfo-kvm-24g.txt")
THIS_VM = {"cpus": 2, "boards": 1, "sockets": 1, "cores_per_socket": 2, "threads_per_core": 1}


def topology(hw: Hardware) -> tuple[int, ...]:
    return (hw.cpus, hw.boards, hw.sockets, hw.cores_per_socket, hw.threads_per_core)


# --- single sources -----------------------------------------------------------------------


def test_meminfo():
    assert parse_meminfo(MEMINFO) == 24684096 // 1024 == 24105
    assert parse_meminfo(["MemTotal:        1048575 kB"]) == 1023  # rounded down
    with pytest.raises(ValueError):
        parse_meminfo("MemFree: 1 kB\n")
    with pytest.raises(ValueError):
        parse_meminfo("MemTotal: 12 MB\n")


@pytest.mark.parametrize(
    ("name", "expected", "sockets_per_board"),
    [
        ("slurmd-C-mlc0.txt", (48, 1, 2, 12, 2, 257843), 2),
        ("slurmd-C-gres.txt", (32, 1, 1, 16, 2, 128723), 1),
        # Boards * SocketsPerBoard sockets in all.
        ("slurmd-C-clustername-2boards.txt", (64, 2, 2, 16, 2, 515896), 1),
    ],
)
def test_slurmd_c(name, expected, sockets_per_board):
    hw = parse_slurmd_c(sample(name))
    assert (*topology(hw), hw.real_memory_mib) == expected
    assert hw.source == "slurmd"
    assert hw.sockets_per_board == sockets_per_board


def test_slurmd_c_extra_lines_and_failures():
    text = sample("slurmd-C-gres.txt").replace("UpTime", "AutoDetect=nvml\nUpTime")
    assert parse_slurmd_c(text).cpus == 32
    with pytest.raises(ValueError, match="RealMemory"):
        parse_slurmd_c(
            "NodeName=x CPUs=4 Boards=1 SocketsPerBoard=1 CoresPerSocket=4 ThreadsPerCore=1\n"
        )
    with pytest.raises(ValueError):
        parse_slurmd_c("slurmd: error: Couldn't find the specified plugin name\n")


def test_lscpu_real():
    hw = parse_lscpu(sample("lscpu-kvm-epyc-2cpu.txt"), MEMINFO)
    assert hw == Hardware(**THIS_VM, real_memory_mib=24105, source="lscpu")


def test_lscpu_two_sockets_hyperthreaded():
    text = (
        "Architecture:                    x86_64\n"
        "CPU(s):                          48\n"
        "On-line CPU(s) list:             0-47\n"
        "Thread(s) per core:              2\n"
        "Core(s) per socket:              12\n"
        "Socket(s):                       2\n"
        "NUMA node0 CPU(s):               0-11,24-35\n"
    )
    hw = parse_lscpu(text, "MemTotal:       264031888 kB\n")
    assert topology(hw) == (48, 1, 2, 12, 2)
    assert hw.real_memory_mib == 257843


def test_lscpu_arm_without_sockets():
    text = (
        "Architecture:           aarch64\n"
        "CPU(s):                 16\n"
        "Vendor ID:              ARM\n"
        "Model name:             Neoverse-N1\n"
        "Thread(s) per core:     1\n"
        "Core(s) per cluster:    16\n"
        "Socket(s):              -\n"
        "Cluster(s):             1\n"
    )
    assert topology(parse_lscpu(text, MEMINFO)) == (16, 1, 1, 16, 1)
    with pytest.raises(ValueError):
        parse_lscpu("Architecture: x86_64\n", MEMINFO)


def test_cpuinfo_real():
    hw = parse_cpuinfo(sample("cpuinfo-kvm-epyc-2cpu.txt"), MEMINFO)
    assert hw == Hardware(**THIS_VM, real_memory_mib=24105, source="cpuinfo")


def test_cpuinfo_two_sockets_hyperthreaded():
    blocks = [
        f"processor\t: {n}\nphysical id\t: {n // 12 % 2}\nsiblings\t: 24\n"
        f"core id\t\t: {n % 12}\ncpu cores\t: 12\n"
        for n in range(48)
    ]
    hw = parse_cpuinfo("\n".join(blocks), MEMINFO)
    assert topology(hw) == (48, 1, 2, 12, 2)


def test_cpuinfo_without_topology_is_flat():
    arm = "".join(
        f"processor\t: {n}\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU architecture: 8\n\n"
        for n in range(4)
    )
    assert topology(parse_cpuinfo(arm, MEMINFO)) == (4, 1, 1, 4, 1)
    # A cpuset-limited view: 2 processors shown of a 2x12x2 machine. Numbers that do
    # not multiply up are not trusted.
    partial = "".join(
        f"processor\t: {n}\nphysical id\t: 0\nsiblings\t: 24\ncpu cores\t: 12\n\n" for n in (0, 1)
    )
    assert topology(parse_cpuinfo(partial, MEMINFO)) == (2, 1, 1, 2, 1)
    with pytest.raises(ValueError):
        parse_cpuinfo("vendor_id\t: GenuineIntel\n", MEMINFO)


def test_hardware_validation_and_json():
    with pytest.raises(ValueError, match="cpus"):
        Hardware(0, 1, 1, 1, 1, 1024, "lscpu")
    with pytest.raises(ValueError, match="real_memory_mib"):
        Hardware(1, 1, 1, 1, 1, 0, "lscpu")
    hw = parse_slurmd_c(sample("slurmd-C-mlc0.txt"))
    assert json.loads(json.dumps(hw.to_json())) == {
        "cpus": 48,
        "boards": 1,
        "sockets": 2,
        "cores_per_socket": 12,
        "threads_per_core": 2,
        "real_memory_mib": 257843,
        "source": "slurmd",
    }


# --- the fact's sectioned output ----------------------------------------------------------


def fact_output(*sections: tuple[str, str]) -> list[str]:
    lines = []
    for name, text in sections:
        lines.append(f"@@{name}")
        lines.extend(text.splitlines())
    return lines


LSCPU = ("lscpu", sample("lscpu-kvm-epyc-2cpu.txt"))
CPUINFO = ("cpuinfo", sample("cpuinfo-kvm-epyc-2cpu.txt"))
MEM = ("meminfo", MEMINFO)


def test_hardware_output_real_capture():
    lines = sample("hardware-fact-kvm-epyc-2cpu.txt").splitlines()
    assert list(split_sections(lines)) == ["lscpu", "cpuinfo", "meminfo"]
    assert split_sections(lines)["meminfo"] == ["MemTotal:       24684096 kB"]
    hw = parse_hardware_output(lines)
    assert hw == Hardware(**THIS_VM, real_memory_mib=24105, source="lscpu")


def test_hardware_output_preference_order():
    slurmd = ("slurmd", sample("slurmd-C-mlc0.txt"))
    assert parse_hardware_output(fact_output(slurmd, LSCPU, CPUINFO, MEM)).source == "slurmd"
    # slurmd installed but `slurmd -C` printed nothing (no config, timed out).
    empty_slurmd = ("slurmd", "")
    assert parse_hardware_output(fact_output(empty_slurmd, LSCPU, CPUINFO, MEM)).source == "lscpu"
    assert parse_hardware_output(fact_output(CPUINFO, MEM)).source == "cpuinfo"
    broken_lscpu = ("lscpu", "lscpu: failed to determine number of CPUs\n")
    assert parse_hardware_output(fact_output(broken_lscpu, CPUINFO, MEM)).source == "cpuinfo"
    # slurmd carries its own memory; the others need meminfo.
    assert parse_hardware_output(fact_output(slurmd)).real_memory_mib == 257843
    with pytest.raises(ValueError, match="lscpu: no MemTotal"):
        parse_hardware_output(fact_output(LSCPU))
    with pytest.raises(ValueError, match="no sections"):
        parse_hardware_output(["junk before any marker"])


def test_hardware_fact_process():
    fact = HardwareFact()
    lines = fact_output(("slurmd", sample("slurmd-C-gres.txt")), CPUINFO, MEM)
    assert topology(fact.process(lines)) == (32, 1, 1, 16, 2)
    with pytest.raises(FactProcessError):
        fact.process(["@@cpuinfo", "@@meminfo"])


# --- the fact's command, run by a real POSIX sh ----------------------------------------------

needs_linux = pytest.mark.skipif(
    not (Path(SH).exists() and Path("/proc/cpuinfo").exists()), reason="needs /bin/sh and /proc"
)


def run_fact_command(path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "LC_ALL": "C"}
    return subprocess.run(
        [SH, "-c", HardwareFact().command()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_linux
def test_command_on_this_machine():
    result = run_fact_command(os.environ.get("PATH", "/usr/bin:/bin"))
    assert result.returncode == 0
    hw = parse_hardware_output(result.stdout.splitlines())
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    assert hw.cpus == sum(1 for line in cpuinfo if line.startswith("processor"))
    assert hw.real_memory_mib == parse_meminfo(Path("/proc/meminfo").read_text())


@needs_linux
def test_command_prefers_slurmd_and_survives_its_failure(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder, body in ((good, f"cat '{SAMPLES / 'slurmd-C-mlc0.txt'}'"), (bad, "exit 1")):
        folder.mkdir()
        script = folder / "slurmd"
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    system_path = os.environ.get("PATH", "/usr/bin:/bin")

    result = run_fact_command(f"{good}:{system_path}")
    assert result.returncode == 0
    assert parse_hardware_output(result.stdout.splitlines()).real_memory_mib == 257843

    result = run_fact_command(f"{bad}:{system_path}")
    assert result.returncode == 0
    assert parse_hardware_output(result.stdout.splitlines()).source in ("lscpu", "cpuinfo")


@needs_linux
def test_command_never_fails_even_with_no_tools(tmp_path):
    # No slurmd, lscpu, grep or timeout on PATH: markers only, and still exit 0.
    result = run_fact_command(str(tmp_path))
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["@@cpuinfo", "@@meminfo"]
