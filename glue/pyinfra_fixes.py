"""Fixes to pyinfra 3.10 behaviour that this project relies on, applied from config.py.

A host that dies mid-run must fail alone while the others finish (and a rerun converges it).
pyinfra turns OSError and SSHException from a command into a failure of that host, but when
the peer vanishes while paramiko opens a channel, paramiko re-raises its transport's
EOFError, which escapes pyinfra's handler and aborts the whole run after the current
operation. Here the SSH connector reports that EOFError as the SSHException it is.
An unreachable host is named by pyinfra in one line; paramiko's own traceback is silenced.

Planning costs the controller time per operation call that grows with the fleet (issue 12's
200 fake workers, bench/fleet_plan.py): for every operation on every host pyinfra 3.10 takes
``inspect.stack()`` to order it, which reads a source line of every frame and, for the deploy
file it runs from a string, searches ``sys.modules`` for its module, twice per frame; and it
re-evaluates the type hints of its global arguments on every operation and fact call. Here
the same order comes from the frames' own file names and line numbers, and the global
arguments (a fixed TypedDict) are read once.

Whatever paramiko says when the peer is gone (EOFError, "SSH session not active", "Socket
is closed", a reset connection), the host's one error line says so in words:
``[worker2] Command socket/SSH error: SSHException('connection lost (SSH session not
active)',)``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys

import pyinfra
from paramiko import SSHException
from pyinfra.api.util import PYINFRA_INSTALL_DIR
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


def operation_order_from_frames(state) -> list[int]:
    """pyinfra.api.util.get_operation_order_from_stack without ``inspect.stack()``.

    The same list: the line numbers of the calling frames outside pyinfra, outermost first,
    from the first frame of the deploy file on (``getframeinfo`` names a frame by its code's
    file name and line, which is what is read here)."""
    frames = []
    frame = sys._getframe(1)  # the caller: pyinfra's operation decorator, as in pyinfra's
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    start = 0
    if state.current_deploy_filename:
        files = [frame.f_code.co_filename for frame in frames]
        deploy = state.current_deploy_filename
        # Not found: pyinfra's search ends on its own frame, which it skips: no line.
        start = files.index(deploy) if deploy in files else len(frames)
    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    line_numbers += [
        frame.f_lineno
        for frame in frames[start:]
        if not frame.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR)
    ]
    return line_numbers


@functools.cache
def _global_arguments() -> tuple[tuple[str, type], ...]:
    return tuple(_PYINFRA_ALL_GLOBAL_ARGUMENTS())


def all_global_arguments() -> list[tuple[str, type]]:
    """pyinfra's global arguments and their types, read once (a fresh list, as pyinfra's)."""
    return list(_global_arguments())


# The modules, not the names pyinfra.api exports (its `operation` is the decorator).
_ARGUMENTS, _FACTS, _OPERATION = (
    importlib.import_module(f"pyinfra.api.{name}") for name in ("arguments", "facts", "operation")
)
_PYINFRA_ALL_GLOBAL_ARGUMENTS = _ARGUMENTS.all_global_arguments


def apply() -> None:
    # A host that accepts TCP but never answers SSH (hung, paused) makes paramiko log its
    # own traceback ("Error reading SSH protocol banner") beside pyinfra's one line naming
    # the host; that line is the report.
    logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)
    for name in ("run_shell_command", "put_file", "get_file"):
        method = getattr(SSHConnector, name)
        if not getattr(method, _PATCHED, False):
            setattr(SSHConnector, name, _eof_as_ssh_error(method))
    _OPERATION.get_operation_order_from_stack = operation_order_from_frames
    _ARGUMENTS.all_global_arguments = all_global_arguments
    _FACTS.all_global_arguments = all_global_arguments
