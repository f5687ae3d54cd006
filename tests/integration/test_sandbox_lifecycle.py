"""`up` makes exactly the hosts asked for, `up` again resumes them, a fleet spec shapes them,
the user's edits survive `up`, fake GPUs survive a restart, `down` leaves nothing."""

from __future__ import annotations

import os
import stat

from tools.sandbox.cluster import LABEL, Sandbox
from tools.sandbox.fleet import from_dict

FLEET = {
    "partitions": {
        "txp": {"gpus": 2, "workers": {"worker1": {}, "worker2": {"gpus": 1}}},
        "g2080": {"gpus": 2, "workers": {"worker3": {"driver": False}}},
    }
}


def device_files(sandbox: Sandbox, host: str) -> list[str]:
    _rc, out = sandbox.exec(host, "for f in /dev/nvidia*; do [ -c $f ] && echo $f; done; true")
    return out.split()


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

        # A fleet spec: two partitions, a worker with one GPU, one with no driver yet.
        fleet = sandbox.up(fleet=from_dict(FLEET))
        assert fleet[:2] == shrunk  # worker1 is the same container: it was left alone
        assert device_files(sandbox, "worker1") == ["/dev/nvidia0", "/dev/nvidia1"]
        assert device_files(sandbox, "worker2") == ["/dev/nvidia0"]
        assert device_files(sandbox, "worker3") == []  # no driver: no device files...
        # ...but it may use the ones a driver would make (its device rules), no other.
        rc, out = sandbox.exec("worker3", "mknod /tmp/gpu1 c 195 1 && : < /tmp/gpu1")
        assert "No such device or address" in out, out  # allowed; no driver behind it
        rc, out = sandbox.exec("worker3", "mknod /tmp/gpu2 c 195 2 && : < /tmp/gpu2")
        assert rc != 0 and "Operation not permitted" in out, out
        inventory = sandbox.inventory_path.read_text()
        assert "g2080 = [" in inventory and "'node': {'gpus': 1}" in inventory

        # The user's edit survives `up`; what `up` would write goes beside it.
        edited = sandbox.group_data_dir / "txp.py"
        edited.write_text(edited.read_text() + "node = {'gpus': 2, 'cpus': 2}  # mine\n")
        mine = edited.read_text()
        # A restart makes a new /dev: the image's init makes the fake GPUs again.
        sandbox.client.containers.get(sandbox.container_name("worker1")).restart()
        assert [h.name for h in sandbox.up()] == ["head", "worker1", "worker2", "worker3"]
        assert edited.read_text() == mine
        assert "# mine" not in (edited.parent / "txp.py.generated").read_text()
        assert device_files(sandbox, "worker1") == ["/dev/nvidia0", "/dev/nvidia1"]
    finally:
        sandbox.down()
    client = sandbox.client
    assert client.containers.list(all=True, filters={"label": f"{LABEL}={sandbox.name}"}) == []
    assert [n for n in client.networks.list() if n.name == sandbox.network_name] == []
    assert not sandbox.state_dir.exists()  # keys, secrets, inventory, overrides: all gone
