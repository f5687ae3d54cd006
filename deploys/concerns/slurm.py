"""Slurm: slurmctld + slurmdbd (with MariaDB) on the head, configless slurmd on workers.

Daemons restart only when a setting that needs a restart changed, and slurm.conf changes
that slurmctld can take live go through `scontrol reconfigure` (see snakepit.slurm).
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

from deploys.daemon import Apply, ConfigFile, Directory, daemon, read_record
from facts.slurm import SlurmNodes
from glue import context
from operations.records import applied
from operations.secrets import SecretBytes, random_key_file, secret_file
from operations.slurm import LAST_FATAL_LINE, nodes_took_config
from snakepit import slurm
from snakepit.model import Cluster
from snakepit.parsers.slurm_nodes import DEPLOY_REASON_PREFIX
from snakepit.records import daemon_action, fingerprint, keyed_fingerprint
from snakepit.secrets import Secrets
from snakepit.slurm_settings import jwt_key_path

MARIADB_CONF_PATH = "/etc/mysql/mariadb.conf.d/60-snakepit.cnf"
MARIADB_CONF = """\
# Managed by snakepit-pyinfra: slurmdbd is the only client, on this host.
[mysqld]
bind-address = 127.0.0.1
innodb_lock_wait_timeout = 900
"""


def database_sql(cluster: Cluster, password: str) -> bytes:
    db, user = cluster.slurm.database, cluster.slurm.database_user
    return (
        f"CREATE DATABASE IF NOT EXISTS `{db}`;\n"
        f"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{password}';\n"
        f"ALTER USER '{user}'@'localhost' IDENTIFIED BY '{password}';\n"
        f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'localhost';\n"
        "FLUSH PRIVILEGES;\n"
    ).encode()


# How long a node may take to show slurmctld what was planned (slurmd's configless fetch,
# its registration) before the host fails.
VERIFY_WAIT_S = 90


def slurm_user(cluster: Cluster) -> str:
    """Whose name slurmctld signs its own drains with."""
    return str(cluster.slurm.conf.get("SlurmUser", "root"))


def restart_or_say_why(service: str) -> str:
    """Restart ``service``; when it does not start, print its last fatal or error line (its
    own reason, e.g. a refused slurm.conf) instead of only systemd's "see journalctl"."""
    unit = shlex.quote(service)
    return f"systemctl restart {unit} || {{ {LAST_FATAL_LINE.format(unit=unit)} >&2; exit 1; }}"


MARIADB_PACKAGES = ("mariadb-server",)
SLURM_DIRS = (
    Directory("/var/lib/slurm", "slurm", "slurm"),
    Directory("/var/log/slurm", "slurm", "slurm"),
)


@deploy("Slurm accounting: MariaDB + slurmdbd (head)")
def slurmdbd(cluster: Cluster, secrets: Secrets) -> None:
    packages = cluster.slurm.packages
    daemon(
        "mariadb",
        packages=MARIADB_PACKAGES,
        config=[
            ConfigFile(MARIADB_CONF_PATH, MARIADB_CONF, name="MariaDB listens on localhost only")
        ],
        apply=Apply(fingerprint(MARIADB_CONF), restart=["systemctl restart mariadb"]),
    )

    sql = database_sql(cluster, secrets.slurmdbd_db_password)
    sql_path = "/etc/snakepit/slurmdbd-database.sql"
    files.directory(name="/etc/snakepit (root only)", path="/etc/snakepit", mode="0700")
    secret_file(
        name="slurmdbd's database and user (SQL, 0600)",
        path=sql_path,
        content=SecretBytes(sql, "slurmdbd database SQL"),
        user="root",
        group="root",
        mode="0600",
    )
    applied(
        name="Create slurmdbd's database and user",
        record="slurmdbd-database",
        restart_fingerprint=keyed_fingerprint(secrets.record_key, sql),
        restart=[f"mariadb --batch < {shlex.quote(sql_path)}"],
    )

    conf = slurm.render_slurmdbd_conf(cluster, secrets.slurmdbd_db_password)
    daemon(
        "slurmdbd",
        packages=packages.database,
        package_version=packages.version,
        directories=SLURM_DIRS,
        config=[
            ConfigFile(
                "/etc/slurm/slurmdbd.conf",
                SecretBytes(conf.encode(), "slurmdbd.conf"),
                name="slurmdbd.conf (0600 slurm:slurm, holds the database password)",
                user="slurm",
                group="slurm",
                mode="0600",
            )
        ],
        apply=Apply(
            keyed_fingerprint(secrets.record_key, conf), restart=["systemctl restart slurmdbd"]
        ),
    )


@deploy("Slurm controller (head)")
def slurmctld(cluster: Cluster) -> None:
    # Planned before anything is written: a node that claims more than its hardware stops
    # the run here (HardwareMismatch), with one line per problem.
    nodes = context.node_lines()
    slurm_conf = slurm.render_slurm_conf(cluster, nodes)
    gres_conf = slurm.render_gres_conf(nodes)
    cgroup_conf = slurm.render_cgroup_conf()
    jwt_key = jwt_key_path(cluster.slurm.conf)
    if jwt_key is not None:
        random_key_file(
            name=f"JWT signing key {jwt_key} (made here when missing, 0600 slurm:slurm)",
            path=jwt_key,
            size=32,
            user="slurm",
            group="slurm",
            mode="0600",
        )
    cluster_name = shlex.quote(cluster.slurm.cluster_name)
    register = (
        f"sacctmgr -n -P list cluster format=cluster | grep -qx {cluster_name} || "
        f"sacctmgr -i add cluster {cluster_name}"
    )
    daemon(
        "slurmctld",
        packages=cluster.slurm.packages.controller,
        package_version=cluster.slurm.packages.version,
        directories=[
            *SLURM_DIRS,
            Directory("/var/lib/slurm/slurmctld", "slurm", "slurm", mode="0700"),
        ],
        config=[
            ConfigFile(
                "/etc/slurm/slurm.conf",
                slurm_conf,
                name=f"/etc/slurm/slurm.conf (node lines {slurm.line_sources(nodes)})",
            ),
            ConfigFile("/etc/slurm/gres.conf", gres_conf),
            ConfigFile("/etc/slurm/cgroup.conf", cgroup_conf),
        ],
        apply=Apply(
            restart_fingerprint=slurm.restart_fingerprint(
                slurm_conf, gres_conf, restart_keys=cluster.slurm.restart_keys, node_lines=True
            ),
            full_fingerprint=slurm.full_fingerprint(slurm_conf, gres_conf, cgroup_conf),
            restart=[register, restart_or_say_why("slurmctld")],
            reconfigure=["scontrol reconfigure"],
            # slurmctld holds every node's line as planned (a refused reconfigure keeps the
            # old one); each slurmd's registration is checked where it restarts.
            verify=nodes_took_config,
            verify_kwargs={
                "lines": nodes,
                "slurm_user": slurm_user(cluster),
                "registered": False,
                "wait_s": VERIFY_WAIT_S,
                "service": "slurmctld",
            },
        ),
    )
    # What the next run plans the lines of workers outside it from; written only once
    # slurmctld took this table (the host failed above otherwise).
    files.put(
        name="The head's record of the node table slurmctld took",
        src=StringIO(slurm.node_table_record(nodes)),
        dest=slurm.NODE_TABLE_RECORD,
        mode="0644",
    )


def slurmrestd_dropin(cluster: Cluster) -> str:
    restd = cluster.slurm.restd
    return (
        "# Managed by snakepit-pyinfra: JWT tokens over TCP, as an unprivileged user.\n"
        "[Service]\n"
        f"User={restd.user}\n"
        f"Group={restd.group}\n"
        "Environment=SLURM_JWT=daemon\n"
        "ExecStart=\n"
        f"ExecStart=/usr/sbin/slurmrestd $SLURMRESTD_OPTIONS -a rest_auth/jwt {restd.listen}\n"
    )


SLURMRESTD_DROPIN_PATH = "/etc/systemd/system/slurmrestd.service.d/snakepit.conf"


@deploy("Slurm REST API (head)")
def slurmrestd(cluster: Cluster) -> None:
    dropin = slurmrestd_dropin(cluster)
    # It reads slurm.conf (its auth plugins) only at start, like slurmctld.
    slurm_conf = slurm.render_slurm_conf(cluster, context.node_lines())
    daemon(
        "slurmrestd",
        packages=cluster.slurm.restd.packages,
        package_version=cluster.slurm.packages.version,
        config=[
            ConfigFile(
                SLURMRESTD_DROPIN_PATH,
                dropin,
                name=f"slurmrestd listens on {cluster.slurm.restd.listen} (JWT)",
            )
        ],
        apply=Apply(
            slurm.restart_fingerprint(slurm_conf, dropin, restart_keys=cluster.slurm.restart_keys),
            restart=["systemctl restart slurmrestd"],
        ),
    )


def slurmd_defaults(cluster: Cluster) -> str:
    return (
        "# Managed by snakepit-pyinfra: configless, the controller serves slurm.conf.\n"
        f'SLURMD_OPTIONS="--conf-server {cluster.head}"\n'
    )


# Debian 12's unit refuses to start without a local slurm.conf; configless has none.
# (Debian 13's has the condition commented out; the drop-in changes nothing there.)
SLURMD_DROPIN = """\
# Managed by snakepit-pyinfra: configless slurmd has no local slurm.conf.
[Unit]
ConditionPathExists=
"""
SLURMD_DROPIN_PATH = "/etc/systemd/system/slurmd.service.d/snakepit-configless.conf"


def slurmd_restart_fingerprint(cluster: Cluster, line: slurm.NodeLine) -> str:
    """Settings only a restart applies, this node's own line (gres changes need a slurmd
    restart) and how slurmd is started; the rest reaches slurmd through the controller."""
    globals_only = slurm.render_slurm_conf(cluster, [])
    return slurm.restart_fingerprint(
        globals_only,
        "nodes=" + ",".join(sorted(cluster.workers)),
        line.line,
        "gres=" + ",".join(f"{gres.type}:{gres.files}" for gres in line.gres),
        slurmd_defaults(cluster),
        SLURMD_DROPIN,
        restart_keys=cluster.slurm.restart_keys,
    )


@deploy("Slurm node daemon (worker), before slurmctld")
def slurmd_stopped_before_restart(cluster: Cluster) -> None:
    """Stop a slurmd that this run restarts, before slurmctld takes the new configuration.

    slurmctld (22.05) fixes a node's Gres count at the node's first registration after its
    own start: a slurmd still running with the old gres.conf registers first, and the new
    count is then refused ("Attempt to change gres/gpu Count on node ... invalid with File
    configuration"; a lower count drains the node). Stopped here, the node's first
    registration is its restarted slurmd's, with the new lines. Running jobs are not
    touched (slurmstepd outlives slurmd).
    """
    line = context.node_line(host.name)
    current = read_record("slurmd")
    action = daemon_action(current, slurmd_restart_fingerprint(cluster, line), "")
    if current is not None and action == "restart":
        systemd.service(
            name="slurmd: stopped until slurmctld has taken this node's new configuration",
            service="slurmd",
            running=False,
        )


@deploy("Slurm node daemon (worker)")
def slurmd(cluster: Cluster) -> None:
    line = context.node_line(host.name)
    defaults = slurmd_defaults(cluster)
    restart_fp = slurmd_restart_fingerprint(cluster, line)
    daemon(
        "slurmd",
        packages=cluster.slurm.packages.node,
        package_version=cluster.slurm.packages.version,
        directories=SLURM_DIRS,
        config=[
            # Before the packages: Debian 13's slurmd starts when installed (its unit
            # has no ConditionPathExists), and must find its controller then.
            ConfigFile(
                "/etc/default/slurmd",
                defaults,
                name="slurmd fetches its configuration from the controller",
                before_packages=True,
            ),
            ConfigFile(
                SLURMD_DROPIN_PATH,
                SLURMD_DROPIN,
                name="slurmd starts without a local slurm.conf",
                before_packages=True,
            ),
        ],
        apply=Apply(
            restart_fp,
            restart=[restart_or_say_why("slurmd")],
            # slurmd registered this node as planned and stays up (one that dies on a
            # gres.conf File it cannot stat fails the host here).
            verify=nodes_took_config,
            verify_kwargs={
                "lines": [line],
                "slurm_user": slurm_user(cluster),
                "registered": True,
                "wait_s": VERIFY_WAIT_S,
                "service": "slurmd",
            },
        ),
    )


RETIRED_REASON = f"{DEPLOY_REASON_PREFIX} retired"


@deploy("Retire this worker")
def slurmd_retired() -> None:
    """Drain the node (running jobs finish) and stop and disable its slurmd, before the host
    leaves the inventory (see deploys/retire.py)."""
    node = host.get_fact(SlurmNodes, nodes=host.name).get(host.name)
    if node is not None and not node.drained:
        server.shell(
            name=f"Drain {host.name} ({RETIRED_REASON})",
            commands=[
                f"scontrol update nodename={shlex.quote(host.name)} state=drain "
                f"reason={shlex.quote(RETIRED_REASON)}"
            ],
        )
    systemd.service(
        name="slurmd stopped and disabled", service="slurmd", running=False, enabled=False
    )
