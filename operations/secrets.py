"""Files that hold secrets: compared by SHA-256, uploaded without a diff, never printed."""

from __future__ import annotations

import io
import shlex

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.facts.files import File, Sha256File

from snakepit.records import fingerprint

# pyinfra's global arguments that make an upload go through a temporary file.
ELEVATION_ARGUMENTS = ("_sudo", "_su_user", "_doas", "_dzdo")


class SecretBuffer(io.BytesIO):
    """In-memory upload source whose every printable form hides the content."""

    def __init__(self, content: bytes, label: str):
        super().__init__(content)
        self.name = f"<secret {label}>"  # pyinfra's JSON encoder prints IO objects' names

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__


class SecretBytes:
    """Bytes that print as their label only: safe in operation arguments, logs and reprs,
    even where pyinfra records an operation's arguments (unnamed operations, JSON output)."""

    __slots__ = ("_value", "label")

    def __init__(self, value: bytes, label: str):
        self._value = value
        self.label = label

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return f"<secret {self.label}>"

    __str__ = __repr__


def into_place(staging: str, path: str, user: str, group: str, mode: str) -> str:
    """Give a private staging file its owner and mode, then move it over ``path``."""
    return (
        f"chown {shlex.quote(f'{user}:{group}')} {shlex.quote(staging)} && "
        f"chmod {shlex.quote(mode)} {shlex.quote(staging)} && "
        f"mv -f {shlex.quote(staging)} {shlex.quote(path)}"
    )


def owner_and_mode(path: str, info, user: str, group: str, mode: str) -> list[StringCommand]:
    """The chown/chmod an existing file needs (none when its File fact already matches).

    pyinfra's File fact gives the mode as the octal digits read as an int (0400 -> 400).
    """
    if not info:
        return []
    quoted = shlex.quote(path)
    commands = []
    if (info.get("user"), info.get("group")) != (user, group):
        commands.append(StringCommand(f"chown {shlex.quote(f'{user}:{group}')} {quoted}"))
    if info.get("mode") != int(mode):
        commands.append(StringCommand(f"chmod {shlex.quote(mode)} {quoted}"))
    return commands


@operation()
def secret_file(path: str, content: SecretBytes, user: str, group: str, mode: str):
    """
    Keep a file that holds a secret: exact content, owner and mode, with no diff and no
    content in any output. Changes are detected by SHA-256 fingerprint.

    + path: where the file lives on the host
    + content: the bytes it must hold, as ``SecretBytes`` (whose label is shown instead)
    + user, group: its owner
    + mode: octal mode, e.g. ``"0400"``

    .. code:: python

        secret_file(
            name="Install the munge key (sha256 only)",
            path="/etc/munge/munge.key", content=SecretBytes(key, "munge key"),
            user="munge", group="munge", mode="0400",
        )
    """
    if not isinstance(content, SecretBytes):
        raise TypeError("secret_file takes its content as SecretBytes, never plain bytes")
    label = content.label
    arguments = host.current_op_global_arguments or {}
    if any(arguments.get(key) for key in ELEVATION_ARGUMENTS):
        # pyinfra uploads through sudo/su/doas/dzdo by way of a temporary file that the
        # connecting user creates with its own umask (readable by others): never a secret.
        yield StringCommand(
            "echo "
            + shlex.quote(
                f"{label}: refusing to upload a secret through sudo/su (pyinfra stages it in "
                "a world-readable temporary file); connect as root (ssh_user=root)"
            )
            + " >&2; exit 1"
        )
        return
    current = host.get_fact(Sha256File, path=path)
    info = host.get_fact(File, path=path)
    wanted = fingerprint(content.reveal())
    if current != wanted:
        staging = f"{path}.snakepit-new"
        # The staging file is made private before the content arrives.
        yield StringCommand(f"umask 077 && install -m 0600 /dev/null {shlex.quote(staging)}")
        yield FileUploadCommand(SecretBuffer(content.reveal(), label), staging)
        yield StringCommand(into_place(staging, path, user, group, mode))
        return
    fixes = owner_and_mode(path, info, user, group, mode)
    yield from fixes
    if not fixes:
        host.noop(f"{label} at {path} is up to date")


@operation()
def random_key_file(path: str, size: int, user: str, group: str, mode: str):
    """
    A key of ``size`` random bytes, made on the host when missing (it never leaves the
    host); an existing key keeps its content and gets this owner and mode.

    + path: where the key lives
    + size: its length in bytes
    + user, group: its owner
    + mode: octal mode, e.g. ``"0600"``

    .. code:: python

        random_key_file(name="slurmctld's JWT key", path="/etc/slurm/jwt_hs256.key",
                        size=32, user="slurm", group="slurm", mode="0600")
    """
    info = host.get_fact(File, path=path)
    if info is False:
        raise OperationError(f"{path} exists and is not a file")
    if not info:
        staging = f"{path}.snakepit-new"
        yield StringCommand(
            f"umask 077 && head -c {int(size)} /dev/urandom > {shlex.quote(staging)} && "
            + into_place(staging, path, user, group, mode)
        )
        return
    fixes = owner_and_mode(path, info, user, group, mode)
    yield from fixes
    if not fixes:
        host.noop(f"{path} exists ({info.get('size')} bytes): kept")
