"""The one building block every daemon uses: packages, directories, configuration files, the
applied record (restart or reconfigure only when needed), and the service running.

Called inside a concern's ``@deploy``, so its operations carry that deploy's name
(``Slurm controller (head) | /etc/slurm/slurm.conf``). The applied record is read once per
run, here: its state names the operation (``slurmctld: restart (...)``), so a preview says
what will happen, and the same text is handed to `applied`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from io import StringIO

from pyinfra import host
from pyinfra.facts.files import FileContents
from pyinfra.operations import apt, files, systemd

from operations.records import RECORD_DIR, applied
from operations.secrets import SecretBytes, secret_file
from snakepit.records import ACTION_TEXT, daemon_action

# Per host: the packages its one early apt run installs (`install_early`, called by
# deploys/concerns/base.py); a daemon block after it leaves those out of its own apt run.
_EARLY: dict[str, frozenset[str]] = {}


def install_early(packages: Sequence[str]) -> None:
    """Say that this host's early apt run installs ``packages`` (``name`` or ``name=version``,
    as `daemon` writes them), so the daemon blocks after it add no apt run for them."""
    _EARLY[host.name] = frozenset(packages)


def package_name(package: str) -> str:
    """``name`` of ``name`` or ``name=version``."""
    return package.split("=")[0]


def install(packages: Sequence[str], version: str | None = None, name: str | None = None):
    """apt-get install ``packages`` (``=version`` each when given), without recommends, in
    one apt run; nothing for those this host's early apt run installs (`install_early`).
    ``name``: the operation's; default ``Install <packages>``."""
    installed = _EARLY.get(host.name, frozenset())
    wanted = [p for p in wanted_packages(packages, version) if p not in installed]
    if wanted:
        apt.packages(
            name=name or f"Install {', '.join(package_name(p) for p in wanted)}",
            packages=wanted,
            no_recommends=True,
        )


def wanted_packages(packages: Sequence[str], version: str | None = None) -> list[str]:
    """``packages`` as apt gets them: ``name=version`` when a version is pinned."""
    return [f"{p}={version}" if version else p for p in packages]


@dataclass(frozen=True)
class ConfigFile:
    """A file the daemon reads. Secret content (`SecretBytes`) is never diffed or shown."""

    path: str
    content: str | SecretBytes
    name: str | None = None  # the operation's name; default: the path
    mode: str = "0644"
    user: str = "root"
    group: str = "root"
    # Written before the packages: the package starts the daemon when installed and that
    # start reads this file (Debian 13's slurmd unit has no condition that stops it).
    before_packages: bool = False


@dataclass(frozen=True)
class Directory:
    path: str
    user: str = "root"
    group: str = "root"
    mode: str = "0755"


@dataclass(frozen=True)
class Apply:
    """How a configuration change reaches the running daemon."""

    restart_fingerprint: str
    restart: Sequence[str]
    full_fingerprint: str | None = None  # default: the restart fingerprint
    reconfigure: Sequence[str] = ()  # empty: every change restarts
    record: str | None = None  # default: the service's name
    name: str | None = None  # default: "<service>: <what will happen>"
    # Run after the action, before the record: False fails the host (see `applied`).
    verify: Callable[..., bool] | None = None
    verify_kwargs: Mapping = field(default_factory=dict)


def daemon(
    service: str,
    *,
    packages: Sequence[str] = (),
    package_version: str | None = None,
    directories: Sequence[Directory] = (),
    config: Sequence[ConfigFile] = (),
    apply: Apply | None = None,
) -> None:
    """Converge one daemon in the order a daemon needs.

    + service: the systemd unit, running and enabled at the end
    + packages: Debian packages (installed without recommends, one apt call; none for
      those the host's early apt run installs, see `install_early`)
    + package_version: exact Debian version for every package (``name=version``)
    + directories: directories it needs, with owner and mode
    + config: its files, written before it (re)starts (those marked ``before_packages``
      before the packages, whose installation may start it); systemd reloads its units
      when a file under /etc/systemd/ changed (drop-ins)
    + apply: when and how a changed configuration is applied; None: never restarted by us

    .. code:: python

        daemon("squid", packages=["squid"], config=[ConfigFile(SQUID_CONF, text)],
               apply=Apply(fingerprint(text), restart=["systemctl restart squid"]))
    """
    early = [item for item in config if item.before_packages]
    written = [(item, _config_file(item)) for item in early]
    install(packages, package_version)
    for directory in directories:
        make_directory(directory.path, directory.user, directory.group, directory.mode)
    written += [(item, _config_file(item)) for item in config if item not in early]
    unit_changes = [op for item, op in written if item.path.startswith("/etc/systemd/")]
    if unit_changes:
        systemd.daemon_reload(
            name=f"Reload systemd after {service}'s unit files changed",
            _if=lambda: any(op.did_change() for op in unit_changes),
        )
    if apply is not None:
        record = apply.record or service
        current = read_record(record)
        full = apply.full_fingerprint or apply.restart_fingerprint
        action = daemon_action(current, apply.restart_fingerprint, full)
        if action == "reconfigure" and not apply.reconfigure:
            action = "restart"
        applied(
            name=apply.name or f"{service}: {ACTION_TEXT[action]}",
            record=record,
            current=current,
            restart_fingerprint=apply.restart_fingerprint,
            full_fingerprint=apply.full_fingerprint,
            restart=list(apply.restart),
            reconfigure=list(apply.reconfigure),
            verify=apply.verify,
            verify_kwargs=apply.verify_kwargs,
        )
    systemd.service(
        name=f"{service} running and enabled", service=service, running=True, enabled=True
    )


def _config_file(item: ConfigFile):
    if isinstance(item.content, SecretBytes):
        return secret_file(
            name=item.name or item.path,
            path=item.path,
            content=item.content,
            user=item.user,
            group=item.group,
            mode=item.mode,
        )
    return files.put(
        name=item.name or item.path,
        src=StringIO(item.content),
        dest=item.path,
        user=item.user,
        group=item.group,
        mode=item.mode,
    )


def make_directory(path: str, user: str, group: str, mode: str) -> None:
    """A directory with exactly this owner and mode (named so in the preview)."""
    files.directory(
        name=f"{path} {mode} {user}:{group}", path=path, user=user, group=group, mode=mode
    )


def read_record(record: str) -> str | None:
    """The applied record's text on this host (None when there is none)."""
    lines = host.get_fact(FileContents, path=f"{RECORD_DIR}/{record}")
    return "\n".join(lines) + "\n" if lines else None
