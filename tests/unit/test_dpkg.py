"""Tests for snakepit.parsers.dpkg and the dpkg facts, against real dpkg output."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from debian.debian_support import Version
from pyinfra.api.exceptions import FactProcessError

from facts.dpkg import DpkgBom, HeldPackages
from snakepit.parsers.dpkg import (
    DPKG_QUERY_FORMAT,
    Bom,
    DebPackage,
    format_dpkg_list,
    parse_dpkg_list,
    parse_dpkg_query,
    parse_pin_list,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BOMS = FIXTURES / "dpkg-boms"
SAMPLES = FIXTURES / "samples"
PREFIX = "ubuntu1804-cuda-11-5-"
DEC, JAN = "20211207185021", "20220110152810"


def bom_file(stamp: str, kind: str) -> Path:
    return BOMS / f"{PREFIX}{stamp}-{kind}.txt"


def load_bom(stamp: str, kind: str) -> Bom:
    return parse_dpkg_list(bom_file(stamp, kind).read_text())


def load_pins(stamp: str) -> list[tuple[str, str]]:
    return parse_pin_list(bom_file(stamp, "packages-in-cuda-11-5-metapackage").read_text())


LIST_FILES = [
    *sorted(path.name for path in BOMS.glob("*.txt") if "metapackage" not in path.name),
    "dpkg-list-states.txt",
    "dpkg-list-states-unqualified.txt",
    "dpkg-list-patterns-not-installed.txt",
]


def list_path(name: str) -> Path:
    return BOMS / name if name.startswith(PREFIX) else SAMPLES / name


# --- the real BOM files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "kind", "count"),
    [
        (DEC, "base_bom", 89),
        (DEC, "final_bom", 485),
        (JAN, "base_bom", 89),
        (JAN, "final_bom", 490),
        (JAN, "external_packages", 77),
    ],
)
def test_bom_counts(stamp, kind, count):
    bom = load_bom(stamp, kind)
    assert len(bom) == count
    # Every line of those files is an installed, not held, package: nothing is dropped.
    assert len(bom.installed()) == count
    assert len(bom.held()) == 0
    lines = [line for line in bom_file(stamp, kind).read_text().splitlines() if line[:2] == "ii"]
    assert len(lines) == count


def test_bom_package_values():
    final = load_bom(DEC, "final_bom")
    bash = final["bash:amd64"]
    assert (bash.name, bash.arch, bash.version) == ("bash", "amd64", "4.4.18-2ubuntu1.2")
    assert bash.description == "GNU Bourne Again SHell"
    assert (bash.state, bash.flags, bash.installed, bash.held) == ("installed", "ii", True, False)
    # "libc6:amd64" in the name column: the qualifier is folded into the key.
    assert final["libc6:amd64"].name == "libc6"
    assert final["libc6:amd64"].version == "2.27-3ubuntu1.4"
    assert final["libnvidia-common-495:all"].arch == "all"
    assert final["bsdutils:amd64"].version == "1:2.31.1-0.4ubuntu3.7"  # epoch kept
    assert final["cuda-11-5:amd64"].version == "11.5.1-1"
    assert final["cuda-drivers:amd64"].version == "495.29.05-1"
    arches = {arch: sum(1 for p in final.values() if p.arch == arch) for arch in ("all", "amd64")}
    assert arches == {"all": 70, "amd64": 415}  # as `awk '{print $4}'` counts


def test_driver_drift_between_the_two_final_boms():
    december, january = load_bom(DEC, "final_bom"), load_bom(JAN, "final_bom")
    assert december.by_name("nvidia-utils-495")[0].version == "495.44-0ubuntu0.18.04.1"
    assert january.by_name("nvidia-utils-495")[0].version == "495.29.05-0ubuntu1"
    # Ubuntu's rebuild sorts above NVIDIA's: apt prefers it unless pinned.
    assert Version("495.44-0ubuntu0.18.04.1") > Version("495.29.05-0ubuntu1")
    # nvidia-settings came from NVIDIA both times, hence the mixed December set.
    assert december["nvidia-settings:amd64"].version == "495.29.05-0ubuntu1"


def test_base_to_final_differences():
    for stamp, added in ((DEC, 396), (JAN, 401)):
        base, final = load_bom(stamp, "base_bom"), load_bom(stamp, "final_bom")
        assert set(base) <= set(final)  # installing CUDA removed nothing
        assert len(set(final) - set(base)) == added == len(final) - len(base)
        assert all(base[key] == final[key] for key in base)  # nor upgraded anything

    # The two bare images differ in three systemd/seccomp updates only.
    dec_base, jan_base = load_bom(DEC, "base_bom"), load_bom(JAN, "base_bom")
    changed = sorted(k for k in dec_base if dec_base[k].version != jan_base[k].version)
    assert changed == ["libseccomp2:amd64", "libsystemd0:amd64", "libudev1:amd64"]
    assert set(dec_base) == set(jan_base)


def test_final_to_final_differences():
    december, january = load_bom(DEC, "final_bom"), load_bom(JAN, "final_bom")
    assert sorted(set(january) - set(december)) == [
        "libgles2:amd64",
        "libopengl0:amd64",
        "libpsl5:amd64",
        "linux-headers-4.15.0-166-generic:amd64",
        "linux-headers-4.15.0-166:all",
        "publicsuffix:all",
        "wget:amd64",
    ]
    assert sorted(set(december) - set(january)) == [
        "linux-headers-4.15.0-163-generic:amd64",
        "linux-headers-4.15.0-163:all",
    ]
    changed = {k for k in set(december) & set(january) if december[k] != january[k]}
    assert len(changed) == 35
    assert {"systemd:amd64", "openjdk-11-jre-headless:amd64", "nvidia-dkms-495:amd64"} <= changed
    # All 35 changed version (nothing only changed description or state).
    assert all(december[k].version != january[k].version for k in changed)


def test_external_packages_file():
    external = load_bom(JAN, "external_packages")
    final = load_bom(JAN, "final_bom")
    # The NVIDIA: list is a verbatim subset of the final BOM.
    assert all(final[key] == package for key, package in external.items())
    assert external["libxnvctrl0:amd64"].version == "495.29.05-0ubuntu1"
    assert external["cuda-11-5:amd64"].description == "CUDA 11.5 meta-package"


def test_pin_lists():
    december, january = load_pins(DEC), load_pins(JAN)
    assert len(december) == len(january) == 57
    assert december[0] == ("cuda-cccl-11-5", "11.5.62-1")
    assert january[-1] == ("xserver-xorg-video-nvidia-495", "495.29.05-0ubuntu1")
    assert ("libnvidia-gl-495:amd64", "495.29.05-0ubuntu1") in january  # qualifier kept
    # Same names in the same order; the 15 driver packages differ in build.
    assert [name for name, _ in december] == [name for name, _ in january]
    assert sum(1 for a, b in zip(december, january, strict=True) if a != b) == 15
    # Every pin is exactly what its final BOM has installed.
    for stamp, pins in ((DEC, december), (JAN, january)):
        final = load_bom(stamp, "final_bom")
        for name, version in pins:
            (package,) = final.by_name(name)
            assert package.version == version, name
    # nvidia-prime is pinned though it is not from NVIDIA's repository: the grep method.
    nvidia_origin = {p.name for p in load_bom(JAN, "external_packages").values()}
    pinned = {name.partition(":")[0] for name, _ in january}
    assert pinned - nvidia_origin == {"nvidia-prime"}
    assert len(nvidia_origin - pinned) == 21


def test_pin_list_syntax():
    text = "# comment\n  \"a=1.0\" \\\nb:amd64=1:2.0~rc1 'c=3' # trailing comment\n\n"
    assert parse_pin_list(text) == [("a", "1.0"), ("b:amd64", "1:2.0~rc1"), ("c", "3")]
    with pytest.raises(ValueError, match="line 1"):
        parse_pin_list('"just-a-name" \\')
    with pytest.raises(ValueError):
        parse_pin_list("name=")


@pytest.mark.parametrize("name", LIST_FILES)
def test_format_round_trip(name):
    bom = parse_dpkg_list(list_path(name).read_text())
    text = format_dpkg_list(bom)
    assert parse_dpkg_list(text) == bom
    assert format_dpkg_list(parse_dpkg_list(text)) == text


@pytest.mark.parametrize("name", LIST_FILES)
def test_format_matches_dpkg_except_qualifiers(name):
    """Row for row, the formatted text says what dpkg said (bare names aside)."""
    original = list_path(name).read_text().splitlines()
    formatted = format_dpkg_list(parse_dpkg_list("\n".join(original))).splitlines()

    def rows(lines):
        result = []
        for line in lines:
            if line[:1] in "uihrp" and line[1:2] in "ncHUFWti" and line[2:3] in " R":
                flags, name, *rest = line.split()
                rest = ["<none>" if word == "<empty>" else word for word in rest]
                result.append([flags, name.partition(":")[0], *rest])
        return result

    assert rows(formatted) == rows(original)
    assert formatted[:3] == [
        "Desired=Unknown/Install/Remove/Purge/Hold",
        "| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend",
        "|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)",
    ]


def test_format_is_dpkg_text_when_no_name_is_qualified():
    # Real `dpkg-query -l` of packages none of which dpkg qualifies: format_dpkg_list
    # writes it back byte for byte (header, column widths, padding, flags).
    text = (SAMPLES / "dpkg-list-states-unqualified.txt").read_text()
    bom = parse_dpkg_list(text)
    assert len(bom) == 9
    assert format_dpkg_list(bom) == text


# --- dpkg-query ---------------------------------------------------------------------------


def test_parse_dpkg_query_real_debian12():
    lines = (SAMPLES / "dpkg-query-debian12-bookworm.txt").read_text().splitlines()
    bom = parse_dpkg_query(lines)
    assert len(bom) == 739 == len(bom.installed())
    assert sum(1 for p in bom.values() if p.arch == "all") == 154
    assert bom["bash:amd64"].version == "5.2.15-2+b8"
    assert bom["dpkg:amd64"].version == "1.21.23"
    assert bom["libc6:amd64"].description == "GNU C Library: Shared libraries"
    assert bom["adduser:all"].flags == "ii"
    assert list(bom)[:2] == ["adduser:all", "adwaita-icon-theme:all"]  # dpkg's order
    # A whole text and a list of lines (what pyinfra passes) read the same.
    assert parse_dpkg_query("\n".join(lines)) == bom
    # And the human format carries the same information.
    assert parse_dpkg_list(format_dpkg_list(bom)) == bom


STATES = {
    # key: (flags, state, installed, held)
    "bash:amd64": ("hi", "held", True, True),
    "coreutils:amd64": ("ii", "installed", True, False),
    "curl:amd64": ("iHR", "reinst-required", False, False),
    "grep:amd64": ("hHR", "reinst-required", False, True),
    "gzip:amd64": ("iF", "half-configured", False, False),
    "less:amd64": ("iU", "unpacked", False, False),
    "libc6:amd64": ("ii", "installed", True, False),
    "libc6:i386": ("ii", "installed", True, False),
    "libpam-modules:amd64": ("iW", "triggers-awaited", False, False),
    "man-db:amd64": ("it", "triggers-pending", False, False),
    "sed:amd64": ("ri", "installed", True, False),
    "tzdata:all": ("rc", "config-files", False, False),
    "zlib1g:amd64": ("ii", "installed", True, False),
}


def test_parse_dpkg_query_states():
    bom = parse_dpkg_query((SAMPLES / "dpkg-query-states.txt").read_text())
    assert {key: (p.flags, p.state, p.installed, p.held) for key, p in bom.items()} == STATES
    assert sorted(bom.held()) == ["bash:amd64", "grep:amd64"]
    assert len(bom.installed()) == 6
    assert [p.arch for p in bom.by_name("libc6")] == ["amd64", "i386"]
    assert bom.by_name("libc6:i386") == [bom["libc6:i386"]]
    assert bom.by_name("nano") == []
    assert bom["tzdata:all"].version == "2025b-0+deb12u2"  # rc keeps the version
    # dpkg -l of the same database gives the same Bom.
    assert parse_dpkg_list((SAMPLES / "dpkg-list-states.txt").read_text()) == bom


def test_not_installed_lines():
    bom = parse_dpkg_list((SAMPLES / "dpkg-list-patterns-not-installed.txt").read_text())
    assert list(bom) == ["bash:amd64", "libc6:amd64", "libc6:i386", "libc6-amd64", "perl-base"]
    perl = bom["perl-base"]  # "purge ok not-installed" in status, printed "un"
    assert (perl.arch, perl.version, perl.flags, perl.state) == ("", "", "un", "not-installed")
    assert perl.description == "(no description available)"
    assert not perl.installed
    # dpkg-query -W prints those fields empty, and the two readings agree.
    query_line = "un \tperl-base\t\t\t(no description available)"
    assert parse_dpkg_query([query_line])["perl-base"] == perl


def test_state_words():
    def package(flags: str) -> DebPackage:
        return DebPackage("p", "amd64", "1", flags[0], flags[1], flags[2:])

    assert package("rn").state == "removed"
    assert package("pn").state == "removed"
    assert package("un").state == "not-installed"
    assert package("iH").state == "half-installed"
    assert package("hc").state == "config-files"
    assert package("hc").held
    assert package("iiR").state == "reinst-required"
    assert not package("iiR").installed


def test_invalid_input_is_rejected():
    with pytest.raises(ValueError, match="line 2"):
        parse_dpkg_list("ii  bash 5.2 amd64 shell\nthis is not a package line\n")
    with pytest.raises(ValueError, match="i386"):
        parse_dpkg_list("ii  libc6:i386 2.36 amd64 libc\n")
    with pytest.raises(ValueError, match="line 1"):
        parse_dpkg_query(["ii bash 5.2 amd64"])  # spaces, not our tab format
    with pytest.raises(ValueError, match="status flag"):
        parse_dpkg_query(["iX \tbash\tamd64\t5.2\tshell"])
    with pytest.raises(ValueError, match="conflicting"):
        parse_dpkg_query(["ii \tbash\tamd64\t5.2\tshell", "ii \tbash\tamd64\t5.3\tshell"])
    with pytest.raises(ValueError):
        DebPackage("bad name", "amd64", "1", "i", "i")


def test_old_dpkg_list_without_architecture_column():
    text = (
        "||/ Name           Version        Description\n"
        "+++-==============-==============-============================================\n"
        "ii  bash           4.2-2ubuntu2   The GNU Bourne Again SHell\n"
    )
    (package,) = parse_dpkg_list(text).values()
    assert (package.name, package.arch, package.version) == ("bash", "", "4.2-2ubuntu2")
    assert package.description == "The GNU Bourne Again SHell"


def test_bom_is_immutable_mapping_with_json():
    bom = parse_dpkg_query((SAMPLES / "dpkg-query-states.txt").read_text())
    with pytest.raises(TypeError):
        bom["x"] = bom["bash:amd64"]  # type: ignore[index]
    assert hash(bom) == hash(parse_dpkg_query((SAMPLES / "dpkg-query-states.txt").read_text()))
    data = json.loads(json.dumps(bom.to_json()))
    assert data["curl:amd64"]["state"] == "reinst-required"
    assert data["curl:amd64"]["error"] == "R"
    assert Bom.from_json(data) == bom
    assert bom != Bom()
    assert repr(bom) == "Bom(13 packages)"


# --- facts --------------------------------------------------------------------------------


def test_dpkg_bom_fact():
    fact = DpkgBom()
    command = fact.command()
    assert shlex.split(command) == ["dpkg-query", "-W", f"-f={DPKG_QUERY_FORMAT}"]
    assert fact.requires_command() == "dpkg-query"
    assert fact.default() == Bom()
    lines = (SAMPLES / "dpkg-query-states.txt").read_text().splitlines()
    assert fact.process(lines)["grep:amd64"].state == "reinst-required"
    with pytest.raises(FactProcessError):
        fact.process(["garbage"])


def test_held_packages_fact():
    fact = HeldPackages()
    assert fact.command() == "apt-mark showhold"
    lines = (SAMPLES / "apt-mark-showhold-held.txt").read_text().splitlines()
    assert fact.process(lines) == frozenset({"bash", "grep", "libc6:i386"})
    assert fact.default() == frozenset()
