"""GPU health in the converge: a worker whose nvidia-smi says its stack is broken is drained
with the state as the reason; once healthy, the next converge resumes it.

The session sandbox's workers have fake GPUs and no driver. A broken stack is simulated the
way it shows on a real host after a driver upgrade without a reboot: the kernel module is
"loaded" (a /proc/driver/nvidia/version on a tmpfs over /proc/driver) while nvidia-smi says
"Driver/library version mismatch"; healthy is nvidia-smi printing a recorded -q -x document
of two RTX 2080 Ti (the sandbox's GPU model).
"""

from __future__ import annotations

import shlex

import pytest

from snakepit.parsers.slurm_nodes import parse_node_line
from tests.integration.pyinfra_run import REPO_ROOT

pytestmark = pytest.mark.docker

WORKER = "worker1"
FAKE = "/usr/local/bin/nvidia-smi"
XML = REPO_ROOT / "tests/fixtures/nvidia-smi/xml-rtx2080ti-x2-driver-410.73.xml"
MISMATCH = (
    "#!/bin/sh\n"
    'echo "Failed to initialize NVML: Driver/library version mismatch"\n'
    'echo "NVML library version: 535.309"\n'
    "exit 18\n"
)
HEALTHY = f"#!/bin/sh\ncat <<'XML'\n{XML.read_text().rstrip()}\nXML\n"


def put_nvidia_smi(sandbox, script: str) -> None:
    rc, out = sandbox.exec(WORKER, f"printf %s {shlex.quote(script)} > {FAKE} && chmod 755 {FAKE}")
    assert rc == 0, out


def node(sandbox):
    rc, out = sandbox.exec("head", f"scontrol show node -o {WORKER}")
    assert rc == 0, out
    return parse_node_line(out.strip())


def converge_worker(pyinfra):
    # The GPU stack's own deploy: the same concerns (manifest, then GPU health) as the
    # worker converge runs after slurmd, at a fraction of its time.
    return pyinfra("deploys/tools/cuda.py", "-y", "--limit", WORKER)


@pytest.fixture
def loaded_module(sandbox, pyinfra):
    """A converged cluster, and a worker whose kernel module looks loaded."""
    if sandbox.exec("head", "scontrol ping")[0] != 0:  # run alone: converge first
        pyinfra("deploys/site.py", "-y")
    mount = (
        "mount -t tmpfs tmpfs /proc/driver && mkdir /proc/driver/nvidia && "
        "echo 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.309.01' "
        "> /proc/driver/nvidia/version"
    )
    rc, out = sandbox.exec(WORKER, mount)
    assert rc == 0, out
    yield
    sandbox.exec(WORKER, f"umount /proc/driver; rm -f {FAKE}")
    sandbox.exec("head", f"scontrol update nodename={WORKER} state=resume")  # if a test failed


def test_a_broken_gpu_stack_drains_the_worker_until_it_is_healthy(sandbox, pyinfra, loaded_module):
    put_nvidia_smi(sandbox, MISMATCH)
    result = converge_worker(pyinfra)
    assert "GPU health: drain worker1: snakepit: gpu driver-mismatch" in result.stderr
    drained = node(sandbox)
    assert drained.drained and drained.reason == "snakepit: gpu driver-mismatch"

    put_nvidia_smi(sandbox, HEALTHY)
    healed = converge_worker(pyinfra)
    assert "GPU health: resume worker1" in healed.stderr
    resumed = node(sandbox)
    assert not resumed.drained, resumed.state_text
