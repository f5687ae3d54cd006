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

    monkeypatch.setattr(block, "host", SimpleNamespace(get_fact=get_fact))
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
