"""The daemon building block (deploys/daemon.py): given the host's applied record, which
operations it plans, in which order, with which names and arguments; the record is read once.

The pyinfra operations it composes are replaced by recorders (each operation's own commands
are proven in tests/operations/); what is tested here is the composition.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from deploys import daemon as block
from operations.secrets import SecretBytes
from snakepit.records import applied_record


class Recorder:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.fact_reads: list[dict] = []

    def op(self, kind: str):
        def record(**kwargs):
            self.calls.append((kind, kwargs))
            return SimpleNamespace(did_change=lambda: kwargs.get("path", "").startswith("/etc/"))

        return record


@pytest.fixture
def recorder(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(block, "apt", SimpleNamespace(packages=rec.op("apt.packages")))
    monkeypatch.setattr(
        block,
        "files",
        SimpleNamespace(put=rec.op("files.put"), directory=rec.op("files.directory")),
    )
    monkeypatch.setattr(
        block,
        "systemd",
        SimpleNamespace(service=rec.op("systemd.service"), daemon_reload=rec.op("systemd.reload")),
    )
    monkeypatch.setattr(block, "secret_file", rec.op("secret_file"))
    monkeypatch.setattr(block, "applied", rec.op("applied"))
    rec.record_text = None

    def get_fact(fact, **kwargs):
        rec.fact_reads.append({"fact": fact.__name__, **kwargs})
        text = rec.record_text
        return text.splitlines() if text else None

    monkeypatch.setattr(block, "host", SimpleNamespace(name="testhost", get_fact=get_fact))
    return rec


def run(**kwargs):
    block.daemon(
        "slurmd",
        packages=["slurmd", "slurm-client"],
        directories=[block.Directory("/var/lib/slurm", "slurm", "slurm")],
        config=[
            block.ConfigFile("/etc/default/slurmd", "OPTS=1\n", name="defaults"),
            block.ConfigFile("/etc/systemd/system/slurmd.service.d/x.conf", "[Unit]\n"),
            block.ConfigFile("/etc/slurm/secret", SecretBytes(b"s3cret", "a secret"), mode="0600"),
        ],
        apply=block.Apply("R1", restart=["systemctl restart slurmd"], **kwargs),
    )


def test_order_and_arguments_on_a_new_host(recorder):
    run()
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == [
        "apt.packages",
        "files.directory",
        "files.put",
        "files.put",
        "secret_file",
        "systemd.reload",
        "applied",
        "systemd.service",
    ]
    calls = dict(recorder.calls[:1])
    assert calls["apt.packages"]["packages"] == ["slurmd", "slurm-client"]
    assert calls["apt.packages"]["no_recommends"] is True
    applied = recorder.calls[6][1]
    assert applied["name"] == "slurmd: restart (a setting read only at start changed)"
    assert applied["record"] == "slurmd" and applied["current"] is None
    assert applied["restart"] == ["systemctl restart slurmd"]
    assert recorder.calls[-1][1]["service"] == "slurmd"
    # the record was read exactly once, and handed over
    assert recorder.fact_reads == [
        {"fact": "FileContents", "path": "/var/lib/snakepit/applied/slurmd"}
    ]
    secret = recorder.calls[4][1]
    assert isinstance(secret["content"], SecretBytes) and secret["mode"] == "0600"
    assert "s3cret" not in repr(recorder.calls)


def test_applied_record_names_no_action(recorder):
    recorder.record_text = applied_record("R1", "R1")
    run()
    applied = dict(recorder.calls)["applied"]
    assert applied["name"] == "slurmd: configuration already applied"
    assert applied["current"] == applied_record("R1", "R1")


def test_reconfigure_when_only_the_full_fingerprint_changed(recorder):
    recorder.record_text = applied_record("R1", "F1")
    run(full_fingerprint="F2", reconfigure=["scontrol reconfigure"])
    applied = dict(recorder.calls)["applied"]
    assert applied["name"] == "slurmd: scontrol reconfigure (settings it takes live changed)"
    assert applied["reconfigure"] == ["scontrol reconfigure"]


def test_restart_when_the_daemon_cannot_reconfigure(recorder):
    recorder.record_text = applied_record("R1", "F1")
    run(full_fingerprint="F2")
    assert dict(recorder.calls)["applied"]["name"].startswith("slurmd: restart")


def test_pinned_package_version_and_no_apply(recorder):
    block.daemon("munge", packages=["munge"], package_version="0.5.15-2", apply=None)
    assert [kind for kind, _ in recorder.calls] == ["apt.packages", "systemd.service"]
    assert recorder.calls[0][1]["packages"] == ["munge=0.5.15-2"]
    assert recorder.fact_reads == []


def test_no_systemd_reload_without_unit_files(recorder):
    block.daemon("squid", config=[block.ConfigFile("/etc/squid/conf.d/x.conf", "x\n")])
    assert "systemd.reload" not in [kind for kind, _ in recorder.calls]


def test_files_the_installation_reads_come_before_the_packages(recorder):
    block.daemon(
        "slurmd",
        packages=["slurmd"],
        config=[
            block.ConfigFile("/etc/slurm/late.conf", "x\n"),
            block.ConfigFile("/etc/default/slurmd", "OPTS=1\n", before_packages=True),
            block.ConfigFile(
                "/etc/systemd/system/slurmd.service.d/x.conf", "[Unit]\n", before_packages=True
            ),
        ],
    )
    order = [(kind, kwargs.get("dest", "")) for kind, kwargs in recorder.calls]
    assert order == [
        ("files.put", "/etc/default/slurmd"),
        ("files.put", "/etc/systemd/system/slurmd.service.d/x.conf"),
        ("apt.packages", ""),
        ("files.put", "/etc/slurm/late.conf"),
        ("systemd.reload", ""),  # the drop-in, although written first, still reloads
        ("systemd.service", ""),
    ]


def test_packages_of_the_hosts_early_apt_run_get_no_apt_run_of_their_own(recorder, monkeypatch):
    monkeypatch.setattr(block, "_EARLY", {})
    block.install_early(["vim", "slurm-client"])  # this host's ("testhost") early run
    run()
    apt_calls = [kwargs for kind, kwargs in recorder.calls if kind == "apt.packages"]
    assert [call["packages"] for call in apt_calls] == [["slurmd"]]
    assert apt_calls[0]["name"] == "Install slurmd"
    block.install_early(["slurmd", "slurm-client"])
    recorder.calls.clear()
    run()
    assert "apt.packages" not in [kind for kind, _ in recorder.calls]
    # Another host's early run is not this one's.
    monkeypatch.setattr(block, "_EARLY", {"otherhost": frozenset({"slurmd", "slurm-client"})})
    recorder.calls.clear()
    run()
    assert [kw["packages"] for kind, kw in recorder.calls if kind == "apt.packages"] == [
        ["slurmd", "slurm-client"]
    ]


def test_early_packages_per_role():
    from dataclasses import replace

    from deploys.roles import early_packages
    from tests.unit.production_data import production_cluster

    cluster = production_cluster()
    version = cluster.slurm.packages.version
    pinned = (lambda p: f"{p}={version}") if version else (lambda p: p)
    head = early_packages(cluster, head=True, worker=False)
    assert head[0] == "munge" and "mariadb-server" in head
    assert pinned("slurmctld") in head and pinned("slurmdbd") in head
    assert len(head) == len(set(head))
    assert not any(p.startswith(("slurmd=", "squid")) or p == "slurmd" for p in head)
    worker = early_packages(cluster, head=False, worker=True)
    nfs_client = ["nfs-common"] if cluster.storage.mode == "nfs" else []
    assert worker == ["munge", *nfs_client]
    shared = replace(cluster, storage=cluster.storage.model_copy(update={"mode": "shared-volume"}))
    assert "nfs-kernel-server" not in early_packages(shared, head=True, worker=False)
    assert early_packages(shared, head=False, worker=True) == ["munge"]
