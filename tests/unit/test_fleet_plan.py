"""Node lines for workers outside the run, and the check that the cluster took a change."""

from __future__ import annotations

from snakepit.model import NodeSpec
from snakepit.parsers.slurm_nodes import SlurmNodeTable, parse_node_line
from snakepit.slurm import (
    FROM_DECLARED,
    FROM_FACTS,
    FROM_RECORD,
    Gres,
    NodeLine,
    declared_line,
    line_sources,
    node_table_record,
    parse_node_table_record,
    restart_fingerprint,
)
from snakepit.slurm_verify import check_nodes


def line(name="worker1", gpus=2, cpus=2, source=FROM_FACTS) -> NodeLine:
    gres = (Gres("nvidia_titan_xp", gpus, "/dev/nvidia[0-1]" if gpus == 2 else "/dev/nvidia0"),)
    return NodeLine(name, "txp", cpus, 1, 1, cpus, 1, 23000, gres if gpus else (), source)


def node(name="worker1", state="IDLE", gres="gpu:nvidia_titan_xp:2", cpus=2, reason=""):
    text = f"NodeName={name} CPUTot={cpus} Gres={gres} RealMemory=23000 State={state}"
    return parse_node_line(text + (f" Reason={reason}" if reason else ""))


def table(*nodes) -> SlurmNodeTable:
    return SlurmNodeTable({n.name: n for n in nodes})


def test_the_record_round_trips_and_leaves_out_declared_lines():
    lines = [line("worker1"), line("worker2", gpus=0, source=FROM_RECORD)]
    never_seen = declared_line(NodeSpec("worker3", "txp", ("nvidia_titan_xp",), gpu_count=2))
    recorded = parse_node_table_record(node_table_record([*lines, never_seen]))
    assert recorded == {"worker1": lines[0], "worker2": lines[1]}
    assert {r.source for r in recorded.values()} == {FROM_RECORD}


def test_an_unreadable_record_is_empty():
    assert parse_node_table_record(None) == {}
    assert parse_node_table_record("{not json") == {}
    assert parse_node_table_record('{"nodes": {"w": {"cpus": 1}}}') == {}


def test_a_never_seen_node_claims_only_what_it_declares():
    spec = NodeSpec("worker3", "txp", ("nvidia_titan_xp",), gpu_count=2, cpus=8)
    planned = declared_line(spec)
    assert planned.source == FROM_DECLARED
    assert (planned.cpus, planned.real_memory) == (8, 1)
    assert planned.sockets_per_board * planned.cores_per_socket * planned.threads_per_core == 8
    assert planned.gres == (Gres("nvidia_titan_xp", 2, "/dev/nvidia[0-1]"),)
    bare = declared_line(NodeSpec("worker4", "txp", ("nvidia_titan_xp",)))
    assert (bare.cpus, bare.gres) == (1, ())


def test_the_preview_says_where_each_line_came_from():
    lines = [line("worker1"), line("worker2", source=FROM_RECORD), line("worker3")]
    assert line_sources(lines) == ("from facts: worker1, worker3; from the head's record: worker2")


def test_a_node_s_new_gres_count_restarts_slurmctld_a_partition_change_does_not():
    conf = "SlurmUser=slurm\n{}\nPartitionName=txp Nodes=worker1 {}\n"
    two = conf.format(line(gpus=2).line, "MaxTime=1")
    one = conf.format(line(gpus=1).line, "MaxTime=1")
    other_partition = conf.format(line(gpus=2).line, "MaxTime=2")

    def fp(text):
        return restart_fingerprint(text, restart_keys=frozenset(), node_lines=True)

    assert fp(two) != fp(one)
    assert fp(two) == fp(other_partition)


def test_a_node_as_planned_passes():
    verdict = check_nodes(table(node()), [line()], "slurm", registered=True)
    assert verdict.ok and verdict.resume == ()


def test_a_refused_reconfigure_keeps_the_old_gres_and_fails():
    verdict = check_nodes(table(node()), [line(gpus=1)], "slurm", registered=False)
    assert verdict.problems == (
        "worker1: Gres=gpu:nvidia_titan_xp:2, planned gpu:nvidia_titan_xp:1 [IDLE]",
    )


def test_an_invalid_registration_fails_with_slurmctld_s_reason():
    reason = "gres/gpu count reported lower than configured (1 < 2) [slurm@2026-11-29T20:12:13]"
    broken = node(state="IDLE+DRAIN+INVALID_REG", reason=reason)
    verdict = check_nodes(table(broken), [line()], "slurm", registered=True)
    assert verdict.problems == (
        "worker1: invalid registration (gres/gpu count reported lower than configured "
        "(1 < 2)) [IDLE+DRAIN+INVALID_REG]",
    )
    # The configuration alone is right: slurmctld's own check passes.
    assert check_nodes(table(broken), [line()], "slurm", registered=False).ok


def test_a_dead_slurmd_fails():
    verdict = check_nodes(table(node(state="UNKNOWN*")), [line()], "slurm", registered=True)
    assert verdict.problems == ("worker1: state UNKNOWN+NOT_RESPONDING [UNKNOWN+NOT_RESPONDING]",)


def test_a_fixed_mismatch_drained_by_slurmctld_is_resumed():
    reason = "gres/gpu count reported lower than configured (1 < 2) [slurm@2026-11-29T20:12:13]"
    drained = node(state="IDLE+DRAIN", reason=reason)
    verdict = check_nodes(table(drained), [line()], "slurm", registered=True)
    assert verdict.ok and verdict.resume == ("worker1",)


def test_an_admin_s_drain_and_the_deploy_s_own_are_left_alone():
    admin = node(state="IDLE+DRAIN", reason="fan broken [root@2026-11-29T20:12:13]")
    ours = node("worker2", state="IDLE+DRAIN", reason="snakepit: GPU lost [root@2026-11-29T1:2:3]")
    verdict = check_nodes(table(admin, ours), [line(), line("worker2")], "slurm", True)
    assert verdict.ok and verdict.resume == ()


def test_another_drain_by_slurmctld_fails():
    drained = node(state="IDLE+DRAIN", reason="Kill task failed [slurm@2026-11-29T20:12:13]")
    verdict = check_nodes(table(drained), [line()], "slurm", registered=True)
    assert verdict.problems == ("worker1: drained by slurmctld (Kill task failed) [IDLE+DRAIN]",)


def test_slurmctld_down_or_a_node_it_does_not_know_fails():
    down = SlurmNodeTable({}, error="Unable to contact slurm controller (connect failure)")
    assert check_nodes(down, [line()], "slurm", True).problems == (
        "slurmctld does not answer: Unable to contact slurm controller (connect failure)",
    )
    assert check_nodes(table(), [line()], "slurm", True).problems == (
        "worker1: slurmctld does not know this node",
    )


def test_a_registration_drain_re_signed_by_root_after_a_restart_is_resumed():
    # 22.05: once slurmctld is reconfigured or restarted, its own drain shows [root@...].
    reason = "gres/gpu count reported lower than configured (1 < 2) [root@2026-11-29T20:18:26]"
    drained = node(state="IDLE+DRAIN", reason=reason)
    verdict = check_nodes(table(drained), [line()], "slurm", registered=True)
    assert verdict.ok and verdict.resume == ("worker1",)
