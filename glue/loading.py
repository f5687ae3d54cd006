"""Build the validated `Cluster` (and secrets) from a pyinfra inventory, once per run."""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

from pyinfra.api.arguments import all_global_arguments
from pyinfra.api.connectors import get_all_connectors

from snakepit.model import ROLES, Cluster, DataError, build_cluster


def cluster_from_inventory(inventory) -> Cluster:
    """The cluster described by a loaded pyinfra inventory; raises DataError when bad."""
    heads = [host for host in inventory if "slurm_head" in host.groups]
    if len(heads) != 1:
        raise DataError(
            "inventory", f"needs exactly one host in group slurm_head, found {len(heads)}"
        )
    head = heads[0]
    workers = [host for host in inventory if "slurm_worker" in host.groups]
    groups: dict[str, list[str]] = {}
    for host in inventory:
        for group in host.groups:
            groups.setdefault(group, []).append(host.name)
    try:
        return build_cluster(
            (head.name, cluster_data(head)),
            [(w.name, cluster_data(w)) for w in workers],
            groups,
            {h.name: h.data.get("ssh_hostname") for h in [head, *workers]},
        )
    except DataError as error:
        raise error.with_source(_source_of(error, inventory)) from None


@cache
def pyinfra_keys() -> frozenset[str]:
    """Host data keys that belong to pyinfra (connectors' settings such as ``ssh_user``, and
    global arguments such as ``_sudo``), not to the cluster's schema."""
    keys = {name for name, _ in all_global_arguments()}
    for connector in get_all_connectors().values():
        keys.update(getattr(connector, "data_meta", None) or {})
    return frozenset(keys)


# Keys the running tool deploy reads from `--data` (deploys/tools/), set by glue.context.
TOOL_KEYS: set[str] = set()


def cluster_data(host) -> dict:
    """A host's merged data without pyinfra's own keys: what `HostData` validates."""
    ignored = pyinfra_keys() | TOOL_KEYS
    return {key: value for key, value in host.data.dict().items() if key not in ignored}


def _source_of(error: DataError, inventory) -> str | None:
    """Which group data file sets the field (the last one pyinfra would apply)."""
    key = error.field_path.split(".")[0].split("[")[0]
    hosts = [h for h in inventory if h.name == error.host] or list(inventory)
    groups = [g for g in hosts[0].groups if g not in ROLES] + list(ROLES) + ["all"]
    for directory in reversed(_group_data_dirs(inventory)):
        for group in groups:
            path = directory / f"{group}.py"
            if path.exists() and key in _assigned_names(path):
                return _display(path)
    return None


def _group_data_dirs(inventory) -> list[Path]:
    # pyinfra reads ./group_data, then group_data/ beside the inventory file (the sandbox's
    # overrides); the inventory is the first .py file on pyinfra's command line.
    dirs = [Path.cwd() / "group_data"]
    dirs += [
        Path(arg).resolve().parent / "group_data" for arg in sys.argv[1:2] if arg.endswith(".py")
    ]
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


@cache
def _assigned_names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(), str(path))
    return frozenset(
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    )


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
