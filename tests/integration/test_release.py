"""Debian 13 with its Slurm 24.11: the cluster tests of test_cluster.py, run again on a
sandbox of Debian 13 hosts (its own image, built by the same recipe).

The tests are test_cluster.py's own functions, imported here: pytest runs them in this
module, where `sandbox` and `pyinfra` are the Debian 13 sandbox's. Only the tests that
prove what differs per release are taken (converge, jobs, GRES and cgroup confinement, the
verify suite, idempotence, previews); the rest (bad input, secrets, users, a killed
worker) do not depend on the release and run once, on Debian 12.
"""

from __future__ import annotations

import pytest

from tests.integration.pyinfra_run import run_pyinfra, running_sandbox
from tests.integration.test_cluster import (  # noqa: F401 (collected here, on Debian 13)
    converged,
    group_data_edit,
    test_a_gpu_job_opens_only_its_own_gpus,
    test_a_job_over_its_memory_is_killed_by_the_cgroup,
    test_converged_cluster_passes_the_verify_suite,
    test_dry_run_after_adding_a_user_shows_exactly_that,
    test_dry_run_after_changing_a_partition,
    test_dry_run_after_converge_shows_no_change,
    test_first_converge_changes_every_host,
    test_gres_gpu_jobs_get_distinct_devices_and_a_third_waits,
    test_second_converge_changes_nothing,
    test_sinfo_srun_and_shared_storage,
    test_slurm_runs_the_production_cgroup_plugins,
)

RELEASE = "13"


@pytest.fixture(scope="module")
def sandbox():
    yield from running_sandbox(f"pytest-debian{RELEASE}", release=RELEASE)


@pytest.fixture(scope="module")
def pyinfra(sandbox):
    def run(*args: str, **kwargs):
        return run_pyinfra(sandbox.inventory_path, *args, **kwargs)

    return run


@pytest.mark.usefixtures("converged")
def test_hosts_run_debian_13_and_slurm_24_11(sandbox):
    for host in ("head", "worker1", "worker2"):
        rc, out = sandbox.exec(host, ". /etc/os-release && echo $VERSION_ID")
        assert (rc, out.strip()) == (0, RELEASE), host
    rc, out = sandbox.exec("head", "sinfo -V")
    assert rc == 0 and out.startswith("slurm-wlm 24.11."), out
