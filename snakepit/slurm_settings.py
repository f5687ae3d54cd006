"""slurm.conf as data: the documented defaults, what each supported Slurm version knows, and
which settings a running daemon takes only at start.

A cluster's ``slurm.config`` is merged over `DEFAULTS` (as treydock/puppet-slurm merges
``$slurm_conf_override`` over its defaults and stackhpc's openhpc role merges
``openhpc_config`` over ``openhpc_default_config``): a key set to ``None`` removes a default,
every key appears once, and the file is rendered in a stable order (derived keys, then the
defaults' order, then the cluster's own keys sorted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Default:
    value: str | int
    why: str


# Every default, with why it is what it is. docs/data.md renders this table.
DEFAULTS: dict[str, Default] = {
    "SlurmctldParameters": Default(
        "enable_configless", "workers run configless slurmd and fetch slurm.conf from slurmctld"
    ),
    "SlurmUser": Default("slurm", "the fixed-id `slurm` user of the cluster data"),
    "AuthType": Default("auth/munge", "munge, with the key from the secrets file"),
    "AuthAltTypes": Default("auth/jwt", "JWT tokens for slurmrestd (`scontrol token`)"),
    "AuthAltParameters": Default(
        "jwt_key=/etc/slurm/jwt_hs256.key",
        "the JWT signing key, made on the head when missing; it never leaves the head",
    ),
    "CredType": Default("cred/munge", "as AuthType"),
    "MpiDefault": Default("none", "jobs choose their MPI"),
    "StateSaveLocation": Default("/var/lib/slurm/slurmctld", "Debian's state directory"),
    "SlurmdSpoolDir": Default("/var/lib/slurm/slurmd", "Debian's spool directory"),
    "SlurmctldPidFile": Default("/run/slurmctld.pid", "Debian's unit expects it"),
    "SlurmdPidFile": Default("/run/slurmd.pid", "Debian's unit expects it"),
    "SlurmctldLogFile": Default("/var/log/slurm/slurmctld.log", "Debian's log directory"),
    "SlurmdLogFile": Default("/var/log/slurm/slurmd.log", "Debian's log directory"),
    "ProctrackType": Default("proctrack/cgroup", "jobs are tracked (and killed) by cgroup"),
    "TaskPlugin": Default("task/cgroup,task/affinity", "cores, memory and GPUs confined"),
    "SchedulerType": Default("sched/backfill", "small jobs fill the gaps"),
    "SelectType": Default("select/cons_tres", "GPUs are consumable trackable resources"),
    "SelectTypeParameters": Default("CR_Core_Memory", "jobs share nodes by cores and memory"),
    "GresTypes": Default("gpu", "the GPUs of gres.conf"),
    "ReturnToService": Default(2, "a node that was down returns once it registers sanely"),
    "JobAcctGatherType": Default("jobacct_gather/linux", "per-job usage for sacct"),
    "AccountingStorageType": Default(
        "accounting_storage/slurmdbd", "accounting through slurmdbd on the head"
    ),
    "AccountingStorageTRES": Default("gres/gpu", "GPU usage accounted per job"),
}

# Set from other data (never from slurm.config): the key and where its value comes from.
DERIVED = {
    "ClusterName": "slurm.cluster_name",
    "SlurmctldHost": "the inventory's slurm_head host",
    "AccountingStorageHost": "the inventory's slurm_head host",
    "NodeName": "the slurm_worker hosts and their facts",
    "PartitionName": "slurm_partitions",
    "NodeSet": "slurm_partitions",
    "DownNodes": "the slurm_worker hosts",
}


# Slurm's major releases in order: its compatibility window is counted in them.
MAJOR_RELEASES = ("20.11", "21.08", "22.05", "23.02", "23.11", "24.05", "24.11")


@dataclass(frozen=True)
class SlurmVersion:
    """What differs between the Slurm versions we support."""

    version: str
    debian: str  # the Debian release (VERSION_ID) that ships it
    # Settings slurmctld/slurmd take only at a restart: `scontrol reconfigure` is not
    # enough; adding or removing nodes restarts them too (snakepit.slurm.restart_fingerprint).
    restart_keys: frozenset[str]
    # How many major releases back this version's daemons talk to, and its slurmdbd
    # converts the database of (Slurm's upgrade guide: two until 24.05, three from 24.11).
    accepts_previous: int
    # Where this release's packaging wants what DEFAULTS says for the other one.
    defaults: Mapping[str, Default] = field(default_factory=dict)
    # slurmdbd.conf's PidFile: a place the user its unit runs it as can write.
    slurmdbd_pid_file: str = "/run/slurmdbd.pid"
    # The newest REST API version its slurmrestd serves (/slurm/<it>/ping).
    rest_api: str = "v0.0.38"

    @property
    def known_keys(self) -> frozenset[str]:
        return _known_keys(self.version)

    @property
    def oldest_accepted(self) -> str:
        index = MAJOR_RELEASES.index(self.version)
        return MAJOR_RELEASES[max(0, index - self.accepts_previous)]

    def accepts(self, other: str) -> bool:
        """Whether daemons of this version work with ``other``'s, no newer than this one
        (slurmdbd >= slurmctld >= slurmd, within the window)."""
        index, other_index = MAJOR_RELEASES.index(self.version), MAJOR_RELEASES.index(other)
        return 0 <= index - other_index <= self.accepts_previous


# Slurm 22.05: settings slurmctld/slurmd read only at start (scontrol(1), "reconfigure").
_RESTART_KEYS_22_05 = frozenset(
    {
        "AuthType",
        "AuthAltTypes",
        "AuthAltParameters",
        "CredType",
        "ClusterName",
        "SlurmctldHost",
        "ControlMachine",
        "SlurmctldPort",
        "SlurmdPort",
        "SlurmUser",
        "StateSaveLocation",
        "SlurmdSpoolDir",
        "SelectType",
        "SelectTypeParameters",
        "GresTypes",
        "ProctrackType",
        "TaskPlugin",
        "SwitchType",
        "PluginDir",
        "JobAcctGatherType",
        "AccountingStorageType",
        "SlurmctldParameters",
    }
)
# Slurm 24.11: since 23.11 `scontrol reconfigure` starts new daemons that read the whole
# file and take over, so plugins change live; only "the listening TCP ports or
# authentication mechanism" cannot (scontrol(1)). Where the daemons run from, as whom and
# for which cluster stays a restart as well: a successor started by the old daemon would
# inherit them.
_RESTART_KEYS_24_11 = frozenset(
    {
        "AuthType",
        "AuthAltTypes",
        "AuthAltParameters",
        "CredType",
        "SlurmctldPort",
        "SlurmdPort",
        "ClusterName",
        "SlurmctldHost",
        "SlurmUser",
        "StateSaveLocation",
        "SlurmdSpoolDir",
    }
)

VERSIONS: dict[str, SlurmVersion] = {
    "22.05": SlurmVersion(
        "22.05", debian="12", restart_keys=_RESTART_KEYS_22_05, accepts_previous=2
    ),
    # 24.11 dropped ControlMachine (SlurmctldHost only) and the 22.05-era plugins listed
    # in data/.
    # Debian 13's units run slurmctld and slurmdbd as `slurm` (22.05's: as root) and give
    # each a runtime directory of its own, where they can write their pid files.
    "24.11": SlurmVersion(
        "24.11",
        debian="13",
        restart_keys=_RESTART_KEYS_24_11,
        accepts_previous=3,
        defaults={
            "SlurmctldPidFile": Default(
                "/run/slurmctld/slurmctld.pid",
                "Debian 13's unit runs it as slurm in /run/slurmctld",
            ),
        },
        slurmdbd_pid_file="/run/slurmdbd/slurmdbd.pid",
        rest_api="v0.0.42",  # 24.11 serves v0.0.40 to v0.0.42; 22.05's v0.0.38 is gone
    ),
}
# The supported targets: Debian release -> the Slurm it ships.
RELEASES: dict[str, SlurmVersion] = {v.debian: v for v in VERSIONS.values()}


@cache
def _known_keys(version: str) -> frozenset[str]:
    path = DATA / f"slurm.conf-{version}.txt"
    lines = path.read_text().splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_setting(version: str, key: str, value: object) -> str | None:
    """Why ``key=value`` cannot be a slurm.conf setting of ``version``, or None."""
    from snakepit.schema import closest

    if key in DERIVED:
        return f"{key} is set from {DERIVED[key]}, not from slurm.config"
    known = VERSIONS[version].known_keys
    if key not in known:
        return f"not a slurm.conf setting of Slurm {version}{closest(key, sorted(known))}"
    if value is None:
        return None
    problem = _one_line(value)
    if problem is None and key in VALUE_RULES and str(value) not in VALUE_RULES[key]:
        return f"must be one of {', '.join(VALUE_RULES[key])}, got {value!r}"
    return problem


# Values Slurm accepts for a few settings whose mistakes would stop slurmctld mid-run.
VALUE_RULES: dict[str, tuple[str, ...]] = {
    "ReturnToService": ("0", "1", "2"),
    "SelectType": ("select/cons_tres", "select/linear", "select/cray_aries"),
    "ProctrackType": ("proctrack/cgroup", "proctrack/linuxproc", "proctrack/pgid"),
}
# Partition settings that stay ours: Nodes and Default come from the inventory and data.
PARTITION_MANAGED = ("PartitionName", "Nodes", "Default", "MaxTime", "State")


def check_partition_setting(key: str, value: object) -> str | None:
    """Why ``key=value`` cannot be one of a partition line's extra settings, or None."""
    if key in PARTITION_MANAGED:
        return f"{key} is set by snakepit (max_time, default, the inventory group)"
    if not key[:1].isupper() or not key.isalnum():
        return f"{key!r} is not a PartitionName setting"
    return _one_line(value)


def _one_line(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return f"expected str or int, got {type(value).__name__} ({value!r})"
    text = str(value)
    if not text.strip() or any(c in text for c in "\n\r# ") or text != text.strip():
        return f"{text!r} is not a one-word value (no spaces, '#' or newlines)"
    return None


def defaults(version: str) -> dict[str, Default]:
    """DEFAULTS as the Slurm version's packaging wants them."""
    return {**DEFAULTS, **VERSIONS[version].defaults}


def merged(overrides: Mapping[str, str | int | None], version: str = "22.05") -> dict[str, str]:
    """The version's defaults with the cluster's overrides: None removes a key; order is
    stable."""
    settings = {key: str(default.value) for key, default in defaults(version).items()}
    for key in sorted(overrides, key=lambda k: (k not in DEFAULTS, k)):
        value = overrides[key]
        if value is None:
            settings.pop(key, None)
        elif key in settings:
            settings[key] = str(value)
    for key in sorted(k for k in overrides if k not in DEFAULTS and overrides[k] is not None):
        settings[key] = str(overrides[key])
    return settings


def jwt_key_path(conf: Mapping[str, str]) -> str | None:
    """The JWT key file of a merged slurm.conf, when auth/jwt is on."""
    if "auth/jwt" not in conf.get("AuthAltTypes", "").split(","):
        return None
    for parameter in conf.get("AuthAltParameters", "").split(","):
        name, _, value = parameter.partition("=")
        if name == "jwt_key" and value:
            return value
    return None


def render_defaults_table() -> str:
    rows = ["| setting | default | why |", "| --- | --- | --- |"]
    for key, default in DEFAULTS.items():
        rows.append(f"| `{key}` | `{default.value}` | {default.why} |")
        for version in VERSIONS.values():
            if key in version.defaults:
                other = version.defaults[key]
                rows.append(f"| | Slurm {version.version}: `{other.value}` | {other.why} |")
    rows += [
        f"| `{k}` | from {where} | not settable in `slurm.config` |" for k, where in DERIVED.items()
    ]
    return "\n".join(rows) + "\n"
