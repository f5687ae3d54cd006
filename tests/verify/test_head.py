"""The head: Slurm's controller and accounting, MariaDB, the proxy, the exported storage."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.role("head")

MARIADB_PORT = 3306
# Node states (and flags, joined with "+") that mean the node cannot take jobs.
UNUSABLE_NODE_STATES = {
    "DOWN",
    "DRAIN",
    "DRAINED",
    "DRAINING",
    "FAIL",
    "FAILING",
    "INVAL",
    "NOT_RESPONDING",
}


def listening_ports(host, port: int) -> list[str]:
    """The TCP addresses (``tcp://ADDRESS:PORT``) listening on ``port``."""
    return [
        spec
        for spec in host.socket.get_listening_sockets()
        if spec.startswith("tcp://") and spec.rsplit(":", 1)[1] == str(port)
    ]


def scontrol_nodes(host) -> dict[str, dict[str, str]]:
    """``scontrol show node -o``: {node name: {key: value}}."""
    nodes = {}
    for line in host.check_output("scontrol show node -o").splitlines():
        fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
        nodes[fields["NodeName"]] = fields
    return nodes


@pytest.mark.parametrize("service", ["slurmctld", "slurmdbd", "mariadb", "squid", "slurmrestd"])
def test_service_is_running_and_enabled(host, service):
    found = host.service(service)
    assert found.is_running
    assert found.is_enabled


def test_slurmdbd_conf_is_private_to_slurm(host):
    conf = host.file("/etc/slurm/slurmdbd.conf")
    assert conf.is_file
    assert (oct(conf.mode), conf.user, conf.group) == ("0o600", "slurm", "slurm")


def test_mariadb_listens_on_localhost_only(host):
    assert listening_ports(host, MARIADB_PORT) == [f"tcp://127.0.0.1:{MARIADB_PORT}"]


def test_squid_listens_on_the_proxy_port_for_the_cluster(host, expected):
    addresses = listening_ports(host, expected.proxy_port)
    assert addresses, f"nothing listens on {expected.proxy_port}"
    loopback = {f"tcp://127.0.0.1:{expected.proxy_port}", f"tcp://::1:{expected.proxy_port}"}
    assert set(addresses) - loopback, f"only loopback listens: {addresses}"


def test_slurmrestd_listens_and_takes_jwt_tokens(host, expected):
    if expected.restd_listen is None:
        pytest.skip("slurmrestd is off in the data")
    address, port = expected.restd_listen.rsplit(":", 1)
    assert f"tcp://{address}:{port}" in listening_ports(host, int(port))
    # A token from slurmctld opens the API; without one it refuses.
    token = host.check_output("scontrol token username=slurm lifespan=60").split("=", 1)[1]
    url = f"http://127.0.0.1:{port}/slurm/{expected.restd_api}/ping"
    headers = f"-H 'X-SLURM-USER-NAME: slurm' -H 'X-SLURM-USER-TOKEN: {token}'"
    assert host.run(f"curl -sf {headers} {url}").rc == 0
    assert host.run(f"curl -sf {url}").rc != 0


def test_export_directory_has_its_owner_and_mode(host, export):
    directory = host.file(export.path)
    assert directory.is_directory
    if export.keep_existing:
        return  # the data's owner and mode only if the deploy made it: see the deploy tests
    assert (directory.user, directory.group) == (export.owner, export.group)
    assert oct(directory.mode) == oct(export.mode)


def test_sinfo_lists_every_worker_in_its_partition(host, expected):
    listed = {}
    for line in host.check_output("sinfo -h -N -o '%N %P'").splitlines():
        node, partition = line.split()
        listed.setdefault(node, set()).add(partition.rstrip("*"))
    assert listed == {w.name: {w.partition} for w in expected.workers}


def test_no_worker_is_drained_down_or_invalid(host, expected):
    nodes = scontrol_nodes(host)
    assert sorted(nodes) == sorted(expected.worker_names)
    unusable = {
        name: fields["State"]
        for name, fields in nodes.items()
        if UNUSABLE_NODE_STATES & set(fields["State"].split("+"))
    }
    assert unusable == {}


def test_accounting_knows_the_cluster(host, expected):
    clusters = host.check_output("sacctmgr -n -P list cluster format=cluster").split()
    assert expected.cluster_name in clusters


def test_squid_listens_on_no_other_port_and_not_everywhere(host, expected):
    # Debian's squid.conf listens on 3128 on every interface; ours replaces it.
    assert listening_ports(host, 3128) == []
    wildcard = {f"tcp://0.0.0.0:{expected.proxy_port}", f"tcp://:::{expected.proxy_port}"}
    assert not wildcard & set(listening_ports(host, expected.proxy_port))
