"""Tests for snakepit.parsers.apt and the AptPolicy fact, against real apt output."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from pyinfra.api.exceptions import FactProcessError, FactValueError

from facts.apt import AptPolicy as AptPolicyFact
from snakepit.parsers.apt import (
    AptPolicy,
    AptSource,
    AptVersion,
    PackageNames,
    parse_apt_policy,
    parse_showhold,
)

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"
DEBIAN_MAIN = "http://deb.debian.org/debian bookworm/main amd64 Packages"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security bookworm-security/main amd64 Packages"
DPKG_STATUS = AptSource(100, "/var/lib/dpkg/status")


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


# --- apt-mark showhold --------------------------------------------------------------------


def test_showhold_real_outputs():
    assert parse_showhold(sample("apt-mark-showhold-none.txt")) == frozenset()
    held = parse_showhold(sample("apt-mark-showhold-held.txt").splitlines())
    assert held == frozenset({"bash", "grep", "libc6:i386"})
    assert isinstance(held, frozenset)
    # pyinfra's CLI encoder knows `set` and `to_json`, not frozenset.
    assert json.dumps(held.to_json()) == '["bash", "grep", "libc6:i386"]'


def test_showhold_ignores_blank_and_message_lines():
    lines = ["", "  cuda-drivers  ", "W: Some warning", "nvidia-driver-550"]
    assert parse_showhold(lines) == PackageNames({"cuda-drivers", "nvidia-driver-550"})


# --- apt-cache policy ---------------------------------------------------------------------


def test_policy_installed_upgradable_and_unknown():
    policies = parse_apt_policy(sample("apt-cache-policy-bash-coreutils-unknown.txt"))
    assert list(policies) == ["bash", "coreutils"]  # nonexistent-pkg-xyz: nothing printed
    bash = policies["bash"]
    assert bash == AptPolicy(
        name="bash",
        installed="5.2.15-2+b8",
        candidate="5.2.15-2+b13",
        versions=(
            AptVersion("5.2.15-2+b13", False, (AptSource(500, DEBIAN_MAIN),), 500),
            AptVersion("5.2.15-2+b8", True, (DPKG_STATUS,), 100),
        ),
    )
    assert bash.upgradable
    coreutils = policies["coreutils"]
    assert (coreutils.installed, coreutils.candidate) == ("9.1-1", "9.1-1")
    assert not coreutils.upgradable
    (row,) = coreutils.versions
    assert row.installed and row.priority == 500
    assert row.sources == (AptSource(500, DEBIAN_MAIN), DPKG_STATUS)
    assert [s.is_dpkg_status for s in row.sources] == [False, True]


def test_policy_not_installed():
    (cowsay,) = parse_apt_policy(sample("apt-cache-policy-cowsay-not-installed.txt")).values()
    assert cowsay.installed is None
    assert cowsay.candidate == "3.03+dfsg2-8"
    assert cowsay.upgradable  # an install is a change too
    assert cowsay.get_version("3.03+dfsg2-8") == AptVersion(
        "3.03+dfsg2-8", False, (AptSource(500, DEBIAN_MAIN),), 500
    )
    assert cowsay.get_version("1.0") is None


def test_policy_multiarch_and_virtual():
    policies = parse_apt_policy(sample("apt-cache-policy-multiarch-virtual.txt"))
    # libc6:amd64 is printed as "libc6"; libc6:i386 (arch not configured) not at all.
    assert list(policies) == ["libc6", "awk", "mawk"]
    assert [v.version for v in policies["libc6"].versions] == ["2.36-9+deb12u14", "2.36-9+deb12u7"]
    assert policies["libc6"].versions[1].sources == (AptSource(500, DEBIAN_SECURITY),)
    awk = policies["awk"]  # virtual: provided by mawk
    assert (awk.installed, awk.candidate, awk.versions) == (None, None, ())
    assert not awk.upgradable
    assert policies["mawk"].installed == "1.3.4.20200120-3.1"


def test_policy_pinned():
    policies = parse_apt_policy(sample("apt-cache-policy-pinned.txt"))
    bash = policies["bash"]
    # Pinned at 1001 to the installed build: apt no longer offers the newer one.
    assert bash.candidate == bash.installed == "5.2.15-2+b8"
    assert bash.get_version("5.2.15-2+b8").priority == 1001
    assert bash.get_version("5.2.15-2+b8").sources == (DPKG_STATUS,)
    assert not bash.upgradable
    cowsay = policies["cowsay"]  # pinned -1: never install
    assert cowsay.candidate is None
    assert cowsay.versions[0].priority == -1
    assert cowsay.versions[0].sources == (AptSource(500, DEBIAN_MAIN),)
    assert bash.package_pin is None  # apt 2.6 prints no "Package pin:" line


def test_policy_foreign_arch_config_files_and_reinstreq():
    policies = parse_apt_policy(sample("apt-cache-policy-states-i386.txt"))
    # "libc6" printed twice (asked as libc6 and libc6:amd64), identically.
    assert list(policies) == ["libc6", "libc6:i386", "tzdata", "curl"]
    i386 = policies["libc6:i386"]
    assert i386.installed == i386.candidate == "2.36-9+deb12u14"
    assert i386.versions == (
        AptVersion("2.36-9+deb12u14", True, (AptSource(100, "/tmp/holdexp/status"),), 100),
    )
    tzdata = policies["tzdata"]  # "rc": config files only, so nothing installed
    assert tzdata.installed is None
    assert tzdata.candidate == "2026f-0+deb12u1"
    assert len(tzdata.versions) == 4
    leftover = tzdata.get_version("2025b-0+deb12u2")
    assert leftover.priority == -1 and not leftover.installed
    assert leftover.sources[0].is_dpkg_status
    curl = policies["curl"]  # "iHR" in dpkg, still "***" for apt
    assert curl.installed == "7.88.1-10+deb12u14"
    assert [v.installed for v in curl.versions] == [False, True, False]


def test_policy_old_apt_package_pin_and_ubuntu_phasing():
    # apt < 1.1 printed a "Package pin:" line; Ubuntu's apt marks phased updates.
    text = (
        "nvidia-utils-495:\n"
        "  Installed: 495.29.05-0ubuntu1\n"
        "  Candidate: 495.29.05-0ubuntu1\n"
        "  Package pin: 495.29.05-0ubuntu1\n"
        "  Version table:\n"
        "     495.44-0ubuntu0.18.04.1 500 (phased 10%)\n"
        "        500 http://archive.ubuntu.com/ubuntu bionic-updates/restricted amd64 Packages\n"
        " *** 495.29.05-0ubuntu1 1001\n"
        "        500 https://developer.download.nvidia.com/compute/cuda/repos/ubuntu1804/x86_64"
        "  Packages\n"
        "        100 /var/lib/dpkg/status\n"
    )
    (policy,) = parse_apt_policy(text).values()
    assert policy.package_pin == "495.29.05-0ubuntu1"
    assert [(v.version, v.priority) for v in policy.versions] == [
        ("495.44-0ubuntu0.18.04.1", 500),
        ("495.29.05-0ubuntu1", 1001),
    ]
    assert policy.versions[1].sources[0].origin.endswith("x86_64  Packages")
    assert len(policy.versions[1].sources) == 2


def test_policy_messages_skipped_and_garbage_rejected():
    cowsay = sample("apt-cache-policy-cowsay-not-installed.txt")
    text = "N: Unable to locate package nope\n" + cowsay
    assert list(parse_apt_policy(text)) == ["cowsay"]
    assert parse_apt_policy("") == {}
    with pytest.raises(ValueError, match="line 1"):
        parse_apt_policy("Package files:\n")  # global policy, not per package
    with pytest.raises(ValueError, match="line 2"):
        parse_apt_policy("bash:\n        500 http://x y Packages\n")  # source before version
    conflicting = "bash:\n  Installed: 1\nbash:\n  Installed: 2\n"
    with pytest.raises(ValueError, match="two different"):
        parse_apt_policy(conflicting)


def test_policy_to_json():
    policies = parse_apt_policy(sample("apt-cache-policy-pinned.txt"))
    data = json.loads(json.dumps({name: p.to_json() for name, p in policies.items()}))
    assert data["bash"]["versions"][1] == {
        "version": "5.2.15-2+b8",
        "installed": True,
        "priority": 1001,
        "sources": [{"priority": 100, "origin": "/var/lib/dpkg/status"}],
    }
    assert data["cowsay"]["candidate"] is None


# --- fact -----------------------------------------------------------------------------------


def test_apt_policy_fact_command():
    fact = AptPolicyFact()
    command = fact.command(["bash", "libc6:i386", "it's"])
    assert command.startswith("LC_ALL=C apt-cache policy ")
    assert shlex.split(command) == ["LC_ALL=C", "apt-cache", "policy", "bash", "libc6:i386", "it's"]
    # From the CLI (`packages=bash,curl`) or a single name.
    assert shlex.split(fact.command("bash,curl"))[3:] == ["bash", "curl"]
    assert shlex.split(fact.command("bash"))[3:] == ["bash"]
    # apt-cache policy without names prints the global policy: run nothing instead.
    assert fact.command([]) == "true"
    with pytest.raises(FactValueError):
        fact.command(["-oDebug::pkgPolicy=1"])
    assert fact.requires_command(["bash"]) == "apt-cache"
    assert fact.default() == {}


def test_apt_policy_fact_process():
    fact = AptPolicyFact()
    lines = sample("apt-cache-policy-bash-coreutils-unknown.txt").splitlines()
    assert fact.process(lines)["bash"].candidate == "5.2.15-2+b13"
    with pytest.raises(FactProcessError):
        fact.process(["not apt output"])
