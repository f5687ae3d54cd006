"""The pyinfra CLI, counting every remote command and upload per host.

Used by bench/converge.py: ``python bench/counting_pyinfra.py COUNTS.json <pyinfra args>``.
Counts go to COUNTS.json when pyinfra exits (facts count too: each is one remote command).
"""

from __future__ import annotations

import atexit
import json
import sys
from collections import Counter

from pyinfra.connectors.ssh import SSHConnector

COMMANDS: Counter[str] = Counter()
UPLOADS: Counter[str] = Counter()


def _counting(method, counter):
    def wrapper(self, *args, **kwargs):
        counter[self.host.name] += 1
        return method(self, *args, **kwargs)

    return wrapper


SSHConnector.run_shell_command = _counting(SSHConnector.run_shell_command, COMMANDS)
SSHConnector.put_file = _counting(SSHConnector.put_file, UPLOADS)


def _write(path: str) -> None:
    with open(path, "w") as handle:
        json.dump({"commands": dict(COMMANDS), "uploads": dict(UPLOADS)}, handle)


if __name__ == "__main__":
    counts_path = sys.argv.pop(1)
    atexit.register(_write, counts_path)
    sys.argv[0] = "pyinfra"
    from pyinfra_cli.main import main

    main()
