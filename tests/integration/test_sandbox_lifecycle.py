"""`up` makes exactly the hosts asked for, `up` again resumes them, `down` leaves nothing."""

from __future__ import annotations

import os
import stat

from tools.sandbox.cluster import LABEL, Sandbox


def test_up_resume_resize_down():
    # $SNAKEPIT_SANDBOX_PREFIX keeps runs from several checkouts on one machine apart.
    sandbox = Sandbox(os.environ.get("SNAKEPIT_SANDBOX_PREFIX", "") + "pytest-life")
    try:
        first = sandbox.up(workers=1)
        assert [(h.name, h.role) for h in first] == [("head", "head"), ("worker1", "worker")]
        for private in (sandbox.key_path, sandbox.secrets_path):
            assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
        inventory = sandbox.inventory_path.read_text()
        assert "ssh_hostname" in inventory and first[1].address in inventory
        assert "@docker" not in inventory

        again = sandbox.up(workers=1)
        assert again == first  # same containers, same addresses: resumed, not rebuilt

        grown = sandbox.up(workers=2)
        assert [h.name for h in grown] == ["head", "worker1", "worker2"]
        shrunk = sandbox.up(workers=1)
        assert [h.name for h in shrunk] == ["head", "worker1"]
        assert [h.name for h in sandbox.hosts()] == ["head", "worker1"]
    finally:
        sandbox.down()
    client = sandbox.client
    assert client.containers.list(all=True, filters={"label": f"{LABEL}={sandbox.name}"}) == []
    assert client.networks.list(names=[sandbox.network_name]) == []
    assert not sandbox.state_dir.exists()  # keys, secrets, inventory, overrides: all gone
