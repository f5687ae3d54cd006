"""The pyinfra CLI with every host on pyinfra's fake connector, keeping its inventory name.

Used by bench/fleet_plan.py and tests/unit/test_fake_fleet.py:
``python bench/fake_pyinfra.py SUMMARY.json bench/fake_fleet/inventory.py deploys/site.py --dry``.

pyinfra 3.10 picks a host's connector only from an ``@connector/`` prefix of its inventory
name (no host data key picks one), and ``@fake/worker17`` stays the host's name. Here a
host's name is its Slurm node's name, a hostname the schema checks (it goes into slurm.conf
and /etc/hosts), so an ``@fake/`` name is refused before planning, rightly. This wrapper
makes ``FakeConnector`` the connector of every host instead, whatever its name: each one
answers from its ``fake_responses`` host data (a pyinfra key, left out of the schema by
``glue.loading.pyinfra_keys``) exactly as an ``@fake`` host does, and nothing is contacted.

SUMMARY.json, written when pyinfra exits, says per host how many operations were planned,
how many of them would change something, how many commands it answered and which of them
had no recorded answer, and which hosts failed: what tells a real plan from an empty one.
"""

from __future__ import annotations

import atexit
import json
import sys
from collections import defaultdict

import pyinfra.api.inventory as inventory_module
from pyinfra.api.connectors import get_execution_connectors
from pyinfra.connectors.fake import FakeConnector

# The stderr of the answer bench/fake_fleet/inventory.py gives a command nobody recorded.
UNRECORDED = "fake fleet: no answer recorded for this command (bench/fleet_plan.py --record)"
_UNANSWERED: dict[str, list[str]] = defaultdict(list)


def _every_connector_fake():
    return {name: FakeConnector for name in get_execution_connectors()}


def _noting_unrecorded(lookup):
    def wrapper(self, command_str):
        success, output = lookup(self, command_str)
        if not success and output.stderr_lines == [UNRECORDED]:
            _UNANSWERED[self.host.name].append(command_str)
        return success, output

    return wrapper


inventory_module.get_execution_connectors = _every_connector_fake
FakeConnector._lookup_response = _noting_unrecorded(FakeConnector._lookup_response)


def summary(state) -> dict:
    hosts = {}
    for host in state.inventory:
        ops = state.ops.get(host, {})
        hosts[host.name] = {
            "operations": len(ops),
            "changes": sum(1 for op in ops.values() if op.operation_meta._maybe_is_change),
            "commands": len(getattr(host.connector, "executed_commands", ())),
            "unrecorded": _UNANSWERED.get(host.name, []),
        }
    return {"hosts": hosts, "failed_hosts": sorted(host.name for host in state.failed_hosts)}


def _write(path: str) -> None:
    from pyinfra.context import ctx_state

    if ctx_state.isset():
        with open(path, "w") as handle:
            json.dump(summary(ctx_state.get()), handle)


if __name__ == "__main__":
    # The inventory imports UNRECORDED from here: this module, not a second copy of it.
    sys.modules.setdefault("bench.fake_pyinfra", sys.modules[__name__])
    summary_path = sys.argv.pop(1)
    atexit.register(_write, summary_path)
    sys.argv[0] = "pyinfra"
    from pyinfra_cli.main import main

    main()
