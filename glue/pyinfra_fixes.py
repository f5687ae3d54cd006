"""Fixes to pyinfra 3.10 behaviour that this project relies on, applied from config.py.

A host that dies mid-run must fail alone while the others finish (and a rerun converges it).
pyinfra turns OSError and SSHException from a command into a failure of that host, but when
the peer vanishes while paramiko opens a channel, paramiko re-raises its transport's
EOFError, which escapes pyinfra's handler and aborts the whole run after the current
operation. Here the SSH connector reports that EOFError as the SSHException it is.
An unreachable host is named by pyinfra in one line; paramiko's own traceback is silenced.

Whatever paramiko says when the peer is gone (EOFError, "SSH session not active", "Socket
is closed", a reset connection), the host's one error line says so in words:
``[worker2] Command socket/SSH error: SSHException('connection lost (SSH session not
active)',)``.
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
            result = method(*args, **kwargs)
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
        # A peer that vanished mid-command may end it without an exception: a failed
        # command over a transport that is no longer active is a lost connection too.
        if _failed(result) and not _transport_active(args[0] if args else None):
            raise SSHException("connection lost (the host stopped answering)")
        return result

    setattr(wrapper, _PATCHED, True)
    return wrapper


def _failed(result) -> bool:
    status = result[0] if isinstance(result, tuple) and result else result
    return status is False


def _transport_active(connector) -> bool:
    client = getattr(connector, "client", None)
    transport = client.get_transport() if client is not None else None
    return True if client is None else bool(transport and transport.is_active())


def apply() -> None:
    # A host that accepts TCP but never answers SSH (hung, paused) makes paramiko log its
    # own traceback ("Error reading SSH protocol banner") beside pyinfra's one line naming
    # the host; that line is the report.
    logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)
    for name in ("run_shell_command", "put_file", "get_file"):
        method = getattr(SSHConnector, name)
        if not getattr(method, _PATCHED, False):
            setattr(SSHConnector, name, _eof_as_ssh_error(method))
