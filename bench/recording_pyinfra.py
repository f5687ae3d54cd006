"""The pyinfra CLI, recording every remote command and its answer per host.

Used by bench/fleet_plan.py: ``python bench/recording_pyinfra.py RECORD.json <pyinfra args>``.
Each command is recorded as pyinfra's fake connector will see it (the masked value of the
command before sudo and shell wrapping), so a recorded answer can be replayed by ``@fake``'s
``fake_responses``. The record goes to RECORD.json when pyinfra exits; it holds the hosts'
answers as they came, so bench/fleet_plan.py checks it for secrets before keeping any of it.
"""

from __future__ import annotations

import atexit
import json
import sys

from pyinfra.connectors.ssh import SSHConnector

RECORD: dict[str, list[dict]] = {}


def command_text(command) -> str:
    """The command as the fake connector matches it (FakeConnector.run_shell_command)."""
    return command if isinstance(command, str) else command.get_masked_value()


def _recording(method):
    def wrapper(self, command, *args, **kwargs):
        success, output = method(self, command, *args, **kwargs)
        RECORD.setdefault(self.host.name, []).append(
            {
                "command": command_text(command),
                "success": success,
                "stdout": output.stdout_lines,
                "stderr": output.stderr_lines,
            }
        )
        return success, output

    return wrapper


SSHConnector.run_shell_command = _recording(SSHConnector.run_shell_command)


def _write(path: str) -> None:
    with open(path, "w") as handle:
        json.dump(RECORD, handle)


if __name__ == "__main__":
    record_path = sys.argv.pop(1)
    atexit.register(_write, record_path)
    sys.argv[0] = "pyinfra"
    from pyinfra_cli.main import main

    main()
