"""The production group data (group_data/), read as plain data for unit tests."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from snakepit.model import Cluster, build_cluster

REPO = Path(__file__).resolve().parents[2]
GROUP_DATA = REPO / "group_data"
PARTITION_HOSTS = {
    "txp": ["mlc0", "mlc1", "mlc2", "mlc3"],
    "g2080": ["mlc4", "mlc5"],
    "q6000": ["mlc6"],
}


def group_data(name: str) -> dict[str, Any]:
    """The assignments of one production group_data file."""
    names = runpy.run_path(str(GROUP_DATA / f"{name}.py"))
    return {key: value for key, value in names.items() if not key.startswith("__")}


def production_cluster(**head_changes: Any) -> Cluster:
    """The production data, with top-level head settings replaced."""
    all_data = group_data("all")
    workers = [
        (name, {**all_data, **group_data("slurm_worker"), **group_data(partition)})
        for partition, hosts in PARTITION_HOSTS.items()
        for name in hosts
    ]
    groups = {**PARTITION_HOSTS, "slurm_worker": [name for name, _ in workers]}
    return build_cluster(("mlchead", {**all_data, **head_changes}), workers, groups)
