"""`python -m tools.cuda rollout`: which workers, in which batches, by which settings."""

from __future__ import annotations

import pytest

from tools.cuda.rollout import RolloutError, select_workers, setting


def host(name: str, *groups: str, **data) -> dict:
    return {"name": name, "groups": [*groups, "inventory"], "data": data}


HOSTS = [
    host("head", "slurm_head"),
    host("w1", "slurm_worker", "txp", cuda_rollout_batch=2),
    host("w2", "slurm_worker", "txp", cuda_rollout_batch=2),
    host("g1", "slurm_worker", "g2080", cuda_rollout_batch=4),
]


def test_only_workers_in_inventory_order_matching_a_group_or_a_name_glob():
    assert [h["name"] for h in select_workers(HOSTS, [])] == ["w1", "w2", "g1"]
    assert [h["name"] for h in select_workers(HOSTS, ["txp"])] == ["w1", "w2"]
    assert [h["name"] for h in select_workers(HOSTS, ["g*", "w2"])] == ["w2", "g1"]
    assert select_workers(HOSTS, ["head"]) == []


def test_settings_come_from_the_flag_else_one_value_in_the_data():
    txp = select_workers(HOSTS, ["txp"])
    assert setting(txp, "batch", None) == 2
    assert setting(txp, "max_failures", None) == 1  # the default: not in the data
    assert setting(select_workers(HOSTS, []), "batch", 3) == 3
    with pytest.raises(RolloutError, match=r"cuda_rollout_batch differs .*w1: 2, w2: 2, g1: 4"):
        setting(select_workers(HOSTS, []), "batch", None)
    with pytest.raises(RolloutError, match="--max-failures must be at least 1"):
        setting(txp, "max_failures", 0)
