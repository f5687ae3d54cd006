"""Check everything that needs no connection before pyinfra opens one.

pyinfra 3.10 connects to every host before it runs deploy code, so a bad value found while
planning comes after SSH sessions were opened (and, cached, is re-raised once per host as a
traceback). Two hooks, installed from config.py, stop a bad run earlier with one line
(``error: <file>: host <h>: <field>: <what>``) and exit status 1:

- when config.py is read: every group data file the run will load compiles, and no dict
  literal in one repeats a key (Python keeps the last silently);
- as soon as pyinfra has loaded the inventory (before it connects): the cluster's data
  validates into the model, the secrets file is readable, private and complete (for the role
  deploys), and every CUDA manifest a worker names loads.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROLE_DEPLOYS = ("deploys/site.py", "deploys/head.py", "deploys/worker.py")
_INSTALLED = "_snakepit_preflight"


def fail(message: str) -> None:
    """One line on stderr, exit status 1, no traceback and no pyinfra-debug.log."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(1)


# -- group data files, before pyinfra executes them -----------------------------------------


def group_data_files(argv: list[str], cwd: Path) -> list[Path]:
    """The group data files a run reads: ./group_data/ and group_data/ beside the inventory."""
    dirs = [cwd / "group_data"]
    inventory = next((a for a in argv[1:] if not a.startswith("-")), None)
    if inventory and inventory.endswith(".py"):
        dirs.append((cwd / inventory).resolve().parent / "group_data")
    files: list[Path] = []
    for directory in dict.fromkeys(d.resolve() for d in dirs):
        if directory.is_dir():
            files += sorted(directory.glob("*.py"))
    return files


def problems_in(path: Path, shown: str) -> Iterable[str]:
    try:
        tree = ast.parse(path.read_text(), str(path))
    except SyntaxError as error:
        yield f"{shown}:{error.lineno}: {error.msg}"
        return
    except (OSError, UnicodeDecodeError) as error:
        yield f"{shown}: cannot be read ({error.__class__.__name__})"
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            seen: dict[object, int] = {}
            for key in node.keys:
                if isinstance(key, ast.Constant):
                    if key.value in seen:
                        yield (
                            f"{shown}:{key.lineno}: key {key.value!r} appears twice in one "
                            f"mapping (first at line {seen[key.value]}; Python keeps the last)"
                        )
                    seen.setdefault(key.value, key.lineno)


def check_group_data(argv: list[str] | None = None, cwd: Path | None = None) -> None:
    argv = sys.argv if argv is None else argv
    cwd = Path.cwd() if cwd is None else cwd
    for path in group_data_files(argv, cwd):
        try:
            shown = str(path.relative_to(cwd))
        except ValueError:
            shown = str(path)
        for problem in problems_in(path, shown):
            fail(problem)


# -- the cluster, once the inventory is loaded -----------------------------------------------


def check_inventory(inventory, argv: list[str] | None = None) -> None:
    # Imported here: config.py runs before pyinfra has an inventory.
    from pyinfra.api import OperationError

    from deploys.tools.options import OPTIONS_BY_DEPLOY
    from glue import context, loading
    from glue.loading import cluster_from_inventory
    from operations.cuda import resolve_manifest
    from snakepit.cuda.manifest import one_per_release
    from snakepit.schema import DataError
    from snakepit.secrets import SecretsError, load_secrets, secrets_path

    argv = sys.argv if argv is None else argv
    if not any("slurm_head" in host.groups for host in inventory):
        return  # not a cluster inventory (a tool run against @docker/..., say)
    for deploy, options in OPTIONS_BY_DEPLOY.items():
        if any(arg.replace("\\", "/").endswith(deploy) for arg in argv):
            loading.TOOL_KEYS.update(options.model_fields)  # its --data options
    try:
        cluster = cluster_from_inventory(inventory)
        context.remember(inventory, "cluster", cluster)
        if any(arg.endswith(ROLE_DEPLOYS) for arg in argv):
            secrets = load_secrets(secrets_path(cluster.secrets_file))
            context.remember(inventory, "secrets", secrets)
        for node in cluster.nodes:
            loaded = tuple(resolve_manifest(name) for name in node.cuda_manifests)
            for name, manifest in zip(node.cuda_manifests, loaded, strict=True):
                context.remember(inventory, f"manifest:{name}", manifest)
            ambiguous = one_per_release(loaded)
            if ambiguous:
                error = DataError("cuda_manifest", ambiguous, host=node.host)
                raise error.with_source(loading.source_of(error, inventory))
    except (DataError, SecretsError, OperationError) as error:
        fail(str(error))


def install() -> None:
    """Check the cluster as soon as the CLI has made the inventory (once)."""
    import pyinfra_cli.cli as cli

    if getattr(cli.make_inventory, _INSTALLED, False):
        return
    make_inventory = cli.make_inventory

    def checked_make_inventory(*args, **kwargs):
        inventory = make_inventory(*args, **kwargs)
        check_inventory(inventory)
        return inventory

    setattr(checked_make_inventory, _INSTALLED, True)
    cli.make_inventory = checked_make_inventory
