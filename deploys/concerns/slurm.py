"""Slurm: slurmctld + slurmdbd (with MariaDB) on the head, configless slurmd on workers.

Daemons restart only when a setting that needs a restart changed, and slurm.conf changes
that slurmctld can take live go through `scontrol reconfigure` (see snakepit.slurm).
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from glue import context
from operations.records import applied, fingerprint, pending_action
from operations.secrets import SecretBytes, secret_file
from snakepit import slurm
from snakepit.model import Cluster
from snakepit.secrets import Secrets

MARIADB_CONF = """\
# Managed by snakepit-pyinfra: slurmdbd is the only client, on this host.
[mysqld]
bind-address = 127.0.0.1
innodb_lock_wait_timeout = 900
"""


ACTION_TEXT = {
    "none": "configuration already applied",
    "reconfigure": "scontrol reconfigure (settings it takes live changed)",
    "restart": "restart (a setting read only at start changed)",
}


def database_sql(cluster: Cluster, password: str) -> bytes:
    db, user = cluster.slurm.database, cluster.slurm.database_user
    return (
        f"CREATE DATABASE IF NOT EXISTS `{db}`;\n"
        f"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{password}';\n"
        f"ALTER USER '{user}'@'localhost' IDENTIFIED BY '{password}';\n"
        f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'localhost';\n"
        "FLUSH PRIVILEGES;\n"
    ).encode()


def _slurm_dirs() -> None:
    for path, owner in (("/var/lib/slurm", "slurm"), ("/var/log/slurm", "slurm")):
        files.directory(
            name=f"{path} owned by {owner}", path=path, user=owner, group=owner, mode="0755"
        )


@deploy("Slurm accounting: MariaDB + slurmdbd (head)")
def slurmdbd(cluster: Cluster, secrets: Secrets) -> None:
    apt.packages(
        name="Install MariaDB and slurmdbd",
        packages=["mariadb-server", "slurmdbd"],
        no_recommends=True,
    )
    _slurm_dirs()
    files.put(
        name="MariaDB listens on localhost only",
        src=StringIO(MARIADB_CONF),
        dest="/etc/mysql/mariadb.conf.d/60-snakepit.cnf",
        mode="0644",
    )
    applied(
        name="Restart MariaDB when its configuration changed",
        record="mariadb",
        restart_fingerprint=fingerprint(MARIADB_CONF),
        restart=["systemctl restart mariadb"],
    )
    systemd.service(
        name="MariaDB running and enabled", service="mariadb", running=True, enabled=True
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
        restart_fingerprint=fingerprint(sql),
        restart=[f"mariadb --batch < {shlex.quote(sql_path)}"],
    )

    conf = slurm.render_slurmdbd_conf(cluster, secrets.slurmdbd_db_password)
    secret_file(
        name="slurmdbd.conf (0600 slurm:slurm, holds the database password)",
        path="/etc/slurm/slurmdbd.conf",
        content=SecretBytes(conf.encode(), "slurmdbd.conf"),
        user="slurm",
        group="slurm",
        mode="0600",
    )
    applied(
        name="Restart slurmdbd when slurmdbd.conf changed",
        record="slurmdbd",
        restart_fingerprint=fingerprint(conf),
        restart=["systemctl restart slurmdbd"],
    )
    systemd.service(
        name="slurmdbd running and enabled", service="slurmdbd", running=True, enabled=True
    )


@deploy("Slurm controller (head)")
def slurmctld(cluster: Cluster) -> None:
    # Planned before anything is written: a node that claims more than its hardware stops
    # the run here (HardwareMismatch), with one line per problem.
    nodes = context.node_lines()
    slurm_conf = slurm.render_slurm_conf(cluster, nodes)
    gres_conf = slurm.render_gres_conf(nodes)
    cgroup_conf = slurm.render_cgroup_conf()

    apt.packages(
        name="Install slurmctld and the Slurm client tools",
        packages=["slurmctld", "slurm-client"],
        no_recommends=True,
    )
    _slurm_dirs()
    files.directory(
        name="slurmctld state directory",
        path="/var/lib/slurm/slurmctld",
        user="slurm",
        group="slurm",
        mode="0700",
    )
    for name, text in (
        ("slurm.conf", slurm_conf),
        ("gres.conf", gres_conf),
        ("cgroup.conf", cgroup_conf),
    ):
        files.put(
            name=f"/etc/slurm/{name}", src=StringIO(text), dest=f"/etc/slurm/{name}", mode="0644"
        )
    cluster_name = shlex.quote(cluster.slurm.cluster_name)
    register = (
        f"sacctmgr -n -P list cluster format=cluster | grep -qx {cluster_name} || "
        f"sacctmgr -i add cluster {cluster_name}"
    )
    restart_fp = slurm.restart_fingerprint(slurm_conf)
    full_fp = slurm.full_fingerprint(slurm_conf, gres_conf, cgroup_conf)
    action = pending_action("slurmctld", restart_fp, full_fp, reconfigurable=True)
    applied(
        name=f"slurmctld: {ACTION_TEXT[action]}",
        record="slurmctld",
        restart_fingerprint=restart_fp,
        full_fingerprint=full_fp,
        restart=[register, "systemctl restart slurmctld"],
        reconfigure=["scontrol reconfigure"],
    )
    systemd.service(
        name="slurmctld running and enabled", service="slurmctld", running=True, enabled=True
    )


def slurmd_defaults(cluster: Cluster) -> str:
    return (
        "# Managed by snakepit-pyinfra: configless, the controller serves slurm.conf.\n"
        f'SLURMD_OPTIONS="--conf-server {cluster.head}"\n'
    )


# Debian's unit refuses to start without a local slurm.conf; configless has none.
SLURMD_DROPIN = """\
# Managed by snakepit-pyinfra: configless slurmd has no local slurm.conf.
[Unit]
ConditionPathExists=
"""


@deploy("Slurm node daemon (worker)")
def slurmd(cluster: Cluster) -> None:
    line = context.node_line(host.name)
    defaults = slurmd_defaults(cluster)

    apt.packages(
        name="Install slurmd and the Slurm client tools",
        packages=["slurmd", "slurm-client"],
        no_recommends=True,
    )
    _slurm_dirs()
    files.put(
        name="slurmd fetches its configuration from the controller",
        src=StringIO(defaults),
        dest="/etc/default/slurmd",
        mode="0644",
    )
    dropin = files.put(
        name="slurmd starts without a local slurm.conf",
        src=StringIO(SLURMD_DROPIN),
        dest="/etc/systemd/system/slurmd.service.d/snakepit-configless.conf",
        mode="0644",
    )
    systemd.daemon_reload(
        name="Reload systemd after the slurmd drop-in changed", _if=dropin.did_change
    )
    # Settings only a restart applies, this node's own line (gres changes need a slurmd
    # restart) and how slurmd is started; the rest reaches slurmd through the controller.
    globals_only = slurm.render_slurm_conf(cluster, [])
    fingerprint = slurm.restart_fingerprint(
        globals_only,
        "nodes=" + ",".join(sorted(cluster.workers)),
        line.line,
        f"gres={line.gpu_type}:{line.gpu_files}",
        defaults,
        SLURMD_DROPIN,
    )
    applied(
        name=f"slurmd: {ACTION_TEXT[pending_action('slurmd', fingerprint)]}",
        record="slurmd",
        restart_fingerprint=fingerprint,
        restart=["systemctl restart slurmd"],
    )
    systemd.service(name="slurmd running and enabled", service="slurmd", running=True, enabled=True)
