"""Fixes to pyinfra 3.10 behaviour that this project relies on, applied from config.py.

A host that dies mid-run must fail alone while the others finish (and a rerun converges it).
pyinfra turns OSError and SSHException from a command into a failure of that host, but when
the peer vanishes while paramiko opens a channel, paramiko re-raises its transport's
EOFError, which escapes pyinfra's handler and aborts the whole run after the current
operation. Here the SSH connector reports that EOFError as the SSHException it is.
An unreachable host is named by pyinfra in one line; paramiko's own traceback is silenced.

pyinfra orders operations by the line numbers of the calls that made them, read with
``inspect.stack()``, which also reads a line of source for every frame and looks up each
frame's module: about 40 % of the controller's CPU in a no-op converge. The same line
numbers are read here from the frames themselves (``operation_order_from_stack``). pyinfra
also re-evaluates the type hints of its global arguments (a fixed TypedDict) on every
operation and fact call; they are read once here. Together they halve the controller's CPU
to plan a big fleet (bench/fleet_plan.py).

With ``--no-wait`` (each host at its own pace: the rollout's batches), a host's failed
operation ends its greenlet with a PyinfraError that gevent prints as a traceback, and the
host is not marked failed; as in ``--serial``, it is now marked failed, with pyinfra's one
line ("[worker1] Error: ...") as the report.

Whatever paramiko says when the peer is gone (EOFError, "SSH session not active", "Socket
is closed", a reset connection), the host's one error line says so in words:
``[worker2] Command socket/SSH error: SSHException('connection lost (SSH session not
active)',)``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import sys

import pyinfra
from paramiko import SSHException
from pyinfra.api.exceptions import PyinfraError
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


def operation_order_from_stack(state) -> list[int]:
    """``pyinfra.api.util.get_operation_order_from_stack``, from frame objects: the line
    numbers of the calls from the deploy file down to the operation, pyinfra's own frames
    left out (the same list; ``tests/unit/test_pyinfra_fixes.py`` compares the two)."""
    frames = []
    frame = sys._getframe(0)  # this one too, as in pyinfra's (where it is pyinfra's own)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    start = 0
    if state.current_deploy_filename:
        for start, frame in enumerate(frames):  # noqa: B007 (the index is the result)
            if frame.f_code.co_filename == state.current_deploy_filename:
                break
    numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    numbers += [
        frame.f_lineno
        for frame in frames[start:]
        if not frame.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR)
        and frame.f_code is not _THIS_CODE
    ]
    return numbers


_THIS_CODE = operation_order_from_stack.__code__


@functools.cache
def _global_arguments() -> tuple[tuple[str, type], ...]:
    return tuple(_PYINFRA_ALL_GLOBAL_ARGUMENTS())


def all_global_arguments() -> list[tuple[str, type]]:
    """pyinfra's global arguments and their types, read once (a fresh list, as pyinfra's)."""
    return list(_global_arguments())


# The modules themselves: `import pyinfra.api.operation as m` binds pyinfra.api's attribute
# `operation`, which is the decorator, not the module.
pyinfra_arguments, pyinfra_facts, pyinfra_operation, pyinfra_operations = (
    importlib.import_module(f"pyinfra.api.{name}")
    for name in ("arguments", "facts", "operation", "operations")
)
_PYINFRA_ALL_GLOBAL_ARGUMENTS = pyinfra_arguments.all_global_arguments


def _host_fails_alone(run_host_ops):
    @functools.wraps(run_host_ops)
    def wrapper(state, host, *args, **kwargs):
        try:
            return run_host_ops(state, host, *args, **kwargs)
        except PyinfraError:
            # "No hosts remaining!": the run ends, as it would anyway.
            with contextlib.suppress(PyinfraError):
                state.fail_hosts({host})

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
    pyinfra_operation.get_operation_order_from_stack = operation_order_from_stack
    pyinfra_arguments.all_global_arguments = all_global_arguments
    pyinfra_facts.all_global_arguments = all_global_arguments
    if not getattr(pyinfra_operations._run_host_ops, _PATCHED, False):
        pyinfra_operations._run_host_ops = _host_fails_alone(pyinfra_operations._run_host_ops)
