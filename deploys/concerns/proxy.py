"""A caching HTTP proxy on the head (squid on cluster.proxy.port) and its clients.

Why squid and not apt-cacher-ng: workers also get `http_proxy`/`https_proxy` for pip, git
and curl, which apt-cacher-ng (an apt-only cache) refuses; squid caches apt's .debs over
HTTP and tunnels HTTPS for everything else, limited to the cluster's subnet.
"""

from __future__ import annotations

import ipaddress
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import apt, files

from deploys.daemon import Apply, ConfigFile, daemon
from facts.network import HostAddresses
from operations import dpkg
from snakepit.model import Cluster
from snakepit.records import fingerprint

# The whole of squid.conf is ours: Debian's listens on 3128 on every interface and leaves
# `http_access deny to_localhost` commented out, so the head's localhost-only services
# (MariaDB, ...) answered anyone in the subnet through the proxy.
SQUID_CONF = "/etc/squid/squid.conf"
OLD_SQUID_CONF = "/etc/squid/conf.d/snakepit.conf"  # earlier versions' drop-in


def listen_addresses(cluster: Cluster, head_addresses: list[str]) -> list[str]:
    """The head's addresses inside the cluster subnet: where squid listens."""
    network = ipaddress.ip_network(cluster.subnet)
    inside = [a for a in head_addresses if ipaddress.ip_address(a) in network]
    if not inside:
        raise DeployError(
            f"the head has no address in cluster_subnet {cluster.subnet} "
            f"(hostname -I: {' '.join(head_addresses) or 'none'}): squid would listen "
            "nowhere the workers reach"
        )
    return inside


def squid_conf(cluster: Cluster, head_addresses: list[str]) -> str:
    """squid.conf: the cluster's subnet may fetch from anywhere but the head itself."""
    listen = "\n".join(
        f"http_port {address}:{cluster.proxy.port}"
        for address in listen_addresses(cluster, head_addresses)
    )
    return f"""\
# Managed by snakepit-pyinfra: the cluster's caching proxy (the whole configuration).
{listen}
acl SSL_ports port 443
acl Safe_ports port 80 21 443 70 210 1025-65535 280 488 591 777
acl snakepit_cluster src {cluster.subnet}
# squid 5.7 predefines to_localhost but not to_linklocal (cloud metadata, zeroconf).
acl snakepit_linklocal dst 169.254.0.0/16 fe80::/10
# The head's own addresses: its services are not reachable through the proxy.
acl snakepit_head dst {" ".join(head_addresses)}
# squid 5.7 without IPv6 aborts on a request for an IPv6 literal (http://[::1]:3306/) when
# it reaches the destination checks: any worker could restart it at will. The cluster
# is IPv4; such URLs (and CONNECT [..]:443) are refused before anything looks at their address.
acl snakepit_ipv6_literal url_regex -i ^([a-z]+://)?\\[
http_access deny snakepit_ipv6_literal
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access deny manager
http_access deny to_localhost
http_access deny snakepit_linklocal
http_access deny snakepit_head
http_access allow snakepit_cluster
http_access deny all
maximum_object_size 4096 MB
# Workers that ask for the same .deb at once (a rollout, a new batch of nodes) share one
# download from the mirror instead of one each.
collapsed_forwarding on
# A restart waits this long for open connections (default 30 s, on the run's critical path).
shutdown_lifetime 2 seconds
cache_dir ufs /var/spool/squid {cluster.proxy.cache_size_mib} 16 256
coredump_dir /var/spool/squid
# logrotate rotates the logs (Debian's conf.d/debian.conf, which this file replaces).
logfile_rotate 0
# Packages never change under the same name; indexes must be revalidated.
refresh_pattern -i \\.(deb|udeb)$ 129600 100% 129600 refresh-ims override-expire
refresh_pattern -i /(Release|InRelease|Packages(\\.(gz|xz))?|by-hash/.*)$ 0 20% 60 refresh-ims
refresh_pattern -i (/cgi-bin/|\\?) 0 0% 0
refresh_pattern . 0 20% 4320
"""


def no_proxy(cluster: Cluster) -> str:
    names = [*cluster.proxy.no_proxy, cluster.head, *cluster.workers, cluster.subnet]
    return ",".join(dict.fromkeys(names))


def apt_proxy_conf(cluster: Cluster) -> str:
    return (
        "// Managed by snakepit-pyinfra: apt goes through the head's caching proxy.\n"
        f'Acquire::http::Proxy "{cluster.proxy_url}";\n'
    )


def profile_proxy(cluster: Cluster) -> str:
    url = cluster.proxy_url
    return (
        "# Managed by snakepit-pyinfra: the cluster's proxy for every login shell.\n"
        f"export http_proxy={url} https_proxy={url} HTTP_PROXY={url} HTTPS_PROXY={url}\n"
        f"export no_proxy={no_proxy(cluster)} NO_PROXY={no_proxy(cluster)}\n"
    )


@deploy("Caching proxy (head)")
def proxy_server(cluster: Cluster) -> None:
    dpkg.consistent(name="dpkg finished any interrupted work")
    apt.update(name="Refresh apt's package lists (at most hourly)", cache_time=3600)
    content = squid_conf(cluster, host.get_fact(HostAddresses))
    conf = ConfigFile(
        SQUID_CONF,
        content,
        name=f"squid listens on {cluster.proxy.port} for {cluster.subnet}, never for the head",
        # Before the package: squid then starts with this file when installed, never with
        # Debian's (listening everywhere), and the first restart takes 2 s, not 30.
        before_packages=True,
    )
    daemon(
        "squid",
        packages=["squid"],
        config=[conf],
        apply=Apply(
            restart_fingerprint=fingerprint(content),
            restart=["squid -k parse", "systemctl restart squid"],
        ),
    )
    files.file(name=f"No {OLD_SQUID_CONF}", path=OLD_SQUID_CONF, present=False)


@deploy("Proxy settings (workers)")
def proxy_client(cluster: Cluster) -> None:
    files.put(
        name=f"apt uses {cluster.proxy_url}",
        src=StringIO(apt_proxy_conf(cluster)),
        dest="/etc/apt/apt.conf.d/01snakepit-proxy",
        mode="0644",
    )
    files.put(
        name="Proxy variables for login shells",
        src=StringIO(profile_proxy(cluster)),
        dest="/etc/profile.d/snakepit-proxy.sh",
        mode="0644",
    )
