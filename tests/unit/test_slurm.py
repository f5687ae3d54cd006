"""Tests for snakepit.slurm: node lines from facts, rendering, and daemon actions."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from snakepit.model import Cluster, NodeSpec, PartitionSpec
from snakepit.parsers.hardware import Hardware, parse_slurmd_c
from snakepit.parsers.nvidia_smi import (
    Gpu,
    NvidiaSmiReport,
    gpus_from_csv,
    parse_csv,
    parse_list,
    parse_output,
    parse_table,
    parse_xml,
)
from snakepit.records import applied_record, daemon_action
from snakepit.schema import validate
from snakepit.slurm import (
    DetectedNode,
    Gres,
    HardwareMismatch,
    MemoryMismatch,
    NodeLine,
    awaits_driver,
    compress_devices,
    full_fingerprint,
    gres_type,
    memory_per_cpu_problems,
    parse_conf,
    plan_node,
    plan_nodes,
    render_cgroup_conf,
    render_gres_conf,
    render_slurm_conf,
    render_slurmdbd_conf,
)
from snakepit.slurm import restart_fingerprint as slurm_restart_fingerprint
from snakepit.slurm_settings import VERSIONS
from tests.unit.production_data import group_data, production_cluster

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
PASSWORD = "db-Pa55word-for-tests"
KEYS_22_05 = VERSIONS["22.05"].restart_keys


def restart_fingerprint(*texts: str) -> str:
    return slurm_restart_fingerprint(*texts, restart_keys=KEYS_22_05)


def hardware(cpus=48, sockets=2, cores=12, threads=2, memory=257843, boards=1) -> Hardware:
    return Hardware(cpus, boards, sockets, cores, threads, memory, "slurmd")


# nvidia-smi's product names of the cluster's models (and one more), by their GRES types.
PRODUCTS = {
    gres_type(name): name
    for name in (
        "NVIDIA TITAN Xp",
        "NVIDIA GeForce RTX 2080 Ti",
        "Quadro RTX 6000",
        "NVIDIA H100 80GB HBM3",
    )
}


def gpus(count: int, name: str = "NVIDIA TITAN Xp") -> NvidiaSmiReport:
    return NvidiaSmiReport(
        state="ok",
        gpus=tuple(Gpu(i, name, None, None, 12288, None) for i in range(count)),
        source="table",
    )


def fixture(name: str) -> NvidiaSmiReport:
    return parse_output((FIXTURES / "nvidia-smi" / name).read_text())


NO_DRIVER = NvidiaSmiReport(state="no-driver", message="couldn't communicate", source="error")


def device_files(*numbers: int) -> tuple[str, ...]:
    return tuple(f"/dev/nvidia{n}" for n in numbers)


def spec(**declared: Any) -> NodeSpec:
    declared.setdefault("gpu_types", ("nvidia_titan_xp",))
    return NodeSpec(host="mlc0", partition="txp", **declared)


def detected(hw: Hardware | None = None, nvidia=None, devices=()) -> DetectedNode:
    return DetectedNode(hw or hardware(), nvidia or gpus(8), tuple(devices))


# --- plan_node --------------------------------------------------------------------------------


def test_real_facts_of_mlc0_with_production_declaration():
    cluster = production_cluster()
    hw = parse_slurmd_c((FIXTURES / "samples" / "slurmd-C-mlc0.txt").read_text())
    table = (FIXTURES / "nvidia-smi" / "table-gtx1080ti-x8-driver-390.25.txt").read_text()
    report = parse_table(table)
    # The capture is of a GTX 1080 Ti host; mlc0's GPUs are TITAN Xps.
    titans = tuple(dataclasses.replace(gpu, name="NVIDIA TITAN Xp") for gpu in report.gpus)
    found = DetectedNode(hw, dataclasses.replace(report, gpus=titans), device_files(*range(8)))
    line, problems = plan_node(cluster.node("mlc0"), found, cluster.slurm.memory_reserve_mib)
    assert problems == []
    assert line.line == (
        "NodeName=mlc0 CPUs=48 Boards=1 SocketsPerBoard=2 CoresPerSocket=12 ThreadsPerCore=2 "
        "RealMemory=255795 Gres=gpu:nvidia_titan_xp:8 State=UNKNOWN"
    )
    assert line.real_memory == 257843 - 2048
    assert line.gres == (Gres("nvidia_titan_xp", 8, "/dev/nvidia[0-7]"),)


def test_facts_fill_what_is_not_declared():
    hw = hardware(cpus=40, sockets=2, cores=10, threads=2, memory=64000)
    line, problems = plan_node(spec(), detected(hw, gpus(4)), reserve_mib=1000)
    assert problems == []
    assert (line.cpus, line.sockets_per_board, line.cores_per_socket) == (40, 2, 10)
    assert (line.threads_per_core, line.gpus, line.real_memory) == (2, 4, 63000)
    assert line.gres == (Gres("nvidia_titan_xp", 4, "/dev/nvidia[0-3]"),)


def test_declared_values_win_when_not_more_than_detected():
    # Declaring less than is there (hyper-threading off, two GPUs kept back) is allowed.
    declared = spec(cpus=24, threads_per_core=1, gpu_count=6)
    line, problems = plan_node(declared, detected(hardware(), gpus(8)), reserve_mib=2048)
    assert problems == []
    assert (line.cpus, line.threads_per_core, line.cores_per_socket) == (24, 1, 12)
    assert line.gres == (Gres("nvidia_titan_xp", 6, "/dev/nvidia[0-5]"),)
    assert "Gres=gpu:nvidia_titan_xp:6 " in line.line


def test_cpu_overclaim_is_one_problem_naming_host_and_field():
    hw = hardware(cpus=40, cores=10)
    line, problems = plan_node(spec(cpus=48, cores_per_socket=10), detected(hw), 0)
    assert problems == [
        "mlc0: declares cpus=48 but facts (slurmd) found 40 (node.cpus in the data of "
        "partition txp)"
    ]
    assert line.cpus == 48  # the declaration is still what the line would say


def test_gpu_overclaim_with_nvidia_smi_is_one_problem():
    _, problems = plan_node(spec(gpu_count=8), detected(nvidia=gpus(7)), 0)
    assert len(problems) == 1, problems
    assert problems[0].startswith("mlc0: declares gpus=8 but nvidia-smi (ok) found 7")
    assert "node.gpus" in problems[0]


def test_gpu_overclaim_with_device_files_is_one_problem():
    found = detected(nvidia=NO_DRIVER, devices=device_files(0, 1, 2, 3))
    _, problems = plan_node(spec(gpu_count=8), found, 0)
    assert len(problems) == 1, problems
    assert problems[0].startswith("mlc0: declares gpus=8 but device files found 4")


def test_every_overclaimed_field_is_reported():
    hw = hardware(cpus=8, sockets=1, cores=4, threads=2)
    declared = spec(cpus=48, sockets=2, cores_per_socket=12, threads_per_core=2)
    _, problems = plan_node(declared, detected(hw), 0)
    fields = [problem.split(" ")[2].split("=")[0] for problem in problems]
    assert fields == ["cpus", "sockets", "cores_per_socket"]
    assert all(problem.startswith("mlc0: declares ") for problem in problems)


def test_nvidia_smi_ok_counts_gpus_from_the_report_not_device_files():
    # The glob also matches device files of GPUs nvidia-smi does not list (or stale ones).
    found = detected(nvidia=gpus(2), devices=device_files(*range(8)))
    line, problems = plan_node(spec(), found, 0)
    assert problems == []
    assert line.gres == (Gres("nvidia_titan_xp", 2, "/dev/nvidia[0-1]"),)


def test_without_minor_numbers_device_files_follow_the_indexes():
    # Tables and lists print no minor number (the fact reads XML, which does).
    report = NvidiaSmiReport(
        state="ok",
        gpus=tuple(Gpu(i, "Quadro RTX 6000", None, None, 24576, None) for i in (0, 1, 3)),
    )
    line, _ = plan_node(spec(gpu_types=("quadro_rtx_6000",)), detected(nvidia=report), 0)
    assert line.gres == (Gres("quadro_rtx_6000", 3, "/dev/nvidia[0-1,3]"),)


def test_without_working_nvidia_smi_device_files_count():
    no_driver = parse_output(
        (FIXTURES / "nvidia-smi" / "err-no-driver-couldnt-communicate.txt").read_text()
    )
    assert no_driver.state != "ok"
    found = detected(nvidia=no_driver, devices=device_files(0, 1, 2, 3, 4, 5))
    line, problems = plan_node(spec(gpu_count=6), found, 0)
    assert problems == []
    # No driver: device files give the count, the partition's declared model the type.
    assert line.gres == (Gres("nvidia_titan_xp", 6, "/dev/nvidia[0-5]"),)


# --- a new node whose driver this run installs ------------------------------------------------

NOT_INSTALLED = NvidiaSmiReport(state="not-installed", source="none")


@pytest.mark.parametrize("before", [NOT_INSTALLED, NO_DRIVER], ids=["no-nvidia-smi", "no-module"])
def test_a_node_without_a_driver_yet_is_planned_from_its_data(before):
    found = detected(nvidia=before, devices=())
    assert awaits_driver(spec(gpu_count=8), found, driver_coming=True)
    line, problems = plan_node(spec(gpu_count=8), found, 0, driver_coming=True)
    assert problems == []
    # Where the driver will make them: /dev/nvidia0..7, of the partition's declared model.
    assert line.gres == (Gres("nvidia_titan_xp", 8, "/dev/nvidia[0-7]"),)
    assert "Gres=gpu:nvidia_titan_xp:8 " in line.line


def test_no_driver_and_none_coming_is_gpus_missing():
    found = detected(nvidia=NOT_INSTALLED, devices=())
    assert not awaits_driver(spec(gpu_count=8), found, driver_coming=False)
    _, problems = plan_node(spec(gpu_count=8), found, 0)
    assert problems == [
        "mlc0: declares gpus=8 but device files found 0 (node.gpus in the data of partition txp)"
    ]


@pytest.mark.parametrize(
    ("nvidia", "devices", "message"),
    [
        # The driver answers with fewer GPUs: GPUs are missing, a new driver will not help.
        (gpus(6), device_files(*range(6)), "declares gpus=8 but nvidia-smi (ok) found 6"),
        # No driver answers but some device files exist: a driver was there; GPUs missing.
        (NO_DRIVER, device_files(0, 1), "declares gpus=8 but device files found 2"),
    ],
    ids=["driver-answers-with-fewer", "device-files-without-driver"],
)
def test_a_driver_coming_does_not_excuse_gpus_missing(nvidia, devices, message):
    found = detected(nvidia=nvidia, devices=devices)
    assert not awaits_driver(spec(gpu_count=8), found, driver_coming=True)
    _, problems = plan_node(spec(gpu_count=8), found, 0, driver_coming=True)
    assert [p.split(" (node.")[0] for p in problems] == [f"mlc0: {message}"]


def test_a_node_declaring_no_gpus_does_not_wait_for_a_driver():
    found = detected(nvidia=NOT_INSTALLED, devices=())
    assert not awaits_driver(spec(), found, driver_coming=True)  # gpus: from the facts
    line, problems = plan_node(spec(), found, 0, driver_coming=True)
    assert (line.gres, problems) == ((), [])


def test_plan_nodes_plans_only_the_nodes_given_a_driver_from_their_data():
    cluster = production_cluster()
    node = cluster.node("mlc0")
    big = hardware(cpus=56, cores=14)  # enough for every partition's declaration
    found = {
        n.host: detected(
            big,
            nvidia=NOT_INSTALLED
            if n.host == "mlc0"
            else gpus(n.gpu_count or 0, PRODUCTS[n.gpu_types[0]]),
            devices=() if n.host == "mlc0" else device_files(*range(n.gpu_count or 0)),
        )
        for n in cluster.nodes
    }
    lines = plan_nodes(cluster, found, drivers_coming={"mlc0"})
    assert next(line for line in lines if line.name == "mlc0").gpus == node.gpu_count
    with pytest.raises(HardwareMismatch, match="mlc0: declares gpus=8 but device files found 0"):
        plan_nodes(cluster, found)


def test_node_without_gpus_has_no_gres():
    found = detected(nvidia=NvidiaSmiReport(state="not-installed"), devices=())
    line, problems = plan_node(spec(), found, 0)
    assert problems == []
    assert (line.gpus, line.gres) == (0, ())
    assert "Gres" not in line.line
    assert line.line.endswith("RealMemory=257843 State=UNKNOWN")


def test_real_memory_subtracts_the_reserve_but_stays_positive():
    assert plan_node(spec(), detected(hardware(memory=10000)), 2048)[0].real_memory == 7952
    assert plan_node(spec(), detected(hardware(memory=1000)), 2048)[0].real_memory == 1


def test_boards_split_sockets():
    hw = hardware(cpus=64, sockets=4, cores=8, threads=2, boards=2)
    line, _ = plan_node(spec(), detected(hw), 0)
    assert (line.boards, line.sockets_per_board) == (2, 2)
    assert "Boards=2 SocketsPerBoard=2 " in line.line


def test_plan_nodes_lists_every_problem_of_every_node():
    cluster = production_cluster()
    found = production_detected(cluster)
    found["mlc1"] = detected(hardware(cpus=40, cores=10))
    found["mlc6"] = detected(hardware(cpus=56, cores=14), gpus(4, "Quadro RTX 6000"))
    with pytest.raises(HardwareMismatch) as raised:
        plan_nodes(cluster, found)
    problems = raised.value.problems
    assert {p.split(":")[0] for p in problems} == {"mlc1", "mlc6"}
    assert any(p.startswith("mlc1: declares cpus=48 but facts (slurmd) found 40") for p in problems)
    assert any(p.startswith("mlc6: declares gpus=8 but nvidia-smi (ok) found 4") for p in problems)
    assert "slurmctld would drain them" in str(raised.value)
    assert "\n  mlc1: declares cpus=48" in str(raised.value)


def test_plan_nodes_in_cluster_order():
    cluster = production_cluster()
    lines = plan_nodes(cluster, production_detected(cluster))
    assert [line.name for line in lines] == [f"mlc{i}" for i in range(7)]
    assert [line.cpus for line in lines] == [48] * 4 + [56] * 3
    assert [[g.spec for g in line.gres] for line in lines] == (
        [["gpu:nvidia_titan_xp:8"]] * 4
        + [["gpu:nvidia_geforce_rtx_2080_ti:8"]] * 2
        + [["gpu:quadro_rtx_6000:8"]]
    )


# --- GRES types as Slurm names them ------------------------------------------------------------

# Every full product name in tests/fixtures/nvidia-smi and the type Slurm's NVML plugin makes of
# it (gpu_common_underscorify_tolower: ASCII lower case, each space to "_", nothing else).
GRES_TYPES = {
    "GRID K520": "grid_k520",
    "GRID P4-1Q": "grid_p4-1q",
    "GeForce GT 730": "geforce_gt_730",
    "GeForce GTX 1070": "geforce_gtx_1070",
    "GeForce GTX 1070 Ti": "geforce_gtx_1070_ti",
    "GeForce GTX 750 Ti": "geforce_gtx_750_ti",
    "GeForce RTX 2070": "geforce_rtx_2070",
    "GeForce RTX 2080 Ti": "geforce_rtx_2080_ti",
    "Graphics Device": "graphics_device",
    "NVIDIA A100-SXM4-40GB": "nvidia_a100-sxm4-40gb",
    "NVIDIA A100-SXM4-80GB": "nvidia_a100-sxm4-80gb",
    "NVIDIA A10G": "nvidia_a10g",
    "NVIDIA GeForce GT 1030": "nvidia_geforce_gt_1030",
    "NVIDIA GeForce RTX 2070": "nvidia_geforce_rtx_2070",
    "NVIDIA GeForce RTX 2080": "nvidia_geforce_rtx_2080",
    "NVIDIA GeForce RTX 2080 SUPER": "nvidia_geforce_rtx_2080_super",
    "NVIDIA GeForce RTX 3060": "nvidia_geforce_rtx_3060",
    "NVIDIA GeForce RTX 3060 Laptop GPU": "nvidia_geforce_rtx_3060_laptop_gpu",
    "NVIDIA GeForce RTX 3070": "nvidia_geforce_rtx_3070",
    "NVIDIA GeForce RTX 3080": "nvidia_geforce_rtx_3080",
    "NVIDIA GeForce RTX 3090": "nvidia_geforce_rtx_3090",
    "NVIDIA GeForce RTX 4090": "nvidia_geforce_rtx_4090",
    "NVIDIA H100 80GB HBM3": "nvidia_h100_80gb_hbm3",
    "NVIDIA H200": "nvidia_h200",
    "NVIDIA L40S": "nvidia_l40s",
    "NVIDIA RTX 4000 SFF Ada Generation": "nvidia_rtx_4000_sff_ada_generation",
    "NVIDIA RTX A5000": "nvidia_rtx_a5000",
    "NVIDIA RTX A5000 Laptop GPU": "nvidia_rtx_a5000_laptop_gpu",
    "NVIDIA RTX A6000": "nvidia_rtx_a6000",
    "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition": (
        "nvidia_rtx_pro_6000_blackwell_max-q_workstation_edition"
    ),
    "NVIDIA TITAN V": "nvidia_titan_v",
    "Quadro P2000": "quadro_p2000",
    "Quadro P400": "quadro_p400",
    "Tesla K80": "tesla_k80",
    "Tesla M2070": "tesla_m2070",
    "Tesla P100-PCIE-16GB": "tesla_p100-pcie-16gb",
    "Tesla T4": "tesla_t4",
    "Tesla V100-SXM3-32GB": "tesla_v100-sxm3-32gb",
}


def fixture_product_names() -> set[str]:
    names = set()
    for path in (FIXTURES / "nvidia-smi").iterdir():
        text = path.read_text()
        if path.name.startswith("csv-"):
            found = gpus_from_csv(parse_csv(text))
        elif path.name.startswith("list-"):
            found = parse_list(text)
        else:
            found = parse_output(text).gpus
        names |= {gpu.name for gpu in found}
    return names


def test_gres_types_of_every_gpu_model_in_the_fixtures():
    names = fixture_product_names()
    # The human table cuts long names ("GeForce GTX 108..."); the NvidiaSmi fact reads XML.
    assert {n for n in names if n.endswith("...")} == {
        "GeForce GTX 108...",
        "NVIDIA GeForce RTX 2080 ...",
        "NVIDIA RTX PRO 6000 Blac...",
        "Tesla P100-SXM2...",
    }
    assert {n for n in names if not n.endswith("...")} == set(GRES_TYPES)
    assert {name: gres_type(name) for name in GRES_TYPES} == GRES_TYPES
    for kind in GRES_TYPES.values():  # each is a type the data may declare
        assert validate(PartitionSpec, {"name": "p", "gpu_type": kind}).gpu_type == (kind,)


def test_gres_types_of_the_puppet_clusters_models():
    assert gres_type("NVIDIA TITAN Xp") == "nvidia_titan_xp"
    assert gres_type("NVIDIA GeForce RTX 2080 Ti") == "nvidia_geforce_rtx_2080_ti"
    assert gres_type("Quadro RTX 6000") == "quadro_rtx_6000"
    assert gres_type("Tesla\tK80 (ÄB)") == "tesla\tk80_(Äb)"  # only ASCII letters and spaces


# --- GPUs as Slurm sees them: minors, models ---------------------------------------------------


def test_device_files_follow_minor_numbers_not_indexes():
    # Real captures whose minors differ from their indexes: Azure K80 x4 (1, 2, 3, 0) and
    # an RTX A5000 x2 (1, 0).
    k80 = fixture("xml-tesla-k80-x4-azure-driver-430.26.xml")
    found = detected(nvidia=k80, devices=device_files(0, 1, 2, 3))
    assert found.gpus == tuple(("tesla_k80", f"/dev/nvidia{m}") for m in (1, 2, 3, 0))
    k80_spec = spec(gpu_types=("tesla_k80",))
    line, problems = plan_node(k80_spec, found, 0)
    assert problems == []
    assert render_gres_conf([line]).splitlines()[-1] == (
        "NodeName=mlc0 Name=gpu Type=tesla_k80 File=/dev/nvidia[0-3]"
    )
    # Two GPUs kept back: the first two by index are the files of minors 1 and 2.
    line, _ = plan_node(dataclasses.replace(k80_spec, gpu_count=2), found, 0)
    assert line.gres == (Gres("tesla_k80", 2, "/dev/nvidia[1-2]"),)
    a5000 = fixture("xml-rtx-a5000-x2-driver-590.44.01.xml")
    a5000_spec = spec(gpu_types=("nvidia_rtx_a5000",), gpu_count=1)
    line, _ = plan_node(a5000_spec, detected(nvidia=a5000), 0)
    assert render_gres_conf([line]).splitlines()[-1] == (
        "NodeName=mlc0 Name=gpu Type=nvidia_rtx_a5000 File=/dev/nvidia1"
    )
    assert "Gres=gpu:nvidia_rtx_a5000:1 " in line.line


def test_mixed_model_node_gets_one_gres_per_model():
    # A real machine with an RTX 2070 (index 0) and a GTX 750 Ti (index 1); tables print no
    # minors, so the files follow the indexes.
    report = fixture("table-rtx2070-gtx750ti-driver-450.57.txt")
    mixed = spec(gpu_types=("geforce_gtx_750_ti", "geforce_rtx_2070"))
    line, problems = plan_node(mixed, detected(nvidia=report), 0)
    assert problems == []
    assert " Gres=gpu:geforce_gtx_750_ti:1,gpu:geforce_rtx_2070:1 " in line.line
    assert render_gres_conf([line]).splitlines()[2:] == [
        "NodeName=mlc0 Name=gpu Type=geforce_gtx_750_ti File=/dev/nvidia1",
        "NodeName=mlc0 Name=gpu Type=geforce_rtx_2070 File=/dev/nvidia0",
    ]


def test_mixed_model_node_files_follow_each_models_minors():
    # The real Azure K80 XML (minors 1, 2, 3, 0), edited: its last two GPUs renamed to P100s.
    text = (FIXTURES / "nvidia-smi" / "xml-tesla-k80-x4-azure-driver-430.26.xml").read_text()
    parts = text.split("<product_name>Tesla K80</product_name>")
    assert len(parts) == 5
    edited = "<product_name>Tesla K80</product_name>".join(parts[:3]) + "".join(
        "<product_name>Tesla P100-PCIE-16GB</product_name>" + part for part in parts[3:]
    )
    report = parse_xml(edited)
    mixed = spec(gpu_types=("tesla_k80", "tesla_p100-pcie-16gb"))
    line, problems = plan_node(mixed, detected(nvidia=report), 0)
    assert problems == []
    assert line.gres == (
        Gres("tesla_k80", 2, "/dev/nvidia[1-2]"),
        Gres("tesla_p100-pcie-16gb", 2, "/dev/nvidia[0,3]"),
    )
    assert " Gres=gpu:tesla_k80:2,gpu:tesla_p100-pcie-16gb:2 " in line.line


def test_a_model_the_partition_does_not_declare_is_refused_naming_both():
    cluster = production_cluster()
    found = production_detected(cluster)
    # The real capture of a host with 2 GeForce RTX 2080 Ti (driver 410) on TITAN Xp mlc2.
    found["mlc2"] = detected(nvidia=fixture("xml-rtx2080ti-x2-driver-410.73.xml"))
    with pytest.raises(HardwareMismatch) as raised:
        plan_nodes(cluster, found)
    assert raised.value.problems == (
        "mlc2: declares gpus=8 but nvidia-smi (ok) found 2 (node.gpus in the data of partition "
        "txp)",
        "mlc2: nvidia-smi found GPU model geforce_rtx_2080_ti ('GeForce RTX 2080 Ti') but "
        "partition txp declares gpu_type nvidia_titan_xp (slurm_partitions' gpu_type)",
    )
    assert "\n  mlc2: nvidia-smi found GPU model geforce_rtx_2080_ti " in str(raised.value)


def test_a_mixed_node_with_an_undeclared_model_names_only_that_one():
    report = fixture("table-rtx2070-gtx750ti-driver-450.57.txt")
    _, problems = plan_node(spec(gpu_types=("geforce_rtx_2070",)), detected(nvidia=report), 0)
    assert problems == [
        "mlc0: nvidia-smi found GPU model geforce_gtx_750_ti ('GeForce GTX 750 Ti') but "
        "partition txp declares gpu_type geforce_rtx_2070 (slurm_partitions' gpu_type)"
    ]


def test_a_partition_declaring_two_models_renders_a_mixed_node():
    partitions = group_data("all")["slurm_partitions"]
    partitions[1]["gpu_type"] = ["nvidia_geforce_rtx_2080_ti", "nvidia_titan_xp"]
    cluster = production_cluster(slurm_partitions=partitions)
    assert cluster.node("mlc4").gpu_types == ("nvidia_geforce_rtx_2080_ti", "nvidia_titan_xp")
    found = production_detected(cluster)
    names = ["NVIDIA TITAN Xp"] * 2 + ["NVIDIA GeForce RTX 2080 Ti"] * 6
    mixed = tuple(Gpu(i, name, None, None, 12288, None, minor=i) for i, name in enumerate(names))
    found["mlc4"] = detected(hardware(cpus=56, cores=14), NvidiaSmiReport("ok", mixed))
    lines = plan_nodes(cluster, found)
    assert " Gres=gpu:nvidia_geforce_rtx_2080_ti:6,gpu:nvidia_titan_xp:2 " in lines[4].line
    gres_conf = render_gres_conf(lines)
    assert (
        "NodeName=mlc4 Name=gpu Type=nvidia_geforce_rtx_2080_ti File=/dev/nvidia[2-7]\n"
        "NodeName=mlc4 Name=gpu Type=nvidia_titan_xp File=/dev/nvidia[0-1]\n"
    ) in gres_conf


def test_without_a_driver_the_declared_model_is_the_type():
    # No driver, so no model to compare: the device files' GPUs are the first declared type.
    mixed = spec(gpu_types=("nvidia_titan_xp", "nvidia_geforce_rtx_2080_ti"))
    line, problems = plan_node(mixed, detected(nvidia=NO_DRIVER, devices=device_files(0, 1)), 0)
    assert problems == []
    assert line.gres == (Gres("nvidia_titan_xp", 2, "/dev/nvidia[0-1]"),)


# --- compress_devices -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        ((), ""),
        (("/dev/nvidia0",), "/dev/nvidia0"),
        (("/dev/nvidia3",), "/dev/nvidia3"),
        (("/dev/nvidia0", "/dev/nvidia1"), "/dev/nvidia[0-1]"),
        (device_files(0, 1, 2, 3, 5), "/dev/nvidia[0-3,5]"),
        (device_files(5, 3, 2, 1, 0), "/dev/nvidia[0-3,5]"),
        (device_files(0, 2, 4), "/dev/nvidia[0,2,4]"),
        (device_files(1, 2, 5, 6, 7, 10), "/dev/nvidia[1-2,5-7,10]"),
        (device_files(8, 9, 10, 11), "/dev/nvidia[8-11]"),
        (("/dev/nvidia0", "/dev/dri/card1"), "/dev/nvidia0,/dev/dri/card1"),
        (("/dev/nvidia0", "/dev/nvidiactl"), "/dev/nvidia0,/dev/nvidiactl"),
    ],
)
def test_compress_devices(paths, expected):
    assert compress_devices(paths) == expected


# --- rendering --------------------------------------------------------------------------------


def production_detected(cluster: Cluster, cpus=56, cores=14) -> dict[str, DetectedNode]:
    """Every worker with 8 GPUs of its partition's model."""
    return {
        node.host: detected(hardware(cpus=cpus, cores=cores), gpus(8, PRODUCTS[node.gpu_types[0]]))
        for node in cluster.nodes
    }


# --- memory per CPU against RealMemory -------------------------------------------------------

# `slurmd -C` of the real nodes, as the Puppet project's data/common.yaml recorded it.
SEED_SLURMD_C = {
    "txp": hardware(cpus=48, cores=12, memory=112689),
    "g2080": hardware(cpus=56, cores=14, memory=128803),
    "q6000": hardware(cpus=56, cores=14, memory=257826),
}


def seed_nodes(cluster: Cluster) -> dict[str, DetectedNode]:
    return {
        n.host: detected(SEED_SLURMD_C[n.partition], gpus(8, PRODUCTS[n.gpu_types[0]]))
        for n in cluster.nodes
    }


def test_seed_memory_per_cpu_fits_every_node():
    cluster = production_cluster()
    lines = plan_nodes(cluster, seed_nodes(cluster))  # DefMemPerCPU=2000 fits: no error
    by_name = {line.name: line for line in lines}
    assert (by_name["mlc0"].cpus, by_name["mlc0"].real_memory) == (48, 110641)
    assert memory_per_cpu_problems(cluster, lines, "DefMemPerCPU") == []
    # MaxMemPerCPU=2300 caps nothing on g2080 (56 x 2300 > 126755): noted, not refused.
    assert memory_per_cpu_problems(cluster, lines, "MaxMemPerCPU") == [
        f"{name} (partition g2080): MaxMemPerCPU=2300 x CPUs=56 = 128800 MiB > RealMemory=126755"
        for name in ("mlc4", "mlc5")
    ]


def test_def_mem_per_cpu_over_real_memory_is_refused_naming_each_node():
    # The old global DefMemPerCPU=4096: a 48-CPU job without --mem asks 192 GiB of 110.
    data = group_data("all")
    data["slurm"]["config"] = {"DefMemPerCPU": 4096}
    data["slurm_partitions"] = [{**p, "config": {}} for p in data["slurm_partitions"]]
    cluster = production_cluster(**data)
    with pytest.raises(MemoryMismatch) as raised:
        plan_nodes(cluster, seed_nodes(cluster))
    problems = raised.value.problems
    assert problems[0] == (
        "mlc0 (partition txp): DefMemPerCPU=4096 x CPUs=48 = 196608 MiB > RealMemory=110641"
    )
    assert [p.split()[0] for p in problems] == ["mlc0", "mlc1", "mlc2", "mlc3", "mlc4", "mlc5"]
    assert str(raised.value).startswith("DefMemPerCPU x CPUs exceeds RealMemory")
    assert "\n  mlc0 (partition txp): DefMemPerCPU=4096" in str(raised.value)


def test_a_partitions_own_def_mem_per_cpu_wins_over_the_global_one():
    data = group_data("all")
    data["slurm"]["config"] = {"DefMemPerCPU": 4096}  # the partitions' 2000 win
    cluster = production_cluster(**data)
    plan_nodes(cluster, seed_nodes(cluster))


def test_declared_cpus_count_in_the_memory_check():
    data = group_data("all")
    data["slurm_partitions"][0]["config"] = {"DefMemPerCPU": 3000}
    cluster = production_cluster(**data)
    found = seed_nodes(cluster)
    found["mlc0"] = detected(hardware(cpus=48, cores=12, memory=150000), found["mlc0"].nvidia)
    with pytest.raises(MemoryMismatch) as raised:
        plan_nodes(cluster, found)
    assert [p.split()[0] for p in raised.value.problems] == ["mlc1", "mlc2", "mlc3"]


def production_lines(cluster: Cluster | None = None) -> list[NodeLine]:
    cluster = cluster or production_cluster()
    return plan_nodes(cluster, production_detected(cluster))


@pytest.fixture(scope="module")
def slurm_conf() -> str:
    cluster = production_cluster()
    return render_slurm_conf(cluster, production_lines(cluster))


def settings_of(text: str) -> dict[str, str]:
    return parse_conf(text)[0]


def test_slurm_conf_global_settings(slurm_conf):
    settings = settings_of(slurm_conf)
    assert settings["ClusterName"] == "slurmpit"
    assert settings["SlurmctldHost"] == "mlchead"
    assert settings["SlurmctldParameters"] == "enable_configless"
    assert settings["SelectType"] == "select/cons_tres"
    assert settings["SelectTypeParameters"] == "CR_Core_Memory"
    assert settings["GresTypes"] == "gpu"
    assert settings["ReturnToService"] == "2"
    assert settings["ProctrackType"] == "proctrack/cgroup"
    assert settings["TaskPlugin"] == "task/cgroup,task/affinity"
    assert settings["AccountingStorageHost"] == "mlchead"
    assert "StoragePass" not in slurm_conf


def test_slurm_conf_settings_come_from_the_data():
    slurm = group_data("all")["slurm"]
    slurm["config"].update(
        ProctrackType="proctrack/linuxproc",
        TaskPlugin="task/none",
        ReturnToService=1,
        MaxJobCount="5000",
    )
    cluster = production_cluster(slurm=slurm)
    settings = settings_of(render_slurm_conf(cluster, production_lines(cluster)))
    assert settings["ProctrackType"] == "proctrack/linuxproc"
    assert settings["TaskPlugin"] == "task/none"
    assert settings["ReturnToService"] == "1"
    assert settings["MaxJobCount"] == "5000"


def test_slurm_conf_node_lines(slurm_conf):
    nodes = parse_conf(slurm_conf)[1]
    assert list(nodes) == [f"mlc{i}" for i in range(7)]
    for name in ("mlc0", "mlc3"):
        assert " CPUs=48 " in nodes[name] and " Gres=gpu:nvidia_titan_xp:8 " in nodes[name]
    assert " CPUs=56 " in nodes["mlc4"]
    assert " Gres=gpu:nvidia_geforce_rtx_2080_ti:8 " in nodes["mlc4"]
    assert " Gres=gpu:quadro_rtx_6000:8 " in nodes["mlc6"]
    assert all(line.endswith(" State=UNKNOWN") for line in nodes.values())


def test_slurm_conf_has_exactly_one_default_partition(slurm_conf):
    partitions = parse_conf(slurm_conf)[2]
    assert list(partitions) == ["txp", "g2080", "q6000"]
    assert [name for name, line in partitions.items() if " Default=YES " in line] == ["txp"]
    assert slurm_conf.count("Default=YES") == 1
    assert partitions["txp"] == (
        "PartitionName=txp Nodes=mlc0,mlc1,mlc2,mlc3 Default=YES MaxTime=INFINITE "
        "DefMemPerCPU=2000 MaxMemPerCPU=2300 State=UP"
    )
    assert "Nodes=mlc4,mlc5 Default=NO " in partitions["g2080"]


def test_partition_without_nodes_is_left_out():
    cluster = production_cluster()
    lines = [line for line in production_lines(cluster) if line.partition == "txp"]
    partitions = parse_conf(render_slurm_conf(cluster, lines))[2]
    assert list(partitions) == ["txp"]


def test_gres_conf():
    lines = production_lines()
    lines[6] = dataclasses.replace(lines[6], gres=())
    text = render_gres_conf(lines)
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body[0] == "AutoDetect=off"
    assert body[1] == "NodeName=mlc0 Name=gpu Type=nvidia_titan_xp File=/dev/nvidia[0-7]"
    assert body[5] == (
        "NodeName=mlc4 Name=gpu Type=nvidia_geforce_rtx_2080_ti File=/dev/nvidia[0-7]"
    )
    assert len(body) == 1 + 6  # mlc6 has no GPUs: no line
    assert "mlc6" not in text


def test_cgroup_conf():
    lines = render_cgroup_conf().splitlines()
    assert "ConstrainDevices=yes" in lines
    assert "ConstrainRAMSpace=yes" in lines


def test_password_is_only_in_slurmdbd_conf(slurm_conf):
    cluster = production_cluster()
    dbd = render_slurmdbd_conf(cluster, PASSWORD)
    settings = settings_of(dbd)
    assert settings["StoragePass"] == PASSWORD
    assert settings["StorageLoc"] == "slurm_acct_db"
    assert settings["StorageUser"] == "slurm"
    assert dbd.count(PASSWORD) == 1
    for other in (slurm_conf, render_gres_conf(production_lines()), render_cgroup_conf()):
        assert PASSWORD not in other


# --- parse_conf and what a change means -------------------------------------------------------


def test_parse_conf_splits_settings_nodes_and_partitions():
    text = (
        "# comment\nClusterName=x  # trailing comment\n\nNodeName=a CPUs=2\n"
        "PartitionName=p Nodes=a\nnot a setting\n"
    )
    settings, nodes, partitions = parse_conf(text)
    assert settings == {"ClusterName": "x"}
    assert nodes == {"a": "NodeName=a CPUs=2"}
    assert partitions == {"p": "PartitionName=p Nodes=a"}


def head_state(cluster: Cluster, lines: list[NodeLine]) -> tuple[str, str]:
    """The head's (restart, full) fingerprints, as deploys/concerns/slurm.py computes them."""
    slurm_conf = render_slurm_conf(cluster, lines)
    gres_conf = render_gres_conf(lines)
    return (
        restart_fingerprint(slurm_conf),
        full_fingerprint(slurm_conf, gres_conf, render_cgroup_conf()),
    )


@pytest.fixture(scope="module")
def applied() -> str:
    cluster = production_cluster()
    return applied_record(*head_state(cluster, production_lines(cluster)))


def test_identical_configuration_needs_nothing(applied):
    cluster = production_cluster()
    assert daemon_action(applied, *head_state(cluster, production_lines(cluster))) == "none"


def test_no_record_means_restart():
    cluster = production_cluster()
    state = head_state(cluster, production_lines(cluster))
    assert daemon_action(None, *state) == "restart"
    assert daemon_action("", *state) == "restart"
    assert daemon_action("garbage\n", *state) == "restart"


def test_partition_max_time_change_reconfigures(applied):
    partitions = group_data("all")["slurm_partitions"]
    partitions[1]["max_time"] = "7-00:00:00"
    cluster = production_cluster(slurm_partitions=partitions)
    state = head_state(cluster, production_lines(cluster))
    assert "MaxTime=7-00:00:00" in render_slurm_conf(cluster, production_lines(cluster))
    assert daemon_action(applied, *state) == "reconfigure"


def test_node_cpu_change_reconfigures_the_head(applied):
    cluster = production_cluster()
    lines = production_lines(cluster)
    lines[0] = dataclasses.replace(lines[0], cpus=24, threads_per_core=1)
    assert daemon_action(applied, *head_state(cluster, lines)) == "reconfigure"


def test_node_cpu_change_restarts_that_worker():
    # A worker's own node line is part of its restart fingerprint (slurmd reads it at start).
    cluster = production_cluster()
    lines = production_lines(cluster)
    globals_only = render_slurm_conf(cluster, [])
    before = restart_fingerprint(globals_only, lines[0].line)
    changed = dataclasses.replace(lines[0], cpus=24, threads_per_core=1)
    after = restart_fingerprint(globals_only, changed.line)
    assert daemon_action(applied_record(before, before), after, after) == "restart"
    assert restart_fingerprint(globals_only, lines[0].line) == before


def test_adding_a_node_restarts(applied):
    cluster = production_cluster()
    lines = production_lines(cluster)
    extra = dataclasses.replace(lines[-1], name="mlc7")
    assert daemon_action(applied, *head_state(cluster, [*lines, extra])) == "restart"


def test_removing_a_node_restarts(applied):
    cluster = production_cluster()
    lines = production_lines(cluster)
    assert daemon_action(applied, *head_state(cluster, lines[:-1])) == "restart"


def test_proctrack_change_restarts(applied):
    slurm = group_data("all")["slurm"]
    slurm["config"]["ProctrackType"] = "proctrack/linuxproc"
    cluster = production_cluster(slurm=slurm)
    assert daemon_action(applied, *head_state(cluster, production_lines(cluster))) == "restart"


def test_return_to_service_change_reconfigures(applied):
    slurm = group_data("all")["slurm"]
    slurm["config"]["ReturnToService"] = 1
    cluster = production_cluster(slurm=slurm)
    assert daemon_action(applied, *head_state(cluster, production_lines(cluster))) == "reconfigure"


def test_gres_change_alone_reconfigures(applied):
    cluster = production_cluster()
    lines = production_lines(cluster)
    slurm_conf = render_slurm_conf(cluster, lines)
    gres = render_gres_conf(lines).replace("File=/dev/nvidia[0-7]", "File=/dev/nvidia[0-6]", 1)
    full = full_fingerprint(slurm_conf, gres, render_cgroup_conf())
    assert daemon_action(applied, restart_fingerprint(slurm_conf), full) == "reconfigure"


def test_restart_fingerprint_ignores_comments_and_order():
    text = "ClusterName=a\nProctrackType=proctrack/cgroup\nNodeName=n1 CPUs=2\n"
    shuffled = "# note\nNodeName=n1 CPUs=4\nProctrackType=proctrack/cgroup\nClusterName=a\n"
    assert restart_fingerprint(text) == restart_fingerprint(shuffled)
    assert restart_fingerprint(text) != restart_fingerprint(text, "extra")
    assert restart_fingerprint(text) != restart_fingerprint(text.replace("=a", "=b"))


def test_plan_nodes_outside_the_run_from_the_record_else_declared():
    from snakepit.slurm import FROM_DECLARED, FROM_RECORD, declared_line

    cluster = production_cluster()
    found = production_detected(cluster)
    seen = plan_nodes(cluster, found)
    recorded = {"mlc1": dataclasses.replace(seen[1], real_memory=1000, partition="old")}
    in_run = {name: found[name] for name in ("mlc0",)}
    lines = plan_nodes(cluster, in_run, recorded)
    assert [line.source for line in lines[:3]] == ["facts", FROM_RECORD, FROM_DECLARED]
    # The record's hardware, the data's partition; it is not re-checked against facts.
    assert (lines[1].real_memory, lines[1].partition) == (1000, "txp")
    assert lines[2] == declared_line(cluster.node("mlc2"))
    assert lines[2].gres == (Gres("nvidia_titan_xp", 8, "/dev/nvidia[0-7]"),)
    # A DefMemPerCPU that a declared line's RealMemory=1 cannot hold stops nothing.
    assert lines[2].real_memory == 1
