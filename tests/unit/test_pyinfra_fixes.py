"""A dropped connection fails one host instead of aborting pyinfra's whole run."""

from __future__ import annotations

import inspect
import sys
from types import SimpleNamespace

import pyinfra
import pytest
from paramiko import SSHException
from pyinfra.api.util import get_operation_order_from_stack
from pyinfra.connectors.ssh import SSHConnector

from glue import pyinfra_fixes


def test_eof_from_paramiko_becomes_the_ssh_error_pyinfra_handles(monkeypatch):
    def vanished_peer(self, *args, **kwargs):
        raise EOFError()

    monkeypatch.setattr(SSHConnector, "run_shell_command", vanished_peer)
    with pytest.raises(EOFError):
        SSHConnector.run_shell_command(object(), "true")
    pyinfra_fixes.apply()
    pyinfra_fixes.apply()  # idempotent: wrapped once
    with pytest.raises(SSHException, match="connection lost"):
        SSHConnector.run_shell_command(object(), "true")
    assert SSHConnector.run_shell_command.__wrapped__ is vanished_peer


def test_other_errors_and_results_pass_through(monkeypatch):
    monkeypatch.setattr(SSHConnector, "put_file", lambda self, *a, **k: (True, "done"))
    pyinfra_fixes.apply()
    assert SSHConnector.put_file(object(), "src", "dest") == (True, "done")

    def broken(self, *args, **kwargs):
        raise ValueError("not a connection problem")

    monkeypatch.setattr(SSHConnector, "get_file", broken)
    pyinfra_fixes.apply()
    with pytest.raises(ValueError, match="not a connection problem"):
        SSHConnector.get_file(object(), "a", "b")


@pytest.mark.parametrize(
    ("raised", "said"),
    [
        (SSHException("SSH session not active"), "connection lost (SSH session not active)"),
        (OSError("Socket is closed"), "connection lost (Socket is closed)"),
        (ConnectionResetError("reset by peer"), "connection lost (reset by peer)"),
    ],
)
def test_every_lost_connection_is_said_in_words(monkeypatch, raised, said):
    def lost(self, *args, **kwargs):
        raise raised

    monkeypatch.setattr(SSHConnector, "run_shell_command", lost)
    pyinfra_fixes.apply()
    with pytest.raises(SSHException) as error:
        SSHConnector.run_shell_command(object(), "true")
    assert str(error.value) == said


def test_a_local_file_error_is_not_a_lost_connection(monkeypatch):
    def missing(self, *args, **kwargs):
        raise FileNotFoundError("no such file: src")

    monkeypatch.setattr(SSHConnector, "put_file", missing)
    pyinfra_fixes.apply()
    with pytest.raises(FileNotFoundError):
        SSHConnector.put_file(object(), "src", "dest")


class _Transport:
    def __init__(self, active: bool):
        self.active = active

    def is_active(self) -> bool:
        return self.active


class _Client:
    def __init__(self, transport):
        self.transport = transport

    def get_transport(self):
        return self.transport


class _Connector:
    def __init__(self, transport):
        self.client = _Client(transport)


def test_a_command_failed_over_a_dead_transport_is_a_lost_connection(monkeypatch):
    monkeypatch.setattr(SSHConnector, "run_shell_command", lambda self, *a, **k: (False, []))
    pyinfra_fixes.apply()
    with pytest.raises(SSHException, match="connection lost"):
        SSHConnector.run_shell_command(_Connector(_Transport(False)), "true")
    with pytest.raises(SSHException, match="connection lost"):
        SSHConnector.run_shell_command(_Connector(None), "true")
    # A command that failed over a live connection failed on its own: left as it is.
    assert SSHConnector.run_shell_command(_Connector(_Transport(True)), "false") == (False, [])


def test_operation_order_is_pyinfras_own_read_from_the_frames():
    from types import SimpleNamespace

    from pyinfra.api.util import get_operation_order_from_stack

    from glue.pyinfra_fixes import operation_order_from_stack

    def deploy_code(function):
        return nested(function)

    def nested(function):
        return function(state)

    for deploy_file in (__file__, None, "/nowhere/deploy.py"):
        state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=7)
        assert deploy_code(operation_order_from_stack) == deploy_code(
            get_operation_order_from_stack
        )
    state = SimpleNamespace(current_deploy_filename=__file__, current_op_file_number=7)
    assert len(deploy_code(operation_order_from_stack)) >= 2  # deploy_code's line, nested's


def _both_orders(state):
    # One line: both see this frame at the same line number.
    return get_operation_order_from_stack(state), pyinfra_fixes.operation_order_from_stack(state)


_BOTH_LINE = inspect.getsourcelines(_both_orders)[1] + 2


@pytest.mark.parametrize(
    ("deploy_file", "code_file"),
    [
        ("/nowhere/deploys/site.py", "/nowhere/deploys/site.py"),
        (None, "/nowhere/deploys/site.py"),
        ("/nowhere/deploys/site.py", "/nowhere/other.py"),  # not on the stack
    ],
)
@pytest.mark.parametrize("is_cli", [True, False])
def test_operation_order_from_frames_is_pyinfras_order(monkeypatch, deploy_file, code_file, is_cli):
    # A deploy file run from a string (as pyinfra's CLI runs one), calling through a nested,
    # multi-line call: the fix orders operations by exactly the lines pyinfra does.
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=99)
    source = (
        "def concern(state):\n"
        "    return both(\n"
        "        state,\n"
        "    )\n"
        "\n"
        "\n"
        "result = concern(\n"
        "    state)\n"
    )
    scope = {"both": _both_orders, "state": state}
    exec(compile(source, code_file, "exec"), scope)  # noqa: S102
    original, fixed = scope["result"]
    assert fixed == original
    assert (fixed[:1] == [99]) is is_cli
    if deploy_file == code_file or deploy_file is None:
        assert fixed[-3:] == [7, 2, _BOTH_LINE]
    else:
        assert fixed == ([99] if is_cli else [])


def test_apply_installs_the_fixes_where_pyinfra_calls_them():
    # On the modules themselves: pyinfra.api's attribute `operation` is the decorator.
    pyinfra_fixes.apply()
    operation_module = sys.modules["pyinfra.api.operation"]
    assert operation_module.get_operation_order_from_stack is (
        pyinfra_fixes.operation_order_from_stack
    )
    for module in ("pyinfra.api.arguments", "pyinfra.api.facts"):
        assert sys.modules[module].all_global_arguments is pyinfra_fixes.all_global_arguments


def test_global_arguments_are_pyinfras():
    assert pyinfra_fixes.all_global_arguments() == pyinfra_fixes._PYINFRA_ALL_GLOBAL_ARGUMENTS()
    assert pyinfra_fixes.all_global_arguments() is not pyinfra_fixes.all_global_arguments()


def test_no_wait_a_failed_host_gets_one_line_and_no_traceback(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    deploy = tmp_path / "fails.py"
    deploy.write_text(
        "from pyinfra.operations import server\n"
        "server.shell(name='fails', commands=['false'])\n"
        "server.shell(name='never', commands=['true'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pyinfra", "@local", str(deploy), "-y", "--no-wait"],
        cwd=Path(__file__).resolve().parents[2],  # config.py applies the fixes
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "[@local] Error" in out
    assert "Traceback" not in out, out
