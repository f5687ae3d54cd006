"""nvidia-smi parsers and the NvidiaSmi fact, checked against 85 real captured outputs.

Expected values are read off the fixture files and tests/fixtures/nvidia-smi/SOURCES.md,
not off the parser, so a parser change that drifts from what nvidia-smi printed fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from facts.nvidia import NvidiaSmi
from snakepit.parsers.nvidia_smi import (
    EXIT_MARKER,
    NO_KERNEL_DRIVER_MARKER,
    NOT_INSTALLED_MARKER,
    STATES,
    Gpu,
    MigDevice,
    NvidiaSmiReport,
    classify_error,
    csv_units,
    gpus_from_csv,
    parse_csv,
    parse_list,
    parse_mig_list,
    parse_output,
    parse_table,
    parse_xml,
    split_fact_output,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvidia-smi"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.iterdir() if p.name != "SOURCES.md")


def _fields(*parts: str) -> list[str]:
    return "".join(parts).split(",")


# Field lists of the `noheader` CSVs, copied from the commands recorded in SOURCES.md.
NOHEADER_FIELDS = {
    "csv-noheader-gtx770-windows-not-supported.csv": _fields(
        "gpu_name,utilization.gpu,utilization.memory,temperature.gpu,power.draw,power.limit,",
        "fan.speed,pstate,clocks.current.graphics,clocks.current.memory,power.max_limit,",
        "power.default_limit",
    ),
    "csv-noheader-nounits-2gb-gpu-fan-na-newer-driver.csv": _fields(
        "memory.total,memory.free,memory.used,temperature.gpu,fan.speed,utilization.gpu,",
        "utilization.memory",
    ),
    "csv-noheader-nounits-2gb-gpu-fan-not-supported-older-driver.csv": _fields(
        "memory.total,memory.free,memory.used,temperature.gpu,fan.speed,utilization.gpu,",
        "utilization.memory",
    ),
    "csv-noheader-nounits-rtx2080-19fields-driver-440.64.csv": _fields(
        "power.limit,power.min_limit,power.max_limit,memory.total,vbios_version,driver_version,",
        "name,gpu_uuid,power.draw,temperature.gpu,temperature.memory,clocks.current.graphics,",
        "clocks.sm,clocks.mem,utilization.gpu,utilization.memory,fan.speed,",
        "pcie.link.width.current,pstate",
    ),
}


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def csv_rows(name: str) -> list[dict[str, str | None]]:
    return parse_csv(read(name), NOHEADER_FIELDS.get(name))


# --------------------------------------------------------------------------- inventory


def test_fixture_inventory_is_complete() -> None:
    """A dropped or renamed fixture must fail loudly, not shrink the parametrised tests."""
    assert len(FIXTURE_NAMES) == 85
    by_kind: dict[str, int] = {}
    for name in FIXTURE_NAMES:
        kind = name.split("-", 1)[0]
        by_kind[kind] = by_kind.get(kind, 0) + 1
    assert by_kind == {"xml": 32, "csv": 19, "list": 5, "table": 16, "err": 13}


def test_every_fixture_is_described_in_sources_md() -> None:
    sources = read("SOURCES.md")
    missing = [name for name in FIXTURE_NAMES if f"`{name}`" not in sources]
    assert missing == []


# --------------------------------------------------------------------------- every file


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_parses_with_its_parser(name: str) -> None:
    text = read(name)
    kind = name.split("-", 1)[0]
    if kind == "xml":
        report = parse_xml(text)
        assert report.source == "xml"
        assert report.state == "ok"
        assert report.gpu_count >= 1
        assert [gpu.index for gpu in report.gpus] == list(range(report.gpu_count))
        for gpu in report.gpus:
            assert gpu.name
            assert gpu.uuid is not None and gpu.uuid.startswith("GPU-")
            assert gpu.pci_bus_id is not None
        assert parse_output(text, 0) == report
    elif kind == "table":
        report = parse_table(text)
        assert report.source == "table"
        assert report.state == "ok"
        assert report.message is None
        assert report.gpu_count >= 1
        assert report.driver_version is not None
        for gpu in report.gpus:
            assert gpu.name
            assert gpu.pci_bus_id is not None
            assert gpu.memory_total_mib is not None and gpu.memory_total_mib > 0
        assert parse_output(text, 0) == report
    elif kind == "list":
        gpus = parse_list(text)
        assert len(gpus) >= 1
        assert [gpu.index for gpu in gpus] == list(range(len(gpus)))
        assert all(gpu.uuid is not None and gpu.uuid.startswith("GPU-") for gpu in gpus)
        report = parse_output(text, 0)
        assert (report.state, report.source, report.gpus) == ("ok", "list", gpus)
    elif kind == "csv":
        rows = csv_rows(name)
        lines = [line for line in text.splitlines() if line.strip()]
        header_lines = 0 if name in NOHEADER_FIELDS else 1
        assert len(rows) == len(lines) - header_lines >= 1
        keys = list(rows[0])
        assert len(keys) == lines[0].count(",") + 1
        assert all(list(row) == keys for row in rows)
        assert not any("[" in key or " " in key for key in keys), "units must leave the keys"
        assert all(value is None or value == value.strip() for r in rows for value in r.values())
    else:
        assert kind == "err"
        report = parse_output(text, 1)
        assert report.state in STATES
        assert report.state != "ok"
        assert report.message
        assert report.state == classify_error(text)


# --------------------------------------------------------------------------- XML

# file: (gpu count, product name, driver, cuda, GPU 0 bus id, GPU 0 memory MiB, MIG mode)
# fmt: off
XML_EXPECTED = {
    "xml-a100-sxm4-40gb-mig-driver-510.47.03.xml":
        (1, "NVIDIA A100-SXM4-40GB", "510.47.03", "11.6", "00000000:00:04.0", 40960, "Enabled"),
    "xml-a100-sxm4-80gb-mig-driver-535.54.03-gpu0-of-4.xml":
        (1, "NVIDIA A100-SXM4-80GB", "535.54.03", "12.2", "00000000:01:00.0", 81920, "Enabled"),
    "xml-a10g-driver-515.105.01.xml":
        (1, "NVIDIA A10G", "515.105.01", "11.7", "00000000:00:1E.0", 23028, None),
    "xml-grid-p4-1q-vgpu-windows-driver-513.46.xml":
        (1, "GRID P4-1Q", "513.46", "11.6", "00000000:00:0B.0", 1024, None),
    "xml-gt1030-driver-470.74.xml":
        (1, "NVIDIA GeForce GT 1030", "470.74", "11.4", "00000000:2D:00.0", 1998, None),
    "xml-gt730-driver-384.111-trimmed.xml":
        (1, "GeForce GT 730", "384.111", None, "00000000:01:00.0", None, None),
    "xml-gtx1070-driver-384.66-gpu2-of-6.xml":
        (2, "GeForce GTX 1070", "384.66", None, "00000000:01:00.0", 8112, None),
    "xml-gtx1070ti-v10-trimmed.xml":
        (1, "GeForce GTX 1070 Ti", None, None, "00000000:01:00.0", 4096, None),
    "xml-gtx1660ti-graphics-device-driver-418.43.xml":
        (1, "Graphics Device", "418.43", "10.1", "00000000:43:00.0", 5912, None),
    "xml-quadro-p2000-driver-525.125.06.xml":
        (1, "Quadro P2000", "525.125.06", "12.0", "00000000:17:00.0", 5120, None),
    "xml-quadro-p400-driver-418.43.xml":
        (1, "Quadro P400", "418.43", "10.1", "00000000:43:00.0", 1998, None),
    "xml-rtx-a5000-laptop-driver-575.57.08-deprecated-fields.xml":
        (1, "NVIDIA RTX A5000 Laptop GPU", "575.57.08", "12.9", "00000000:01:00.0", 16384, None),
    "xml-rtx-a5000-x2-driver-590.44.01.xml":
        (2, "NVIDIA RTX A5000", "590.44.01", "13.1", "00000000:81:00.0", 24564, None),
    "xml-rtx-pro-6000-blackwell-maxq-driver-590.44.01.xml":
        (1, "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "590.44.01", "13.1",
         "00000000:61:00.0", 97887, None),
    "xml-rtx2070-x2-driver-590.44.01.xml":
        (2, "NVIDIA GeForce RTX 2070", "590.44.01", "13.1", "00000000:01:00.0", 8192, None),
    "xml-rtx2080-windows-wddm-driver-516.59.xml":
        (1, "NVIDIA GeForce RTX 2080", "516.59", "11.7", "00000000:0A:00.0", 8192, None),
    "xml-rtx2080-x2-driver-590.44.01.xml":
        (2, "NVIDIA GeForce RTX 2080", "590.44.01", "13.1", "00000000:01:00.0", 8192, None),
    "xml-rtx2080ti-x2-driver-410.73.xml":
        (2, "GeForce RTX 2080 Ti", "410.73", "10.0", "00000000:02:00.0", 10989, None),
    "xml-rtx3060-driver-570.124.04.xml":
        (1, "NVIDIA GeForce RTX 3060", "570.124.04", "12.8", "00000000:2D:00.0", 12288, None),
    "xml-rtx3060-laptop-driver-515.65.01.xml":
        (1, "NVIDIA GeForce RTX 3060 Laptop GPU", "515.65.01", "11.7", "00000000:01:00.0", 6144,
         None),
    "xml-rtx3080-driver-595.58.03.xml":
        (1, "NVIDIA GeForce RTX 3080", "595.58.03", "13.2", "00000000:0C:00.0", 10240, None),
    "xml-rtx3080-windows-wddm-driver-536.40.xml":
        (1, "NVIDIA GeForce RTX 3080", "536.40", "12.2", "00000000:04:00.0", 10240, None),
    "xml-rtx3090-driver-525.147.05.xml":
        (1, "NVIDIA GeForce RTX 3090", "525.147.05", "12.0", "00000000:00:10.0", 24576, None),
    "xml-rtx3090-driver-590.44.01.xml":
        (1, "NVIDIA GeForce RTX 3090", "590.44.01", "13.1", "00000000:09:00.0", 24576, None),
    "xml-rtx4000-sff-ada-driver-595.84.xml":
        (1, "NVIDIA RTX 4000 SFF Ada Generation", "595.84", "13.2", "00000000:06:00.0", 20475,
         None),
    "xml-rtx4090-driver-535.86.05.xml":
        (1, "NVIDIA GeForce RTX 4090", "535.86.05", "12.2", "00000000:84:00.0", 24564, None),
    "xml-tesla-k80-x4-azure-driver-430.26.xml":
        (4, "Tesla K80", "430.26", None, "00001580:00:00.0", 11441, None),
    "xml-tesla-m2070-fermi-x3-driver-319.37.xml":
        (3, "Tesla M2070", "319.37", None, "0000:06:00.0", 5375, None),
    "xml-tesla-p100-pcie-16gb-driver-510.47.03.xml":
        (1, "Tesla P100-PCIE-16GB", "510.47.03", "11.6", "00000000:00:04.0", 16384, None),
    "xml-tesla-t4-driver-515.105.01.xml":
        (1, "Tesla T4", "515.105.01", "11.7", "00000000:00:1E.0", 15360, None),
    "xml-tesla-t4-windows-wddm-driver-512.78.xml":
        (1, "Tesla T4", "512.78", "11.6", "00000000:01:00.0", 15360, None),
    "xml-v100-sxm3-32gb-retired-pages-driver-410.104-gpu0-of-16.xml":
        (1, "Tesla V100-SXM3-32GB", "410.104", "10.0", "00000000:34:00.0", 32480, None),
}
# fmt: on


def test_xml_expectations_cover_every_xml_fixture() -> None:
    assert sorted(XML_EXPECTED) == [n for n in FIXTURE_NAMES if n.startswith("xml-")]


@pytest.mark.parametrize(("name", "expected"), sorted(XML_EXPECTED.items()))
def test_xml_real_values(name: str, expected: tuple) -> None:
    count, product, driver, cuda, bus_id, memory, mig = expected
    report = parse_xml(read(name))
    assert report.gpu_count == count
    assert {gpu.name for gpu in report.gpus} == {product}
    assert report.driver_version == driver
    assert report.cuda_version == cuda
    first = report.gpus[0]
    assert first.pci_bus_id == bus_id
    assert first.memory_total_mib == memory
    assert first.mig_mode == mig


def test_xml_index_is_element_order_not_minor_number() -> None:
    """Azure K80: minor numbers 1, 2, 3, 0 but nvidia-smi indexes in listing order."""
    report = parse_xml(read("xml-tesla-k80-x4-azure-driver-430.26.xml"))
    assert [(g.index, g.pci_bus_id, g.uuid) for g in report.gpus] == [
        (0, "00001580:00:00.0", "GPU-c3b26f7a-8dcb-619c-fa1b-8029265a4db0"),
        (1, "00002DF7:00:00.0", "GPU-b01b80eb-0f18-1df0-cf88-0725bd90f1e1"),
        (2, "00004968:00:00.0", "GPU-30bc2701-3bc2-5f35-0ebd-9867a077e138"),
        (3, "0000F8D6:00:00.0", "GPU-3341aba2-f01d-2c1f-7dd4-e389779faec2"),
    ]
    assert report.cuda_version is None  # printed as "Not Found"
    assert [g.minor for g in report.gpus] == [1, 2, 3, 0]


# Every XML fixture's <minor_number> values in <gpu> order (None: N/A on Windows/vGPU, or
# trimmed away). Two real multi-GPU captures have minors that differ from their indexes.
XML_MINORS = {
    "xml-tesla-k80-x4-azure-driver-430.26.xml": [1, 2, 3, 0],
    "xml-rtx-a5000-x2-driver-590.44.01.xml": [1, 0],
    "xml-a100-sxm4-80gb-mig-driver-535.54.03-gpu0-of-4.xml": [1],  # one GPU kept of four
    "xml-gtx1070-driver-384.66-gpu2-of-6.xml": [0, 1],
    "xml-rtx2070-x2-driver-590.44.01.xml": [0, 1],
    "xml-rtx2080-x2-driver-590.44.01.xml": [0, 1],
    "xml-rtx2080ti-x2-driver-410.73.xml": [0, 1],
    "xml-grid-p4-1q-vgpu-windows-driver-513.46.xml": [None],
    "xml-rtx2080-windows-wddm-driver-516.59.xml": [None],
    "xml-rtx3080-windows-wddm-driver-536.40.xml": [None],
    "xml-tesla-t4-windows-wddm-driver-512.78.xml": [None],
    "xml-gtx1070ti-v10-trimmed.xml": [None],
    "xml-tesla-m2070-fermi-x3-driver-319.37.xml": [None, None, None],  # DTD v5: no element
}


@pytest.mark.parametrize("name", [n for n in FIXTURE_NAMES if n.startswith("xml-")])
def test_xml_minor_numbers(name: str) -> None:
    report = parse_xml(read(name))
    assert [g.minor for g in report.gpus] == XML_MINORS.get(name, [0])


def test_xml_reports_gpu_elements_present_not_attached_gpus() -> None:
    v100 = parse_xml(read("xml-v100-sxm3-32gb-retired-pages-driver-410.104-gpu0-of-16.xml"))
    assert "<attached_gpus>16</attached_gpus>" in read(
        "xml-v100-sxm3-32gb-retired-pages-driver-410.104-gpu0-of-16.xml"
    )
    assert v100.gpu_count == 1
    a100 = parse_xml(read("xml-a100-sxm4-80gb-mig-driver-535.54.03-gpu0-of-4.xml"))
    assert a100.gpu_count == 1
    gtx = parse_xml(read("xml-gtx1070-driver-384.66-gpu2-of-6.xml"))
    assert [(g.pci_bus_id, g.memory_total_mib) for g in gtx.gpus] == [
        ("00000000:01:00.0", 8112),
        ("00000000:03:00.0", 8114),
    ]


def test_xml_mig_devices_are_not_gpus_and_their_memory_is_not_the_gpus() -> None:
    """The A100 MIG devices each carry a 19968 MiB <fb_memory_usage> of their own."""
    report = parse_xml(read("xml-a100-sxm4-40gb-mig-driver-510.47.03.xml"))
    assert report.gpus == (
        Gpu(
            index=0,
            name="NVIDIA A100-SXM4-40GB",
            uuid="GPU-27b94a00-ed54-5c24-b1fd-1054085de32a",
            pci_bus_id="00000000:00:04.0",
            memory_total_mib=40960,
            mig_mode="Enabled",
            minor=0,
        ),
    )


def test_xml_trimmed_documents_fall_back_to_gpu_id_attribute() -> None:
    gt730 = parse_xml(read("xml-gt730-driver-384.111-trimmed.xml"))
    assert gt730.gpus[0].pci_bus_id == "00000000:01:00.0"  # no <pci> element kept
    assert gt730.gpus[0].uuid == "GPU-09cb2925-9d01-5ca4-810b-6cdebe86b71a"
    trimmed = parse_xml(read("xml-gtx1070ti-v10-trimmed.xml"))
    assert (trimmed.driver_version, trimmed.cuda_version) == (None, None)


def test_xml_fermi_v5_schema_three_gpus() -> None:
    report = parse_xml(read("xml-tesla-m2070-fermi-x3-driver-319.37.xml"))
    assert [g.pci_bus_id for g in report.gpus] == ["0000:06:00.0", "0000:11:00.0", "0000:14:00.0"]
    assert [g.memory_total_mib for g in report.gpus] == [5375, 5375, 5375]
    assert [g.uuid for g in report.gpus] == [
        "GPU-3ff09cff-1e6f-1ff3-79c2-65781611b9cf",
        "GPU-30b023fd-cb36-5d13-f530-1c6ffc70671e",
        "GPU-328fef9f-ca79-4f87-c31e-19a9b747afe0",
    ]


def test_xml_second_gpu_of_multi_gpu_files() -> None:
    a5000 = parse_xml(read("xml-rtx-a5000-x2-driver-590.44.01.xml"))
    assert a5000.gpus[1] == Gpu(
        index=1,
        name="NVIDIA RTX A5000",
        uuid="GPU-12345678-aaaa-bbbb-cccc-0123456789cd",
        pci_bus_id="00000000:C1:00.0",
        memory_total_mib=24564,
        mig_mode=None,
        minor=0,
    )
    ti = parse_xml(read("xml-rtx2080ti-x2-driver-410.73.xml"))
    assert ti.gpus[1].uuid == "GPU-ef1d0068-5bfd-f1e4-7e79-ff35d71d44b8"
    assert ti.gpus[1].pci_bus_id == "00000000:03:00.0"


def test_xml_without_gpus_is_no_devices() -> None:
    report = parse_xml(
        "<?xml version='1.0' ?><nvidia_smi_log><driver_version>550.1</driver_version>"
        "<attached_gpus>0</attached_gpus></nvidia_smi_log>"
    )
    assert (report.state, report.gpu_count, report.driver_version) == ("no-devices", 0, "550.1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<other/>",
        "<nvidia_smi_log><gpu>",  # truncated
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><nvidia_smi_log>&a;'
        "</nvidia_smi_log>",  # entities are refused by defusedxml
    ],
)
def test_parse_xml_rejects_non_nvidia_smi_xml(text: str) -> None:
    with pytest.raises(ValueError):
        parse_xml(text)


# --------------------------------------------------------------------------- tables

# file: (driver, cuda, [(index, name, bus id, memory total MiB, MIG mode)])
# fmt: off
TABLE_EXPECTED = {
    "table-grid-k520-aws-driver-346.46-no-processes.txt":
        ("346.46", None, [(0, "GRID K520", "0000:00:03.0", 4095, None)]),
    "table-gtx1080ti-x2-docker-driver-440.82-empty-processes.txt":
        ("440.82", "10.2", [(0, "GeForce GTX 108...", "00000000:01:00.0", 11175, None),
                            (1, "GeForce GTX 108...", "00000000:02:00.0", 11178, None)]),
    "table-gtx1080ti-x8-driver-390.25.txt":
        ("390.25", None, [(i, "GeForce GTX 108...", f"00000000:{bus}:00.0", 11178, None)
                          for i, bus in enumerate(["04", "05", "08", "09",
                                                   "84", "85", "88", "89"])]),
    "table-h100-80gb-hbm3-driver-590.48.01-load.txt":
        ("590.48.01", "13.1",
         [(0, "NVIDIA H100 80GB HBM3", "00000000:00:09.0", 81559, "Disabled")]),
    "table-h100-80gb-hbm3-mig-driver-590.48.01-idle.txt":
        ("590.48.01", "13.1",
         [(0, "NVIDIA H100 80GB HBM3", "00000000:00:09.0", 81559, "Enabled")]),
    "table-h200-mig-driver-590.48.01-load.txt":
        ("590.48.01", "13.1", [(0, "NVIDIA H200", "00000000:83:00.0", 143771, "Enabled")]),
    "table-l40s-driver-595.80-load.txt":
        ("595.80", "13.2", [(0, "NVIDIA L40S", "00000000:01:00.0", 46068, None)]),
    "table-rtx-a6000-x4-driver-510.73.05-idle.txt":
        ("510.73.05", "11.6", [(i, "NVIDIA RTX A6000", f"00000000:{bus}:00.0", 49140, None)
                               for i, bus in enumerate(["01", "41", "81", "C1"])]),
    "table-rtx-a6000-x4-driver-510.73.05-load.txt":
        ("510.73.05", "11.6", [(i, "NVIDIA RTX A6000", f"00000000:{bus}:00.0", 49140, None)
                               for i, bus in enumerate(["01", "41", "81", "C1"])]),
    "table-rtx2070-gtx750ti-driver-450.57.txt":
        ("450.57", "11.0", [(0, "GeForce RTX 2070", "00000000:01:00.0", 7981, None),
                            (1, "GeForce GTX 750 Ti", "00000000:04:00.0", 2002, None)]),
    "table-rtx2080super-driver-610.57.04-kmd-header-load.txt":
        ("610.57.04", "13.3",
         [(0, "NVIDIA GeForce RTX 2080 ...", "00000000:0C:00.0", 8192, None)]),
    "table-rtx2080super-windows-wddm-driver-591.86-load.txt":
        ("591.86", "13.1", [(0, "NVIDIA GeForce RTX 2080 ...", "00000000:0C:00.0", 8192, None)]),
    "table-rtx3070-wsl2-smi-530.47-driver-531.68-no-timestamp.txt":
        ("531.68", "12.1", [(0, "NVIDIA GeForce RTX 3070", "00000000:2B:00.0", 8192, None)]),
    "table-tesla-k80-x4-gce-driver-375.66.txt":
        ("375.66", None, [(i, "Tesla K80", f"0000:00:0{i + 4}.0", 11439, None)
                          for i in range(4)]),
    "table-tesla-p100-sxm2-x8-driver-440.33.01.txt":
        ("440.33.01", "10.2", [(i, "Tesla P100-SXM2...", f"00000000:{bus}:00.0", 16280, None)
                               for i, bus in enumerate(["04", "05", "09", "0A",
                                                        "85", "86", "89", "8A"])]),
    "table-titan-v-driver-515.65.01-no-timestamp.txt":
        ("515.65.01", "11.7", [(0, "NVIDIA TITAN V", "00000000:AF:00.0", 12288, None)]),
}
# fmt: on


def test_table_expectations_cover_every_table_fixture() -> None:
    assert sorted(TABLE_EXPECTED) == [n for n in FIXTURE_NAMES if n.startswith("table-")]


@pytest.mark.parametrize(("name", "expected"), sorted(TABLE_EXPECTED.items()))
def test_table_real_values(name: str, expected: tuple) -> None:
    driver, cuda, gpus = expected
    report = parse_table(read(name))
    assert (report.state, report.driver_version, report.cuda_version) == ("ok", driver, cuda)
    assert [
        (g.index, g.name, g.pci_bus_id, g.memory_total_mib, g.mig_mode) for g in report.gpus
    ] == gpus
    assert all(g.uuid is None for g in report.gpus)  # the table does not print UUIDs


def test_table_mig_devices_and_processes_are_not_gpus() -> None:
    """The H200 MIG table has 5 device rows and a processes box; only 1 GPU exists."""
    report = parse_table(read("table-h200-mig-driver-590.48.01-load.txt"))
    assert report.gpu_count == 1


def test_table_after_gpu_lost_error_keeps_listed_gpus() -> None:
    name = "err-fell-off-bus-unknown-error-plus-table-rtx-pro-6000-x4-driver-610.57.04.txt"
    report = parse_table(read(name))
    assert report.state == "gpu-lost"
    assert report.message == (
        "Unable to determine the device handle for GPU1: 0000:34:00.0: Unknown Error"
    )
    assert (report.driver_version, report.cuda_version) == ("610.57.04", "13.3")
    assert [(g.index, g.pci_bus_id, g.memory_total_mib) for g in report.gpus] == [
        (0, "00000000:16:00.0", 97887),
        (2, "00000000:AC:00.0", 97887),
        (3, "00000000:CA:00.0", 97887),
    ]
    assert {g.name for g in report.gpus} == {"NVIDIA RTX PRO 6000 Blac..."}
    assert parse_output(read(name), 0) == report


def test_parse_table_rejects_text_without_table() -> None:
    with pytest.raises(ValueError):
        parse_table(read("err-no-devices-were-found.txt"))


# --------------------------------------------------------------------------- -L lists


def test_list_real_values() -> None:
    k80 = parse_list(read("list-tesla-k80-x1.txt"))
    assert k80 == (
        Gpu(
            index=0,
            name="Tesla K80",
            uuid="GPU-5c6dd8d9-b3bd-4e11-5d86-e33307f46ea5",
            pci_bus_id=None,
            memory_total_mib=None,
            mig_mode=None,
        ),
    )
    p100 = parse_list(read("list-tesla-p100-pcie-16gb-x4.txt"))
    assert [(g.index, g.name) for g in p100] == [(i, "Tesla P100-PCIE-16GB") for i in range(4)]
    assert p100[3].uuid == "GPU-69c075e7-cc59-93a1-4eb5-3a35cdaa27ad"
    assert all(g.mig_mode is None for g in p100)


def test_list_mig_lines_are_not_gpus() -> None:
    h100x8 = read("list-h100-80gb-hbm3-x8-mig-1g.10gb.txt")
    gpus = parse_list(h100x8)
    assert [(g.index, g.name, g.mig_mode) for g in gpus] == [
        (i, "NVIDIA H100 80GB HBM3", "Enabled") for i in range(8)
    ]
    assert gpus[7].uuid == "GPU-882ebfab-da98-c41e-357c-47272c0d560d"
    migs = parse_mig_list(h100x8)
    assert len(migs) == 56
    assert {m.profile for m in migs} == {"1g.10gb"}
    assert [m.gpu_index for m in migs] == [i for i in range(8) for _ in range(7)]
    assert migs[7] == MigDevice(
        gpu_index=1, index=0, profile="1g.10gb", uuid="MIG-9e577b56-8dad-58fa-9799-b034b7e42ec9"
    )

    h100 = read("list-h100-80gb-hbm3-mig-driver-590.48.01.txt")
    assert len(parse_list(h100)) == 1
    assert [m.profile for m in parse_mig_list(h100)] == ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]

    h200 = read("list-h200-mig-driver-590.48.01.txt")
    assert [(g.index, g.name) for g in parse_list(h200)] == [(0, "NVIDIA H200")]
    assert [(m.index, m.profile) for m in parse_mig_list(h200)] == [
        (0, "1c.3g.71gb"),
        (1, "2c.3g.71gb"),
        (2, "2g.35gb"),
        (3, "1g.18gb"),
        (4, "1g.18gb"),
    ]


def test_list_rejects_other_text() -> None:
    with pytest.raises(ValueError):
        parse_list(read("err-nvlink-not-supported-in-mig-mode.txt"))
    with pytest.raises(ValueError):
        parse_list("  MIG 1g.10gb     Device  0: (UUID: MIG-x)\n")  # MIG line without GPU


def test_list_without_uuid_keeps_name() -> None:
    assert parse_list("GPU 0: Tesla M2070 (S/N: 0320511020163)\n")[0].uuid is None
    assert parse_list("GPU 1: Tesla M2070\n")[0] == Gpu(1, "Tesla M2070", None, None, None, None)


# --------------------------------------------------------------------------- CSV


def test_csv_query_gpu_212_fields_h100_mig() -> None:
    name = "csv-h100-80gb-hbm3-mig-212fields-driver-590.48.01.csv"
    rows = csv_rows(name)
    assert len(rows) == 1
    row = rows[0]
    assert len(row) == 212
    assert row["driver_version"] == "590.48.01"
    assert row["name"] == "NVIDIA H100 80GB HBM3"
    assert row["count"] == "1"
    assert row["memory.total"] == "81559"  # " MiB" stripped, unit in csv_units
    assert row["mig.mode.current"] == "Enabled"
    assert row["vgpu_driver_capability.heterogenous_multivGPU"] is None  # [N/A]
    assert row["display_mode"] is None  # [Requested functionality has been deprecated]
    deprecated = read(name).count("[Requested functionality has been deprecated]")
    assert deprecated == 6
    assert csv_units(read(name))["memory.total"] == "MiB"
    assert gpus_from_csv(rows) == (
        Gpu(
            index=0,
            name="NVIDIA H100 80GB HBM3",
            uuid="GPU-00000000-0000-0000-0000-000000000000",
            pci_bus_id="00000000:00:09.0",
            memory_total_mib=81559,
            mig_mode="Enabled",
        ),
    )


@pytest.mark.parametrize(
    ("name", "fields", "product", "driver", "bus_id", "memory", "mig"),
    [
        (
            "csv-h200-212fields-driver-590.48.01-load.csv",
            212, "NVIDIA H200", "590.48.01", "00000000:83:00.0", 143771, "Disabled",
        ),
        (
            "csv-l40s-202fields-driver-595.80.csv",
            202, "NVIDIA L40S", "595.80", "00000000:01:00.0", 46068, None,
        ),
        (
            "csv-rtx2080super-241fields-driver-610.57.04.csv",
            241, "NVIDIA GeForce RTX 2080 SUPER", "610.57.04", "00000000:0C:00.0", 8192, None,
        ),
        (
            "csv-rtx2080super-windows-210fields-driver-591.86-load.csv",
            210, "NVIDIA GeForce RTX 2080 SUPER", "591.86", "00000000:0C:00.0", 8192, None,
        ),
    ],
)  # fmt: skip
def test_csv_query_gpu_wide_captures(
    name: str, fields: int, product: str, driver: str, bus_id: str, memory: int, mig: str | None
) -> None:
    rows = csv_rows(name)
    assert len(rows) == 1
    assert len(rows[0]) == fields
    assert rows[0]["driver_version"] == driver
    (gpu,) = gpus_from_csv(rows)
    assert (gpu.index, gpu.name, gpu.pci_bus_id, gpu.memory_total_mib, gpu.mig_mode) == (
        0,
        product,
        bus_id,
        memory,
        mig,
    )


def test_csv_driver_610_has_kmd_version_and_windows_has_wddm() -> None:
    assert csv_rows("csv-rtx2080super-241fields-driver-610.57.04.csv")[0]["kmd_version"] == (
        "610.57.04"
    )
    windows = csv_rows("csv-rtx2080super-windows-210fields-driver-591.86-load.csv")[0]
    assert windows["driver_model.current"] == "WDDM"
    assert "kmd_version" not in windows


def test_csv_index_memory_used_four_gpus() -> None:
    rows = csv_rows("csv-rtx-pro-6000-x4-index-memused-driver-610.57.04.csv")
    assert rows == [
        {"index": "0", "memory.used": "41270"},
        {"index": "1", "memory.used": "38722"},
        {"index": "2", "memory.used": "38714"},
        {"index": "3", "memory.used": "36720"},
    ]
    assert gpus_from_csv(rows) == ()  # no name column: cannot make a Gpu
    util = csv_rows("csv-rtx-pro-6000-x4-index-memused-util-driver-610.57.04.csv")
    assert [r["utilization.gpu"] for r in util] == ["0", "0", "0", "0"]
    assert [r["memory.used"] for r in util] == ["10", "10", "2", "2"]
    assert csv_units(read("csv-rtx-pro-6000-x4-index-memused-util-driver-610.57.04.csv")) == {
        "memory.used": "MiB",
        "utilization.gpu": "%",
    }


def test_csv_power_draw_sample_stream() -> None:
    rows = csv_rows("csv-power-draw-index-lms-series.csv")
    assert len(rows) == 91
    assert {r["index"] for r in rows} == {"0"}
    assert (rows[0]["power.draw"], rows[1]["power.draw"], rows[-1]["power.draw"]) == (
        "16.48",
        "27.32",
        "70.01",
    )


def test_csv_nounits_header_with_units_gives_same_keys() -> None:
    rows = csv_rows("csv-tesla-p100-pcie-16gb-nounits.csv")
    assert rows == [
        {
            "name": "Tesla P100-PCIE-16GB",
            "uuid": "GPU-ef1b2c9b-38d8-2090-2bd1-f567a3eb42a6",
            "fan.speed": None,
            "pstate": "P0",
            "memory.reserved": "103",
            "memory.used": "0",
            "memory.free": "16280",
            "utilization.gpu": "0",
            "utilization.memory": "0",
            "temperature.gpu": "37",
            "power.draw": "28.16",
            "clocks.current.graphics": "405",
            "clocks.current.sm": "405",
            "clocks.current.memory": "715",
            "clocks.current.video": "835",
        }
    ]
    assert gpus_from_csv(rows) == (
        Gpu(
            0, "Tesla P100-PCIE-16GB", "GPU-ef1b2c9b-38d8-2090-2bd1-f567a3eb42a6", None, None, None
        ),
    )


def test_csv_units_removed_from_values_match_nounits() -> None:
    with_units = parse_csv("index, memory.total [MiB], power.draw [W]\n0, 81559 MiB, 629.50 W\n")
    no_units = parse_csv("index, memory.total [MiB], power.draw [W]\n0, 81559, 629.50\n")
    assert (
        with_units == no_units == [{"index": "0", "memory.total": "81559", "power.draw": "629.50"}]
    )


def test_csv_not_supported_cells_are_none() -> None:
    for name, key in [
        ("csv-gtx650-utilization-gpu-not-supported-driver-410.78.csv", "utilization.gpu"),
        ("csv-gtx650-utilization-memory-not-supported-driver-410.78.csv", "utilization.memory"),
    ]:
        assert csv_rows(name) == [{key: None}]
        assert csv_units(read(name)) == {key: "%"}
    gtx770 = csv_rows("csv-noheader-gtx770-windows-not-supported.csv")[0]
    assert gtx770["gpu_name"] == "GeForce GTX 770"
    assert gtx770["temperature.gpu"] == "52"
    assert gtx770["fan.speed"] == "52 %"  # noheader: no unit to strip against
    assert gtx770["pstate"] == "P0"
    assert sum(value is None for value in gtx770.values()) == 8
    assert gpus_from_csv([gtx770]) == (Gpu(0, "GeForce GTX 770", None, None, None, None),)


def test_csv_noheader_nounits_fan_na_and_not_supported() -> None:
    newer = csv_rows("csv-noheader-nounits-2gb-gpu-fan-na-newer-driver.csv")
    older = csv_rows("csv-noheader-nounits-2gb-gpu-fan-not-supported-older-driver.csv")
    assert (
        newer
        == older
        == [
            {
                "memory.total": "2004",
                "memory.free": "2004",
                "memory.used": "0",
                "temperature.gpu": "44",
                "fan.speed": None,
                "utilization.gpu": "0",
                "utilization.memory": "0",
            }
        ]
    )


def test_csv_noheader_rtx2080_bare_na_and_gpu_uuid_alias() -> None:
    rows = csv_rows("csv-noheader-nounits-rtx2080-19fields-driver-440.64.csv")
    assert rows[0]["temperature.memory"] is None  # bare "N/A"
    assert rows[0]["driver_version"] == "440.64"
    assert rows[0]["vbios_version"] == "90.04.23.00.5F"
    assert gpus_from_csv(rows) == (
        Gpu(0, "GeForce RTX 2080", "GPU-22b2c6ac-2d49-4863-197c-9c469071178a", None, 7979, None),
    )


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("csv-accounted-apps-l40s-driver-595.80.csv", 3),
        ("csv-compute-apps-h100-mig-driver-590.48.01-load.csv", 3),
        ("csv-compute-apps-rtx2080super-windows-driver-591.86-load.csv", 12),
        ("csv-retired-pages-h100-driver-590.48.01.csv", 2),
    ],
)
def test_csv_per_process_and_page_rows_are_not_gpus(name: str, count: int) -> None:
    rows = csv_rows(name)
    assert len(rows) == count
    assert gpus_from_csv(rows) == ()


def test_csv_per_process_values() -> None:
    apps = csv_rows("csv-compute-apps-h100-mig-driver-590.48.01-load.csv")
    assert [(r["pid"], r["process_name"], r["used_gpu_memory"]) for r in apps] == [
        ("21180", "/root/tools/memhog", "2296"),
        ("21181", "/root/tools/memhog", "1272"),
        ("21198", "./gpu_burn", "7484"),
    ]
    windows = csv_rows("csv-compute-apps-rtx2080super-windows-driver-591.86-load.csv")
    assert {r["used_gpu_memory"] for r in windows} == {None}
    assert {r["gpu_serial"] for r in windows} == {None}
    assert windows[2]["process_name"] == "C:\\Windows\\System32\\dwm.exe"
    accounted = csv_rows("csv-accounted-apps-l40s-driver-595.80.csv")
    assert [(r["pid"], r["gpu_utilization"], r["time"]) for r in accounted] == [
        ("15727", "71", "5270"),
        ("17439", "65", "5096"),
        ("18679", "99", "153712"),
    ]
    pages = csv_rows("csv-retired-pages-h100-driver-590.48.01.csv")
    assert [(r["retired_pages.address"], r["retired_pages.cause"]) for r in pages] == [
        (None, "Single Bit ECC"),
        (None, "Double Bit ECC"),
    ]


def test_csv_cell_count_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="row 1 has 3 cells, expected 2"):
        parse_csv("index, name\n0, a, b\n")
    with pytest.raises(ValueError):
        parse_csv("2004, 0\n", ["memory.total"])
    with pytest.raises(ValueError):
        parse_csv("")


# --------------------------------------------------------------------------- errors

ERR_STATES = {
    "err-driver-library-mismatch-classic.txt": "driver-mismatch",
    "err-driver-library-mismatch-with-nvml-version-550.144.txt": "driver-mismatch",
    "err-driver-library-mismatch-with-nvml-version-570.124.txt": "driver-mismatch",
    "err-fell-off-bus-unknown-error-2015-format.txt": "gpu-lost",
    "err-fell-off-bus-unknown-error-2024-format-tesla-p4.txt": "gpu-lost",
    "err-fell-off-bus-unknown-error-plus-table-rtx-pro-6000-x4-driver-610.57.04.txt": "gpu-lost",
    "err-gpu-is-lost-reboot.txt": "gpu-lost",
    "err-no-devices-were-found.txt": "no-devices",
    "err-no-driver-couldnt-communicate.txt": "no-driver",
    # Not GPU health: the subcommand/option is unsupported; the text is kept as message.
    "err-nvlink-all-links-inactive-rtx2080super.txt": "error",
    "err-nvlink-not-supported-in-mig-mode.txt": "error",
    "err-nvlink-not-supported-rtx4080super.txt": "error",
    "err-windows-topo-m-option-missing-exit255.txt": "error",
}


def test_error_expectations_cover_every_err_fixture() -> None:
    assert sorted(ERR_STATES) == [n for n in FIXTURE_NAMES if n.startswith("err-")]


@pytest.mark.parametrize(("name", "state"), sorted(ERR_STATES.items()))
def test_error_states(name: str, state: str) -> None:
    text = read(name)
    assert classify_error(text) == state
    report = parse_output(text, 255 if "exit255" in name else 9)
    assert report.state == state
    assert report.message is not None
    assert report.message.splitlines()[0] == text.splitlines()[0].strip()


def test_error_messages_are_kept_whole_and_stripped() -> None:
    mismatch = parse_output(read("err-driver-library-mismatch-with-nvml-version-570.124.txt"), 18)
    assert mismatch.message == (
        "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 570.124"
    )
    assert (mismatch.gpus, mismatch.source) == ((), "error")
    topo = parse_output(read("err-windows-topo-m-option-missing-exit255.txt"), 255)
    assert (
        topo.message
        == "ERROR: Option -m is missing its value. Please run 'nvidia-smi -h' for help."
    )
    lost = parse_output(read("err-gpu-is-lost-reboot.txt"), 15)
    assert lost.message is not None and lost.message.endswith(
        "Reboot the system to recover this GPU"
    )


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("Failed to initialize NVML: Driver Not Loaded", "no-driver"),
        ("NVIDIA-SMI couldn't find libnvidia-ml.so library in your system.", "no-driver"),
        ("Unable to determine the device handle for GPU 0000:03:00.0: GPU requires reset",
         "gpu-lost"),
        (
            "Unable to determine the device handle for GPU 0000:03:00.0: Unknown Error\n"
            "No devices were found",
            "gpu-lost",
        ),
        ("Failed to initialize NVML: Unknown Error", "error"),
        ("", "error"),
    ],
)  # fmt: skip
def test_classify_error_edge_cases(text: str, state: str) -> None:
    assert classify_error(text) == state


# --------------------------------------------------------------------------- dispatch + fact

XML_NAME = "xml-rtx2080ti-x2-driver-410.73.xml"


def fact_lines(body: str, exit_status: int) -> list[str]:
    """What pyinfra hands NvidiaSmi.process when nvidia-smi ran: its lines, then the marker."""
    return [*body.splitlines(), "", f"{EXIT_MARKER}{exit_status}"]


NOT_INSTALLED_LINES = [f"{EXIT_MARKER}127", NOT_INSTALLED_MARKER]


def test_parse_output_not_installed() -> None:
    report = parse_output(NOT_INSTALLED_LINES, None)
    assert report == NvidiaSmiReport(state="not-installed", source="none")
    assert report.gpu_count == 0
    # exit 127 alone (shell: "nvidia-smi: not found") means the same
    assert parse_output("sh: 1: nvidia-smi: not found", 127).state == "not-installed"


def test_parse_output_no_driver_with_exit_9() -> None:
    text = read("err-no-driver-couldnt-communicate.txt")
    report = parse_output(fact_lines(text, 9), None)
    assert report.state == "no-driver"
    assert report.message == text.strip()
    assert (report.gpus, report.driver_version, report.source) == ((), None, "error")


def test_parse_output_ok_xml_with_exit_0() -> None:
    report = parse_output(fact_lines(read(XML_NAME), 0), None)
    assert report == parse_xml(read(XML_NAME))
    assert (report.state, report.gpu_count, report.driver_version, report.cuda_version) == (
        "ok",
        2,
        "410.73",
        "10.0",
    )
    assert report.message is None


def test_parse_output_text_and_lines_agree() -> None:
    text = read(XML_NAME) + f"\n{EXIT_MARKER}0\n"
    assert parse_output(text) == parse_output(text.splitlines())


def test_parse_output_ok_but_nonzero_exit_is_error_with_gpus() -> None:
    report = parse_output(fact_lines(read(XML_NAME), 3), None)
    assert report.state == "error"
    assert report.message == "nvidia-smi exited with status 3"
    assert report.gpu_count == 2


def test_parse_output_explicit_exit_status_wins_over_marker() -> None:
    assert parse_output(fact_lines(read(XML_NAME), 3), 0).state == "ok"


def test_parse_output_error_line_before_xml_keeps_gpus() -> None:
    """With 2>&1 a lost GPU's complaint lands before the XML describing the rest."""
    lost = "Unable to determine the device handle for GPU 0000:34:00.0: Unknown Error"
    report = parse_output(fact_lines(lost + "\n" + read(XML_NAME), 0), None)
    assert (report.state, report.message, report.gpu_count) == ("gpu-lost", lost, 2)


def test_parse_output_truncated_xml_is_error() -> None:
    text = read(XML_NAME)
    report = parse_output(fact_lines(text[: len(text) // 2], 0), None)
    assert report.state == "error"
    assert report.message is not None and report.message.startswith("not nvidia-smi XML")


def test_parse_output_timeout_and_silence() -> None:
    timed_out = parse_output([f"{EXIT_MARKER}124"])
    assert (timed_out.state, timed_out.message) == ("error", "nvidia-smi timed out")
    silent = parse_output(["", f"{EXIT_MARKER}0"])
    assert (silent.state, silent.message) == ("error", "nvidia-smi printed nothing")


def test_parse_output_csv_is_not_mistaken_for_gpus() -> None:
    report = parse_output(read("csv-rtx-pro-6000-x4-index-memused-driver-610.57.04.csv"), 0)
    assert (report.state, report.gpu_count) == ("error", 0)


def test_split_fact_output_handles_marker_glued_to_last_line() -> None:
    body, status, missing = split_fact_output(["</nvidia_smi_log>" + EXIT_MARKER + "0"])
    assert (body, status, missing) == ("</nvidia_smi_log>", 0, False)
    assert split_fact_output(NOT_INSTALLED_LINES) == ("", 127, True)
    assert split_fact_output("No devices were found\n") == ("No devices were found", None, False)


def test_report_to_json_is_plain_json() -> None:
    report = parse_xml(read("xml-a100-sxm4-40gb-mig-driver-510.47.03.xml"))
    data = json.loads(json.dumps(report.to_json()))
    assert data == {
        "state": "ok",
        "gpu_count": 1,
        "gpus": [
            {
                "index": 0,
                "name": "NVIDIA A100-SXM4-40GB",
                "uuid": "GPU-27b94a00-ed54-5c24-b1fd-1054085de32a",
                "pci_bus_id": "00000000:00:04.0",
                "memory_total_mib": 40960,
                "mig_mode": "Enabled",
                "minor": 0,
            }
        ],
        "driver_version": "510.47.03",
        "cuda_version": "11.6",
        "message": None,
        "source": "xml",
    }
    mig = parse_mig_list(read("list-h200-mig-driver-590.48.01.txt"))[0]
    assert mig.to_json() == {
        "gpu_index": 0,
        "index": 0,
        "profile": "1c.3g.71gb",
        "uuid": "MIG-00000000-0000-0000-0000-000000000000",
    }


def test_report_rejects_unknown_state() -> None:
    with pytest.raises(ValueError):
        NvidiaSmiReport(state="fine")


def test_fact_process_directly() -> None:
    fact = NvidiaSmi()
    assert fact.process(NOT_INSTALLED_LINES).state == "not-installed"
    ok = fact.process(fact_lines(read(XML_NAME), 0))
    assert (ok.state, [g.name for g in ok.gpus]) == ("ok", ["GeForce RTX 2080 Ti"] * 2)
    mismatch = fact.process(fact_lines(read("err-driver-library-mismatch-classic.txt"), 18))
    assert mismatch.state == "driver-mismatch"
    assert NvidiaSmi.default().state == "error"
    assert NvidiaSmi.name == "facts.nvidia.NvidiaSmi"


def test_fact_command_uses_markers_and_no_requires_command() -> None:
    fact = NvidiaSmi()
    command = fact.command()
    assert "nvidia-smi -q -x 2>&1" in command
    assert EXIT_MARKER in command and NOT_INSTALLED_MARKER in command
    assert fact.requires_command() is None


SH = shutil.which("sh")


def run_fact_command(path: Path) -> tuple[int, list[str]]:
    done = subprocess.run(
        [str(SH), "-c", NvidiaSmi().command()],
        env={"PATH": str(path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stderr == ""
    return done.returncode, done.stdout.splitlines()


def fake_nvidia_smi(bin_dir: Path, fixture: str, exit_status: int, to_stderr: bool) -> None:
    """A stand-in nvidia-smi made of shell builtins only, so PATH can hold nothing else."""
    redirect = " >&2" if to_stderr else ""
    script = bin_dir / "nvidia-smi"
    script.write_text(
        f"#!{SH}\n"
        f'while IFS= read -r line || [ -n "$line" ]; do printf \'%s\\n\' "$line"{redirect}; '
        f"done < '{FIXTURES / fixture}'\n"
        f"exit {exit_status}\n"
    )
    script.chmod(0o755)


@pytest.mark.skipif(SH is None, reason="needs a POSIX sh")
def test_fact_command_under_sh_without_nvidia_smi(tmp_path: Path) -> None:
    rc, lines = run_fact_command(tmp_path)
    assert rc == 0
    kernel = [] if Path("/proc/driver/nvidia/version").exists() else [NO_KERNEL_DRIVER_MARKER]
    assert lines == [*kernel, *NOT_INSTALLED_LINES]
    assert NvidiaSmi().process(lines).state == "not-installed"


@pytest.mark.skipif(SH is None, reason="needs a POSIX sh")
@pytest.mark.parametrize("with_timeout", [False, True])
def test_fact_command_under_sh_with_xml(tmp_path: Path, with_timeout: bool) -> None:
    if with_timeout:
        timeout = shutil.which("timeout")
        if timeout is None:
            pytest.skip("no timeout(1) here")
        os.symlink(timeout, tmp_path / "timeout")
    fake_nvidia_smi(tmp_path, XML_NAME, 0, to_stderr=False)
    rc, lines = run_fact_command(tmp_path)
    assert rc == 0
    assert lines[-1] == f"{EXIT_MARKER}0"
    assert NvidiaSmi().process(lines) == parse_xml(read(XML_NAME))


@pytest.mark.skipif(SH is None, reason="needs a POSIX sh")
def test_fact_command_under_sh_driver_error_exits_zero(tmp_path: Path) -> None:
    fake_nvidia_smi(tmp_path, "err-no-driver-couldnt-communicate.txt", 9, to_stderr=True)
    rc, lines = run_fact_command(tmp_path)
    assert rc == 0  # pyinfra would fail the host otherwise
    assert lines[-1] == f"{EXIT_MARKER}9"
    report = NvidiaSmi().process(lines)
    assert report.state == "no-driver"
    assert report.message == read("err-no-driver-couldnt-communicate.txt").strip()


def test_nvml_unknown_error_without_kernel_module_is_no_driver() -> None:
    # What Debian's real nvidia-smi package prints in a container without the module.
    output = ["Failed to initialize NVML: Unknown Error", f"{EXIT_MARKER}255"]
    assert NvidiaSmi().process(output).state == "error"
    report = NvidiaSmi().process([NO_KERNEL_DRIVER_MARKER, *output])
    assert report.state == "no-driver"
    assert report.message == "Failed to initialize NVML: Unknown Error"


def test_kernel_marker_does_not_override_a_healthy_report() -> None:
    lines = [NO_KERNEL_DRIVER_MARKER, *read(XML_NAME).splitlines(), f"{EXIT_MARKER}0"]
    assert NvidiaSmi().process(lines).state == "ok"
