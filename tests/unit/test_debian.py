"""Debian's rules in one place: apt's spelling of a package, and version checks."""

from __future__ import annotations

import pytest

from snakepit.debian import apt_name, check_version
from snakepit.parsers.dpkg import DebPackage


def test_apt_name_qualifies_only_a_foreign_arch():
    assert apt_name("libc6", "amd64", "amd64") == "libc6"
    assert apt_name("cuda-toolkit-config-common", "all", "amd64") == "cuda-toolkit-config-common"
    assert apt_name("libc6", "i386", "amd64") == "libc6:i386"


def test_a_dpkg_entry_without_arch_is_spelled_bare():
    assert DebPackage("gone", "", "", "u", "n").apt_name("amd64") == "gone"
    assert DebPackage("libc6", "i386", "2.36-9", "i", "i").apt_name("amd64") == "libc6:i386"


def test_check_version():
    assert check_version("11.5.1-1") == "11.5.1-1"
    with pytest.raises(ValueError, match="must start with a digit"):
        check_version("x.y")
