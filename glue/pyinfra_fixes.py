"""Fixes to pyinfra 3.10 behaviour that this project relies on, applied from config.py.

A host that dies mid-run must fail alone while the others finish (and a rerun converges it).
pyinfra turns OSError and SSHException from a command into a failure of that host, but when
the peer vanishes while paramiko opens a channel, paramiko re-raises its transport's
EOFError, which escapes pyinfra's handler and aborts the whole run after the current
operation. Here the SSH connector reports that EOFError as the SSHException it is.

Whatever paramiko says when the peer is gone (EOFError, "SSH session not active", "Socket
is closed", a reset connection), the host's one error line says so in words:
``[worker2] Command socket/SSH error: SSHException('connection lost (SSH session not
active)',)``.
"""

from __future__ import annotations

import functools

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
        except (SSHException, ConnectionError) as error:
            if str(error).startswith("connection lost"):
                raise
            raise SSHException(f"connection lost ({error})") from error
        except OSError as error:
            if "Socket is closed" not in str(error):
                raise  # a local file, say: not the connection
            raise SSHException(f"connection lost ({error})") from error

    setattr(wrapper, _PATCHED, True)
    return wrapper


def apply() -> None:
    for name in ("run_shell_command", "put_file", "get_file"):
        method = getattr(SSHConnector, name)
        if not getattr(method, _PATCHED, False):
            setattr(SSHConnector, name, _eof_as_ssh_error(method))
