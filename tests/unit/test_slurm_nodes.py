"""`scontrol show node -o` as slurmctld prints it (Slurm 22.05), parsed without a cluster."""

from __future__ import annotations

import pytest

from facts.slurm import SlurmNodes
from snakepit.parsers.slurm_nodes import (
    EXIT_MARKER,
    parse_gres,
    parse_node_line,
    parse_show_nodes,
    parse_state,
    split_fields,
)

IDLE = (
    "NodeName=worker1 Arch=x86_64 CoresPerSocket=2 CPUAlloc=0 CPUEfctv=2 CPUTot=2 "
    "CPULoad=0.31 AvailableFeatures=(null) ActiveFeatures=(null) Gres=gpu:nvidia_titan_xp:2 "
    "NodeAddr=worker1 NodeHostName=worker1 Version=22.05.8 "
    "OS=Linux 6.1.0-27-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01) "
    "RealMemory=23081 AllocMem=0 FreeMem=1234 Sockets=1 Boards=1 State=IDLE "
    "ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=txp "
    "BootTime=2026-11-29T19:01:02 SlurmdStartTime=2026-11-29T20:10:11 "
    "LastBusyTime=2026-11-29T20:10:11 CfgTRES=cpu=2,mem=23081M,billing=2,gres/gpu=2 "
    "AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s "
    "ExtSensorsWatts=0 ExtSensorsTemp=n/s"
)
INVALID = (
    "NodeName=worker2 Arch=x86_64 CoresPerSocket=2 CPUAlloc=0 CPUEfctv=2 CPUTot=2 "
    "CPULoad=0.00 AvailableFeatures=(null) ActiveFeatures=(null) "
    "Gres=gpu:nvidia_titan_xp:1(S:0) NodeAddr=worker2 NodeHostName=worker2 Version=22.05.8 "
    "RealMemory=23081 AllocMem=0 FreeMem=N/A Sockets=1 Boards=1 "
    "State=IDLE+DRAIN+INVALID_REG ThreadsPerCore=1 TmpDisk=0 Weight=1 Partitions=txp "
    "CfgTRES=cpu=2,mem=23081M,billing=2,gres/gpu=1 AllocTRES= "
    "Reason=gres/gpu count reported lower than configured (1 < 2) [slurm@2026-11-29T20:12:13]"
)
DOWN = (
    "NodeName=worker3 CoresPerSocket=1 CPUAlloc=0 CPUTot=1 Gres=(null) NodeAddr=worker3 "
    "RealMemory=1 Sockets=1 Boards=1 State=DOWN*+DRAIN ThreadsPerCore=1 Partitions=txp "
    "Reason=snakepit: GPU lost [root@2026-11-29T20:00:00]"
)


def test_split_fields_keeps_spaces_inside_os_and_reason():
    fields = split_fields(INVALID)
    assert fields["Reason"].startswith("gres/gpu count reported lower")
    assert split_fields(IDLE)["OS"] == (
        "Linux 6.1.0-27-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)"
    )
    assert split_fields(IDLE)["AllocTRES"] == ""
    assert split_fields(IDLE)["CfgTRES"] == "cpu=2,mem=23081M,billing=2,gres/gpu=2"


def test_an_idle_node():
    node = parse_node_line(IDLE)
    assert (node.name, node.state, node.flags) == ("worker1", "IDLE", frozenset())
    assert (node.cpus, node.boards, node.sockets_per_board) == (2, 1, 1)
    assert (node.cores_per_socket, node.threads_per_core, node.real_memory) == (2, 1, 23081)
    assert node.gres == {"gpu:nvidia_titan_xp": 2}
    assert node.reason is None and not node.drained and not node.not_responding


def test_a_node_slurmctld_drained_for_an_invalid_registration():
    node = parse_node_line(INVALID)
    assert node.flags == {"DRAIN", "INVALID_REG"}
    assert node.invalid_registration and node.drained
    assert node.reason == "gres/gpu count reported lower than configured (1 < 2)"
    assert (node.reason_user, node.reason_time) == ("slurm", "2026-11-29T20:12:13")
    assert node.drained_by("slurm") and not node.drained_by_deploy
    assert node.gres == {"gpu:nvidia_titan_xp": 1}
    assert node.state_text == "IDLE+DRAIN+INVALID_REG"


def test_a_down_node_not_responding_drained_by_the_deploy():
    node = parse_node_line(DOWN)
    assert node.down and node.not_responding and node.drained_by_deploy
    assert not node.drained_by("slurm")
    assert node.gres == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IDLE", ("IDLE", set())),
        ("idle", ("IDLE", set())),
        ("DOWN*", ("DOWN", {"NOT_RESPONDING"})),
        ("UNKNOWN+NOT_RESPONDING", ("UNKNOWN", {"NOT_RESPONDING"})),
        ("MIXED+DRAIN", ("MIXED", {"DRAIN"})),
        ("IDLE~", ("IDLE", {"POWERED_DOWN"})),
    ],
)
def test_states(text, expected):
    base, flags = parse_state(text)
    assert (base, set(flags)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(null)", {}),
        ("", {}),
        ("gpu:2", {"gpu": 2}),
        ("gpu", {"gpu": 1}),
        ("gpu:nvidia_a100-sxm4-80gb:4(S:0-1)", {"gpu:nvidia_a100-sxm4-80gb": 4}),
        ("gpu:a:2(S:0,1),gpu:b:1", {"gpu:a": 2, "gpu:b": 1}),
    ],
)
def test_gres(text, expected):
    assert parse_gres(text) == expected


def test_the_fact_output_with_every_node():
    table = parse_show_nodes([IDLE, INVALID, "", f"{EXIT_MARKER}0"])
    assert table.error is None
    assert sorted(table.nodes) == ["worker1", "worker2"]
    assert table.get("worker3") is None


def test_no_nodes_is_an_empty_table_not_an_error():
    table = parse_show_nodes(["No nodes in the system", f"{EXIT_MARKER}0"])
    assert table.nodes == {} and table.error is None


def test_slurmctld_down_is_an_error_with_scontrol_s_words():
    table = parse_show_nodes(
        [
            "slurm_load_node error: Unable to contact slurm controller (connect failure)",
            f"{EXIT_MARKER}1",
        ]
    )
    assert table.nodes == {}
    assert table.error == (
        "slurm_load_node error: Unable to contact slurm controller (connect failure)"
    )


def test_the_fact_never_fails_the_host_and_quotes_its_argument():
    fact = SlurmNodes()
    command = fact.command(nodes="worker[1-2]")
    assert "scontrol show node -o 'worker[1-2]'" in command
    assert command.rstrip().endswith('"$?"')
    table = fact.process(["NodeName=w1 State=IDLE CPUTot=1", f"{EXIT_MARKER}0"])
    assert table.nodes["w1"].cpus == 1
