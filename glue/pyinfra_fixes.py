"""Fixes to pyinfra 3.10 behaviour that this project relies on, applied from config.py.

A host that dies mid-run must fail alone while the others finish (and a rerun converges it).
pyinfra turns OSError and SSHException from a command into a failure of that host, but when
the peer vanishes while paramiko opens a channel, paramiko re-raises its transport's
EOFError, which escapes pyinfra's handler and aborts the whole run after the current
operation. Here the SSH connector reports that EOFError as the SSHException it is.
An unreachable host is named by pyinfra in one line; paramiko's own traceback is silenced.
"""

from __future__ import annotations

import functools
import logging

from paramiko import SSHException
from pyinfra.connectors.ssh import SSHConnector

_PATCHED = "_snakepit_eof_as_ssh_error"


def _eof_as_ssh_error(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except EOFError as error:
            raise SSHException(f"connection lost ({error.__class__.__name__})") from error

    setattr(wrapper, _PATCHED, True)
    return wrapper


def apply() -> None:
    # A host that accepts TCP but never answers SSH (hung, paused) makes paramiko log its
    # own traceback ("Error reading SSH protocol banner") beside pyinfra's one line naming
    # the host; that line is the report.
    logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)
    for name in ("run_shell_command", "put_file", "get_file"):
        method = getattr(SSHConnector, name)
        if not getattr(method, _PATCHED, False):
            setattr(SSHConnector, name, _eof_as_ssh_error(method))
