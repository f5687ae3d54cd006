"""Directories that are made when missing and otherwise never touched."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.facts.files import Directory


@operation()
def directory_if_absent(path: str, user: str, group: str, mode: str):
    """
    Make a directory with this owner and mode when it is missing; an existing one is left
    exactly as it is (never re-owned or re-moded: it may hold data others arranged).

    + path: the directory
    + user, group: its owner when made
    + mode: its octal mode when made, e.g. ``"0555"``

    .. code:: python

        directory_if_absent(name="/snakepit/shared (made when missing)",
                            path="/snakepit/shared", user="root", group="root", mode="0555")
    """
    info = host.get_fact(Directory, path=path)
    if info is False:
        raise OperationError(f"{path} exists and is not a directory")
    if info:
        host.noop(
            f"{path} exists: left as it is ({info.get('mode')} "
            f"{info.get('user')}:{info.get('group')}, not managed)"
        )
        return
    quoted = shlex.quote(path)
    yield StringCommand(
        f"mkdir -p {quoted} && chown {shlex.quote(f'{user}:{group}')} {quoted} && "
        f"chmod {shlex.quote(mode)} {quoted}"
    )
