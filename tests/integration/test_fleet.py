"""A real fleet: a dead worker, a GPU count that changes, a refused configuration, a worker
that leaves (issue 8's proofs a, c, f, d, in that order).

On a sandbox of its own (`pytest-fleet`): these proofs stop, reshape and retire workers, and
as their own xdist group they run beside the session sandbox's tests.

Each proof changes the inventory as an admin would: a copy of the sandbox's generated
inventory beside it (so the sandbox's group data still applies), edited.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.pyinfra_run import run_pyinfra, running_sandbox
from tools.sandbox import slurm_checks as checks

SITE = "deploys/site.py"


def changed_ops(result: dict) -> dict[str, list[str]]:
    return {op["name"]: op["success"] for op in result["results"]["operations"] if op["success"]}


def inventory_variant(sandbox, name: str, edit) -> str:
    """The sandbox's inventory, edited by ``edit(text)``, written beside it."""
    path = sandbox.inventory_path.with_name(f"inventory-{name}.py")
    path.write_text(edit(sandbox.inventory_path.read_text()))
    return str(path)


def worker1_gpus(count: int):
    return lambda text: text.replace(
        "('worker1', {", f"('worker1', {{'node': {{'gpus': {count}}}, "
    )


def node(sandbox, name: str) -> str:
    return sandbox.exec("head", f"scontrol show node -o {name}")[1]


def srun_gpus(sandbox, gpus: int) -> tuple[int, str]:
    job = f"srun -w worker1 --gres=gpu:{gpus} -t 1 --immediate=20 true"
    return sandbox.exec("head", f"runuser -u slurm -- {job}")


@pytest.fixture(scope="module")
def sandbox():
    yield from running_sandbox("pytest-fleet")


@pytest.fixture(scope="module")
def pyinfra(sandbox):
    def run(*args: str, **kwargs):
        return run_pyinfra(sandbox.inventory_path, *args, **kwargs)

    return run


@pytest.fixture(scope="module")
def fleet(sandbox, pyinfra):
    result = pyinfra(SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    checks.wait_for_idle_nodes(sandbox, count=2)
    return sandbox


def test_a_dead_worker_fails_alone(fleet, sandbox):
    # Paused, worker2 is a host that does not answer (powered off, hung): SSH times out.
    container = sandbox.client.containers.get(sandbox.container_name("worker2"))
    container.pause()
    try:
        inventory = sandbox.inventory_path
        head = run_pyinfra(inventory, "deploys/head.py", "-y", "--limit", "head")
        assert changed_ops(head.json) == {}
        assert "Node lines from the head's record (outside --limit): worker1, worker2" in (
            head.stderr
        )
        worker = run_pyinfra(inventory, "deploys/worker.py", "-y", "--limit", "worker1")
        assert changed_ops(worker.json) == {}
        site = run_pyinfra(inventory, SITE, "-y", check=False, json_output=False)
        assert site.returncode != 0
        out = site.stdout + site.stderr
        # pyinfra's one line: "Could not connect (timed out)", or for a host that accepts TCP
        # but never answers SSH (this paused one) "SSH error (No existing session)"
        assert re.search(r"\[worker2\] (Could not connect|SSH error)", out), out[-3000:]
        assert "Traceback" not in out
        slurm_conf = (
            "/etc/slurm/slurm.conf "
            "(node lines from facts: worker1; from the head's record: worker2)"
        )
        assert slurm_conf in out, out[-3000:]
        assert "[head]    Error" not in out and "[worker1] Error" not in out
    finally:
        container.unpause()


def test_c_gpus_2_to_1_to_2_stick(fleet, sandbox):
    one = inventory_variant(sandbox, "one-gpu", worker1_gpus(1))
    result = run_pyinfra(one, SITE, "-y").json
    assert (
        "Slurm controller (head) | slurmctld: restart (a setting read only at start changed)"
        in (changed_ops(result))
    )
    assert "Gres=gpu:geforce_rtx_2080_ti:1 " in node(sandbox, "worker1")
    assert "State=IDLE " in node(sandbox, "worker1")
    rc, out = srun_gpus(sandbox, 2)
    assert rc != 0 and "Requested node configuration is not available" in out, out
    assert srun_gpus(sandbox, 1)[0] == 0

    result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    state = node(sandbox, "worker1")
    assert "Gres=gpu:geforce_rtx_2080_ti:2 " in state and "State=IDLE " in state, state
    assert srun_gpus(sandbox, 2)[0] == 0
    assert changed_ops(run_pyinfra(sandbox.inventory_path, SITE, "-y").json) == {}


def test_f_a_refused_configuration_fails_and_the_next_run_retries(fleet, sandbox):
    overrides = sandbox.group_data_dir / "all.py"
    original = overrides.read_text()
    overrides.write_text(
        original
        + '\nslurm = {**__production["slurm"], "config": {**__production["slurm"]["config"], '
        '"SchedulerType": "sched/snakepit_test_missing"}}\n'
    )
    try:
        started = time.monotonic()
        run = run_pyinfra(sandbox.inventory_path, SITE, "-y", check=False, json_output=False)
        out = run.stdout + run.stderr
        assert run.returncode != 0
        # slurmctld's own words, on the head's line (not only systemd's "see journalctl")
        assert re.search(r"\[head\].*(fatal|error).*sched", out, re.IGNORECASE), out[-3000:]
        assert "Traceback" not in out
        print(f"refused run: {time.monotonic() - started:.0f}s")
    finally:
        overrides.write_text(original)
    # The data is back to what slurmctld last took (its record was never replaced by the
    # refused one): the next run writes slurm.conf back, and slurmctld runs with it (systemd
    # may have restarted it already, so whether the run starts it is not asserted).
    result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    changed = changed_ops(result)
    assert any(n.startswith("Slurm controller (head) | /etc/slurm/slurm.conf") for n in changed)
    assert sandbox.exec("head", "systemctl is-active slurmctld")[0] == 0
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=120)


def test_d_a_removed_worker_leaves_slurm(fleet, sandbox):
    retired = run_pyinfra(sandbox.inventory_path, "deploys/retire.py", "-y", "--limit", "worker2")
    assert changed_ops(retired.json)
    assert sandbox.exec("worker2", "systemctl is-active slurmd")[1].strip() != "active"
    without = inventory_variant(
        sandbox,
        "without-worker2",
        lambda t: "\n".join(line for line in t.splitlines() if "'worker2'" not in line),
    )
    result = run_pyinfra(without, SITE, "-y", json_output=False)
    assert "Nodes leaving slurm.conf and gres.conf (no longer in the inventory): worker2" in (
        result.stderr + result.stdout
    )
    assert sandbox.exec("head", "sinfo -h -N -o %N")[1].split() == ["worker1"]
    assert (
        "worker2" not in sandbox.exec("head", "cat /etc/slurm/slurm.conf /etc/slurm/gres.conf")[1]
    )
    assert changed_ops(run_pyinfra(without, SITE, "-y").json) == {}
    # Back in the inventory: it rejoins (the rest of the session needs it).
    result = run_pyinfra(sandbox.inventory_path, SITE, "-y").json
    assert result["results"]["totals"]["error"] == 0
    sandbox.exec("head", "scontrol update nodename=worker2 state=resume")
    checks.wait_for_idle_nodes(sandbox, count=2, timeout=120)
