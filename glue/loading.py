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
        raise error.with_source(source_of(error, inventory)) from None


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


def source_of(error: DataError, inventory) -> str | None:
    """The file the wrong value most likely comes from.

    An inventory problem is the inventory file's. A data field is the group data file that
    assigns its top-level key last (as pyinfra applies them), unless that assignment does
    not mention the field's own name while an earlier one does: an override that spreads the
    production value (``{**__production["slurm"], ...}``) is not where a production typo is.
    """
    if error.field_path.split(".")[0] == "inventory":
        return _inventory_file()
    key = error.field_path.split(".")[0].split("[")[0]
    parts = [p for p in error.field_path.replace("[", ".[").split(".") if p and p[0] != "["]
    leaf = parts[-1] if len(parts) > 1 else None
    hosts = [h for h in inventory if h.name == error.host] or list(inventory)
    groups = [g for g in hosts[0].groups if g not in ROLES] + list(ROLES) + ["all"]
    candidates = [
        directory / f"{group}.py"
        for directory in reversed(_group_data_dirs(inventory))
        for group in groups
        if (directory / f"{group}.py").exists() and key in _assignments(directory / f"{group}.py")
    ]
    if not candidates:
        return None
    for path in candidates:
        if (
            leaf is None
            or f"'{leaf}'" in _assignments(path)[key]
            or (f'"{leaf}"' in _assignments(path)[key])
        ):
            return _display(path)
    return _display(candidates[0])


def _inventory_file() -> str | None:
    inventory = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if inventory and inventory.endswith(".py"):
        return _display(Path(inventory).resolve())
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
def _assignments(path: Path) -> dict[str, str]:
    """Each top-level name a group data file assigns, with the source of its last assignment."""
    text = path.read_text()
    tree = ast.parse(text, str(path))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = ast.get_source_segment(text, node) or ""
    return found


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
