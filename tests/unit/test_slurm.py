"""Tests for snakepit.slurm: node lines from facts, rendering, and daemon actions."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from snakepit.model import Cluster, NodeSpec
from snakepit.parsers.hardware import Hardware, parse_slurmd_c
from snakepit.parsers.nvidia_smi import Gpu, NvidiaSmiReport, parse_output, parse_table
from snakepit.records import applied_record, daemon_action
from snakepit.slurm import (
    DetectedNode,
    HardwareMismatch,
    MemoryMismatch,
    NodeLine,
    compress_devices,
    full_fingerprint,
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


def gpus(count: int, name: str = "NVIDIA TITAN Xp") -> NvidiaSmiReport:
    return NvidiaSmiReport(
        state="ok",
        gpus=tuple(Gpu(i, name, None, None, 12288, None) for i in range(count)),
        source="table",
    )


NO_DRIVER = NvidiaSmiReport(state="no-driver", message="couldn't communicate", source="error")


def device_files(*numbers: int) -> tuple[str, ...]:
    return tuple(f"/dev/nvidia{n}" for n in numbers)


def spec(**declared: Any) -> NodeSpec:
    return NodeSpec(host="mlc0", partition="txp", gpu_type="titanxp", **declared)


def detected(hw: Hardware | None = None, nvidia=None, devices=()) -> DetectedNode:
    return DetectedNode(hw or hardware(), nvidia or gpus(8), tuple(devices))


# --- plan_node --------------------------------------------------------------------------------


def test_real_facts_of_mlc0_with_production_declaration():
    cluster = production_cluster()
    hw = parse_slurmd_c((FIXTURES / "samples" / "slurmd-C-mlc0.txt").read_text())
    table = (FIXTURES / "nvidia-smi" / "table-gtx1080ti-x8-driver-390.25.txt").read_text()
    found = DetectedNode(hw, parse_table(table), device_files(*range(8)))
    line, problems = plan_node(cluster.node("mlc0"), found, cluster.slurm.memory_reserve_mib)
    assert problems == []
    assert line.line == (
        "NodeName=mlc0 CPUs=48 Boards=1 SocketsPerBoard=2 CoresPerSocket=12 ThreadsPerCore=2 "
        "RealMemory=255795 Gres=gpu:titanxp:8 State=UNKNOWN"
    )
    assert line.real_memory == 257843 - 2048
    assert line.gpu_files == "/dev/nvidia[0-7]"


def test_facts_fill_what_is_not_declared():
    hw = hardware(cpus=40, sockets=2, cores=10, threads=2, memory=64000)
    line, problems = plan_node(spec(), detected(hw, gpus(4)), reserve_mib=1000)
    assert problems == []
    assert (line.cpus, line.sockets_per_board, line.cores_per_socket) == (40, 2, 10)
    assert (line.threads_per_core, line.gpus, line.real_memory) == (2, 4, 63000)
    assert line.gpu_files == "/dev/nvidia[0-3]"


def test_declared_values_win_when_not_more_than_detected():
    # Declaring less than is there (hyper-threading off, two GPUs kept back) is allowed.
    declared = spec(cpus=24, threads_per_core=1, gpu_count=6)
    line, problems = plan_node(declared, detected(hardware(), gpus(8)), reserve_mib=2048)
    assert problems == []
    assert (line.cpus, line.threads_per_core, line.cores_per_socket) == (24, 1, 12)
    assert line.gpus == 6
    assert line.gpu_files == "/dev/nvidia[0-5]"
    assert "Gres=gpu:titanxp:6 " in line.line


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
    assert (line.gpus, line.gpu_files) == (2, "/dev/nvidia[0-1]")


def test_nvidia_smi_ok_uses_the_gpu_indexes_it_reports():
    report = NvidiaSmiReport(
        state="ok",
        gpus=tuple(Gpu(i, "Quadro RTX 6000", None, None, 24576, None) for i in (0, 1, 3)),
    )
    line, _ = plan_node(spec(), detected(nvidia=report), 0)
    assert (line.gpus, line.gpu_files) == (3, "/dev/nvidia[0-1,3]")


def test_without_working_nvidia_smi_device_files_count():
    no_driver = parse_output(
        (FIXTURES / "nvidia-smi" / "err-no-driver-couldnt-communicate.txt").read_text()
    )
    assert no_driver.state != "ok"
    found = detected(nvidia=no_driver, devices=device_files(0, 1, 2, 3, 4, 5))
    line, problems = plan_node(spec(gpu_count=6), found, 0)
    assert problems == []
    assert (line.gpus, line.gpu_files) == (6, "/dev/nvidia[0-5]")


def test_node_without_gpus_has_no_gres():
    found = detected(nvidia=NvidiaSmiReport(state="not-installed"), devices=())
    line, problems = plan_node(spec(), found, 0)
    assert problems == []
    assert line.gpus == 0
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
    found = {name: detected(hardware(cpus=56, cores=14)) for name in cluster.workers}
    found["mlc1"] = detected(hardware(cpus=40, cores=10))
    found["mlc6"] = detected(hardware(cpus=56, cores=14), gpus(4))
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
    found = {name: detected(hardware(cpus=56, cores=14)) for name in cluster.workers}
    lines = plan_nodes(cluster, found)
    assert [line.name for line in lines] == [f"mlc{i}" for i in range(7)]
    assert [line.cpus for line in lines] == [48] * 4 + [56] * 3
    assert [line.gpu_type for line in lines] == ["titanxp"] * 4 + ["rtx2080ti"] * 2 + ["quadro6000"]


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


# --- memory per CPU against RealMemory -------------------------------------------------------

# `slurmd -C` of the real nodes, as the Puppet project's data/common.yaml recorded it.
SEED_SLURMD_C = {
    "txp": hardware(cpus=48, cores=12, memory=112689),
    "g2080": hardware(cpus=56, cores=14, memory=128803),
    "q6000": hardware(cpus=56, cores=14, memory=257826),
}


def seed_nodes(cluster: Cluster) -> dict[str, DetectedNode]:
    return {n.host: detected(SEED_SLURMD_C[n.partition]) for n in cluster.nodes}


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
    found["mlc0"] = detected(hardware(cpus=48, cores=12, memory=150000))
    with pytest.raises(MemoryMismatch) as raised:
        plan_nodes(cluster, found)
    assert [p.split()[0] for p in raised.value.problems] == ["mlc1", "mlc2", "mlc3"]


def production_lines(cluster: Cluster | None = None) -> list[NodeLine]:
    cluster = cluster or production_cluster()
    found = {name: detected(hardware(cpus=56, cores=14)) for name in cluster.workers}
    return plan_nodes(cluster, found)


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
        assert " CPUs=48 " in nodes[name] and " Gres=gpu:titanxp:8 " in nodes[name]
    assert " CPUs=56 " in nodes["mlc4"] and " Gres=gpu:rtx2080ti:8 " in nodes["mlc4"]
    assert " Gres=gpu:quadro6000:8 " in nodes["mlc6"]
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
    lines[6] = dataclasses.replace(lines[6], gpus=0, gpu_files="")
    text = render_gres_conf(lines)
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body[0] == "AutoDetect=off"
    assert body[1] == "NodeName=mlc0 Name=gpu Type=titanxp File=/dev/nvidia[0-7]"
    assert body[5] == "NodeName=mlc4 Name=gpu Type=rtx2080ti File=/dev/nvidia[0-7]"
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
