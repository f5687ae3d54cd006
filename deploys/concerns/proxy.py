"""A caching HTTP proxy on the head (squid on cluster.proxy.port) and its clients.

Why squid and not apt-cacher-ng: workers also get `http_proxy`/`https_proxy` for pip, git
and curl, which apt-cacher-ng (an apt-only cache) refuses; squid caches apt's .debs over
HTTP and tunnels HTTPS for everything else, limited to the cluster's subnet.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from deploys.daemon import Apply, ConfigFile, daemon
from operations import dpkg
from snakepit.model import Cluster
from snakepit.records import fingerprint

SQUID_CONF = "/etc/squid/conf.d/snakepit.conf"


def squid_conf(cluster: Cluster) -> str:
    return f"""\
# Managed by snakepit-pyinfra: the cluster's caching proxy.
http_port {cluster.proxy.port}
acl snakepit_cluster src {cluster.subnet}
http_access allow snakepit_cluster
cache_dir ufs /var/spool/squid {cluster.proxy.cache_size_mib} 16 256
maximum_object_size 4096 MB
# Packages never change under the same name; indexes must be revalidated.
refresh_pattern -i \\.(deb|udeb)$ 129600 100% 129600 refresh-ims override-expire
refresh_pattern -i /(Release|InRelease|Packages(\\.(gz|xz))?|by-hash/.*)$ 0 20% 60 refresh-ims
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
    content = squid_conf(cluster)
    conf = ConfigFile(
        SQUID_CONF,
        content,
        name=f"squid listens on {cluster.proxy.port} for {cluster.subnet}",
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
