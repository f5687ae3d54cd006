"""The sandbox is made of real hosts, and every custom fact reads them correctly over SSH."""

from __future__ import annotations

import pytest

from tools.sandbox.cluster import Sandbox

CUSTOM_FACTS = (
    "facts.dpkg.DpkgBom",
    "facts.dpkg.HeldPackages",
    "facts.hardware.Hardware",
    "facts.nvidia.NvidiaSmi",
)
HOSTS = {"head", "worker1", "worker2"}


def test_hosts_run_systemd_and_resolve_each_other(sandbox):
    assert [h.name for h in sandbox.hosts()] == ["head", "worker1", "worker2"]
    for host in HOSTS:
        rc, out = sandbox.exec(host, "cat /proc/1/comm; hostname; systemctl is-system-running")
        assert rc == 0, out
        comm, hostname, state = out.split()
        assert (comm, hostname, state) == ("systemd", host, "running")
    rc, out = sandbox.exec("head", "getent hosts worker1 worker2")
    assert rc == 0 and "worker1" in out and "worker2" in out


def test_each_host_has_its_own_ssh_host_key(sandbox):
    keys = set()
    for host in HOSTS:
        rc, out = sandbox.exec(host, "cat /etc/ssh/ssh_host_ed25519_key.pub")
        assert rc == 0
        keys.add(out.split()[1])
    assert len(keys) == len(HOSTS)


def test_every_custom_fact_reads_every_host(pyinfra):
    facts = pyinfra("fact", "server.Hostname", *CUSTOM_FACTS).json
    assert facts["server.Hostname"] == {host: host for host in HOSTS}
    for fact in CUSTOM_FACTS:
        assert set(facts[fact]) == HOSTS, fact
        assert all(value is not None for value in facts[fact].values()), fact
    for host in HOSTS:
        bom = facts["facts.dpkg.DpkgBom"][host]
        assert bom["openssh-server:amd64"]["state"] == "installed"
        assert bom["base-files:amd64"]["version"].startswith("12.")


def test_bom_fact_equals_dpkg_query(sandbox, pyinfra):
    facts = pyinfra("fact", "facts.dpkg.DpkgBom", "--limit", "worker1").json
    packages = facts["facts.dpkg.DpkgBom"]["worker1"]
    rc, out = sandbox.exec(
        "worker1", "dpkg-query -W -f='${Package} ${Architecture} ${Version} ${db:Status-Abbrev}\\n'"
    )
    assert rc == 0
    expected = {}
    for line in out.splitlines():
        name, arch, version, flags = line.split(maxsplit=3)
        expected[f"{name}:{arch}"] = (version, flags.strip())
    got = {
        key: (p["version"], (p["desired"] + p["status"] + p["error"]).strip())
        for key, p in packages.items()
    }
    assert got == expected
    assert len(got) > 100


def test_held_package_shows_in_both_facts(sandbox, pyinfra):
    rc, _ = sandbox.exec("worker1", "apt-mark hold less")
    assert rc == 0
    try:
        facts = pyinfra(
            "fact", "facts.dpkg.HeldPackages", "facts.dpkg.DpkgBom", "--limit", "worker1"
        ).json
        assert "less" in facts["facts.dpkg.HeldPackages"]["worker1"]
        less = facts["facts.dpkg.DpkgBom"]["worker1"]["less:amd64"]
        assert (less["desired"], less["status"], less["state"]) == ("h", "i", "held")
    finally:
        sandbox.exec("worker1", "apt-mark unhold less")


def test_hardware_fact_matches_the_kernel(sandbox, pyinfra):
    facts = pyinfra("fact", "facts.hardware.Hardware", "--limit", "head").json
    hardware = facts["facts.hardware.Hardware"]["head"]
    rc, out = sandbox.exec("head", "nproc --all; awk '/^MemTotal:/ {print $2}' /proc/meminfo")
    assert rc == 0
    cpus, mem_kib = (int(v) for v in out.split())
    assert hardware["cpus"] == cpus
    assert hardware["real_memory_mib"] == mem_kib // 1024
    assert hardware["sockets"] * hardware["cores_per_socket"] * hardware["threads_per_core"] == (
        cpus
    )


@pytest.fixture(scope="module")
def worker_with_nvidia_smi(sandbox: Sandbox):
    """Debian's real nvidia-smi (non-free) on worker2; these machines have no GPU."""
    rc, out = sandbox.exec(
        "worker2",
        "command -v nvidia-smi || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -qq --no-install-recommends nvidia-smi) 2>&1",
    )
    assert rc == 0, out[-2000:]
    yield "worker2"
    # Leave the host as it was for the tests that converge it after this module.
    rc, out = sandbox.exec(
        "worker2",
        "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq nvidia-smi libnvidia-ml1 "
        "&& apt-get autoremove -y -qq --purge 2>&1",
    )
    assert rc == 0, out[-2000:]


def test_nvidia_smi_fact_reports_no_driver_instead_of_failing(worker_with_nvidia_smi, pyinfra):
    result = pyinfra("fact", "facts.nvidia.NvidiaSmi")
    reports = result.json["facts.nvidia.NvidiaSmi"]
    assert reports["worker2"]["state"] == "no-driver"
    assert reports["worker2"]["message"]
    assert reports["head"]["state"] == reports["worker1"]["state"] == "not-installed"


def test_fact_from_the_cli_prints_each_hosts_state(worker_with_nvidia_smi, pyinfra):
    """What an admin types: `pyinfra <inventory> fact facts.nvidia.NvidiaSmi`."""
    result = pyinfra("fact", "facts.nvidia.NvidiaSmi", json_output=False)
    assert result.returncode == 0
    assert '"state": "no-driver"' in result.stderr
    assert result.stderr.count('"state": "not-installed"') == 2
