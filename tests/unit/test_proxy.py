"""squid's configuration: the cluster's proxy, never a way into the head itself."""

from __future__ import annotations

import pytest
from pyinfra.api.exceptions import DeployError

from deploys.concerns.proxy import listen_addresses, squid_conf
from snakepit.parsers.network import parse_addresses
from tests.unit.production_data import production_cluster


def directives(text: str, name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_squid_listens_only_on_the_heads_cluster_address_and_port():
    text = squid_conf(production_cluster(), ["10.1.2.3", "192.168.1.1", "fd00::1"])
    assert directives(text, "http_port") == ["192.168.1.1:8123"]  # not 3128, not everywhere


def test_squid_denies_the_heads_own_addresses_before_allowing_the_cluster():
    text = squid_conf(production_cluster(), ["192.168.1.1", "fd00::1"])
    access = directives(text, "http_access")
    assert access == [
        "deny snakepit_ipv6_literal",
        "deny !Safe_ports",
        "deny CONNECT !SSL_ports",
        "deny manager",
        "deny to_localhost",
        "deny snakepit_linklocal",
        "deny snakepit_head",
        "allow snakepit_cluster",
        "deny all",
    ]
    assert "snakepit_head dst 192.168.1.1 fd00::1" in directives(text, "acl")
    assert "snakepit_cluster src 192.168.0.0/16" in directives(text, "acl")
    assert "include" not in text  # Debian's conf.d (and its 3128) is not read


def test_a_head_without_a_cluster_address_is_refused():
    with pytest.raises(DeployError, match=r"no address in cluster_subnet 192\.168\.0\.0/16"):
        listen_addresses(production_cluster(), ["10.1.2.3"])


def test_parse_addresses():
    assert parse_addresses("192.168.48.2 fd00::2 fe80::1%eth0 \n") == [
        "192.168.48.2",
        "fd00::2",
        "fe80::1",
    ]
    assert parse_addresses(["127.0.0.1 ::1 10.0.0.1 10.0.0.1"]) == ["10.0.0.1"]
    assert parse_addresses([]) == []
    with pytest.raises(ValueError):
        parse_addresses("not-an-address")


def test_ipv6_literals_are_refused_first():
    # squid 5.7 without IPv6 aborted on http://[::1]:3306/ (found in the sandbox).
    text = squid_conf(production_cluster(), ["192.168.1.1"])
    assert "snakepit_ipv6_literal url_regex -i ^([a-z]+://)?\\[" in directives(text, "acl")
    assert directives(text, "http_access")[0] == "deny snakepit_ipv6_literal"
