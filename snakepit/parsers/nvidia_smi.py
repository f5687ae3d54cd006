"""Pure parsers for ``nvidia-smi`` output.

The NvidiaSmi fact runs ``nvidia-smi -q -x`` on a node and hands the text here; the
other parsers (CSV ``--query-*``, ``-L`` lists, the default human table) exist because
operators paste those outputs and because the same health states show up in all of them.
No I/O and no pyinfra here, so every branch can be tested against captured real output.

Decisions worth knowing:

* ``Gpu.index`` is nvidia-smi's enumeration index. In XML it is the position of the
  ``<gpu>`` element: ``nvidia-smi -q`` prints GPUs in index order, while ``minor_number``
  is the ``/dev/nvidiaN`` number and differs from the index on real machines (Azure K80:
  minor numbers 1, 2, 3, 0). Tables, ``-L`` lists and CSV ``index`` columns print the
  index; only XML has ``Gpu.minor`` (None elsewhere, and where it prints N/A: Windows).
* Names are kept as printed. The human table truncates long names
  (``"GeForce GTX 108..."``), so prefer XML or CSV when the full name matters.
* ``memory_total_mib`` is the framebuffer total as printed; DTD v5 (2015) prints it in
  ``MB``, which nvidia-smi meant as MiB, so it is taken as is.
* Texts that are not about GPU health (``nvlink -s`` "not supported"/"all links are
  inActive", Windows ``topo -m`` usage errors) classify as ``"error"`` with the text kept
  in ``message``: they mean "this command told us nothing", not "the GPU is sick".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

STATES = ("ok", "not-installed", "no-driver", "driver-mismatch", "no-devices", "gpu-lost", "error")

# Lines the NvidiaSmi fact command prints around nvidia-smi's own output. They start with
# "@@" so no nvidia-smi output (XML, tables, error texts) can be mistaken for them.
EXIT_MARKER = "@@snakepit-nvidia-smi-exit="
NOT_INSTALLED_MARKER = "@@snakepit-nvidia-smi-not-installed"

# Exit status of `timeout(1)` when it had to kill nvidia-smi (hangs happen with lost GPUs).
TIMEOUT_EXIT = 124
# Printed by the fact when /proc/driver/nvidia/version is absent: no NVIDIA kernel module.
NO_KERNEL_DRIVER_MARKER = "@@snakepit-nvidia-no-kernel-driver"

# Cells nvidia-smi prints when it has no value. Other bracketed texts ("[Unknown Error]",
# "[Insufficient Permissions]") are kept verbatim because they carry information.
_NO_VALUE = frozenset(
    {
        "N/A",
        "[N/A]",
        "Not Supported",
        "[Not Supported]",
        "Requested functionality has been deprecated",
        "[Requested functionality has been deprecated]",
    }
)

# Query fields that make a CSV per-process or per-page rather than per-GPU.
_NOT_PER_GPU_FIELDS = frozenset(
    {"pid", "process_name", "retired_pages.address", "retired_pages.timestamp"}
)


@dataclass(frozen=True)
class Gpu:
    """One physical GPU (never a MIG device) as nvidia-smi reports it."""

    index: int
    name: str
    uuid: str | None
    pci_bus_id: str | None
    memory_total_mib: int | None
    mig_mode: str | None
    minor: int | None = None  # the N of /dev/nvidiaN (XML only); Slurm's NVML plugin uses it

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MigDevice:
    """A MIG device line of ``nvidia-smi -L``; kept apart so it is never counted as a GPU."""

    gpu_index: int
    index: int
    profile: str
    uuid: str | None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NvidiaSmiReport:
    """What one nvidia-smi run says about a host: a health state plus the GPUs it listed."""

    state: str
    gpus: tuple[Gpu, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    message: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown nvidia-smi state {self.state!r}")

    @property
    def gpu_count(self) -> int:
        return len(self.gpus)

    def to_json(self) -> dict:
        return {
            "state": self.state,
            "gpu_count": self.gpu_count,
            "gpus": [gpu.to_json() for gpu in self.gpus],
            "driver_version": self.driver_version,
            "cuda_version": self.cuda_version,
            "message": self.message,
            "source": self.source,
        }


def _value(text: str | None) -> str | None:
    """Strip a printed value; None for nvidia-smi's "no value" spellings and blanks."""
    if text is None:
        return None
    text = text.strip()
    if not text or text in _NO_VALUE:
        return None
    return text


def _leading_int(text: str | None) -> int | None:
    """The integer at the start of e.g. "40960 MiB", "5375 MB", "81559"."""
    if text is None:
        return None
    match = re.match(r"\s*(\d+)", text)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- XML


def _child_text(element: Element, path: str) -> str | None:
    found = element.find(path)
    return _value(found.text) if found is not None else None


def _gpu_from_xml(index: int, element: Element) -> Gpu:
    memory = _child_text(element, "fb_memory_usage/total")
    if memory is None:  # DTD v5 (drivers <= ~340) called it memory_usage
        memory = _child_text(element, "memory_usage/total")
    return Gpu(
        index=index,
        name=_child_text(element, "product_name") or "",
        uuid=_child_text(element, "uuid"),
        # Trimmed documents may lack <pci>; the id attribute is the same bus id.
        pci_bus_id=_child_text(element, "pci/pci_bus_id") or _value(element.get("id")),
        memory_total_mib=_leading_int(memory),
        mig_mode=_child_text(element, "mig_mode/current_mig"),
        minor=_leading_int(_child_text(element, "minor_number")),
    )


def parse_xml(text: str) -> NvidiaSmiReport:
    """Parse ``nvidia-smi -q -x`` (DTD v5..v13); raise ValueError if it is not that.

    Only the ``<gpu>`` elements present are reported: ``attached_gpus`` is ignored because
    it counts GPUs nvidia-smi could not describe and is wrong in trimmed documents.
    """
    try:
        root = fromstring(text.strip())
    except (ParseError, DefusedXmlException) as exc:
        raise ValueError(f"not nvidia-smi XML: {exc}") from exc
    if root.tag != "nvidia_smi_log":
        raise ValueError(f"not nvidia-smi XML: root element is <{root.tag}>")
    gpus = tuple(_gpu_from_xml(i, el) for i, el in enumerate(root.findall("gpu")))
    cuda = _child_text(root, "cuda_version")
    return NvidiaSmiReport(
        state="ok" if gpus else "no-devices",
        gpus=gpus,
        driver_version=_child_text(root, "driver_version"),
        cuda_version=None if cuda == "Not Found" else cuda,
        message=None if gpus else "nvidia-smi XML lists no <gpu> elements",
        source="xml",
    )


# --------------------------------------------------------------------------- CSV

_HEADER_UNIT = re.compile(r"^(?P<name>.*?)\s*\[(?P<unit>[^\]]+)\]$")


def _csv_lines(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.splitlines() if line.strip()]


def _csv_header(line: str) -> tuple[list[str], list[str | None]]:
    keys: list[str] = []
    units: list[str | None] = []
    for cell in line.split(","):
        cell = cell.strip()
        match = _HEADER_UNIT.match(cell)
        keys.append(match.group("name") if match else cell)
        units.append(match.group("unit") if match else None)
    return keys, units


def csv_units(text: str) -> dict[str, str]:
    """Units declared by a CSV header row, e.g. ``{"memory.total": "MiB"}``."""
    lines = _csv_lines(text)
    if not lines:
        return {}
    keys, units = _csv_header(lines[0])
    return {key: unit for key, unit in zip(keys, units, strict=True) if unit}


def parse_csv(text: str, fields: list[str] | None = None) -> list[dict[str, str | None]]:
    """Parse ``--query-*=... --format=csv[,noheader][,nounits]`` into one dict per row.

    Without ``fields`` the first line is the header; header units (``memory.total [MiB]``)
    are dropped from the keys (see ``csv_units``) and stripped from the values, so
    ``csv`` and ``csv,nounits`` give the same rows. With ``fields`` (``noheader``) no line
    is a header and values are kept as printed, since there is no unit to check against.
    "No value" cells become None; all other values stay strings. A row whose cell count
    differs from the header raises ValueError rather than silently shifting columns.
    """
    lines = _csv_lines(text)
    if fields is None:
        if not lines:
            raise ValueError("empty CSV: no header row")
        keys, units = _csv_header(lines[0])
        lines = lines[1:]
    else:
        keys, units = list(fields), [None] * len(fields)
    rows: list[dict[str, str | None]] = []
    for number, line in enumerate(lines, start=1):
        cells = line.split(",")
        if len(cells) != len(keys):
            raise ValueError(f"CSV row {number} has {len(cells)} cells, expected {len(keys)}")
        row: dict[str, str | None] = {}
        for key, unit, cell in zip(keys, units, cells, strict=True):
            value = _value(cell)
            if value is not None and unit and value.endswith(" " + unit):
                value = value[: -len(unit) - 1].rstrip()
            row[key] = value
        rows.append(row)
    return rows


def gpus_from_csv(rows: Iterable[dict[str, str | None]]) -> tuple[Gpu, ...]:
    """GPUs from ``--query-gpu`` rows that carry a name column.

    Per-process (``--query-compute-apps``, ``--query-accounted-apps``) and retired-page
    rows repeat a GPU once per process/page, and rows without a name cannot make a Gpu:
    both give ``()``. The index comes from an ``index`` column, else the row position.
    """
    gpus: list[Gpu] = []
    for position, row in enumerate(rows):
        if _NOT_PER_GPU_FIELDS & row.keys():
            return ()
        name = row.get("name") or row.get("gpu_name")
        if name is None:
            return ()
        index = _leading_int(row.get("index"))
        gpus.append(
            Gpu(
                index=position if index is None else index,
                name=name,
                uuid=row.get("uuid") or row.get("gpu_uuid"),
                pci_bus_id=row.get("pci.bus_id") or row.get("gpu_bus_id"),
                memory_total_mib=_leading_int(row.get("memory.total")),
                mig_mode=row.get("mig.mode.current"),
            )
        )
    return tuple(gpus)


# --------------------------------------------------------------------------- -L list

_LIST_GPU = re.compile(r"^GPU (?P<index>\d+): (?P<rest>.+?)\s*$")
_LIST_UUID = re.compile(r"^(?P<name>.+?) \(UUID: (?P<uuid>[^)]+)\)$")
_LIST_MIG = re.compile(
    r"^\s+MIG (?P<profile>\S+)\s+Device\s+(?P<index>\d+): \(UUID: (?P<uuid>[^)]+)\)\s*$"
)


def _parse_list_lines(text: str) -> tuple[tuple[Gpu, ...], tuple[MigDevice, ...]]:
    gpus: list[Gpu] = []
    migs: list[MigDevice] = []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if (mig := _LIST_MIG.match(line)) is not None:
            if not gpus:
                raise ValueError(f"MIG device line before any GPU line: {line!r}")
            migs.append(
                MigDevice(
                    gpu_index=gpus[-1].index,
                    index=int(mig.group("index")),
                    profile=mig.group("profile"),
                    uuid=mig.group("uuid"),
                )
            )
            continue
        gpu = _LIST_GPU.match(line)
        if gpu is None:
            raise ValueError(f"not an nvidia-smi -L line: {line!r}")
        rest = gpu.group("rest")
        with_uuid = _LIST_UUID.match(rest)
        gpus.append(
            Gpu(
                index=int(gpu.group("index")),
                name=with_uuid.group("name") if with_uuid else rest,
                uuid=with_uuid.group("uuid") if with_uuid else None,
                pci_bus_id=None,
                memory_total_mib=None,
                mig_mode=None,
            )
        )
    # -L only shows MIG mode indirectly: MIG device lines mean it is on. A GPU without
    # such lines may still have MIG enabled with no instances, so that stays unknown.
    mig_gpus = {mig.gpu_index for mig in migs}
    gpus = [replace(g, mig_mode="Enabled") if g.index in mig_gpus else g for g in gpus]
    return tuple(gpus), tuple(migs)


def parse_list(text: str) -> tuple[Gpu, ...]:
    """GPUs of ``nvidia-smi -L``; MIG device lines are not GPUs (see ``parse_mig_list``).

    Raises ValueError on any line that is neither a GPU nor a MIG device line.
    """
    return _parse_list_lines(text)[0]


def parse_mig_list(text: str) -> tuple[MigDevice, ...]:
    """MIG devices of ``nvidia-smi -L``, each tied to the index of its parent GPU."""
    return _parse_list_lines(text)[1]


# --------------------------------------------------------------------------- table

_TABLE_HEADER = re.compile(r"^\|\s*NVIDIA-SMI\s+\S+")
_TIMESTAMP = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2}\s+\d{1,2} \d{2}:\d{2}:\d{2} \d{4}$")
_TABLE_NAME = re.compile(r"^\s*(?P<index>\d+)\s+(?P<name>.*?)\s+(?:On|Off|WDDM|TCC|MCDM|N/A)\s*$")
_TABLE_INDEX_ONLY = re.compile(r"^\s*(?P<index>\d+)\s+(?P<name>.*?)\s*$")
_BUS_ID = re.compile(r"[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]")
_MEMORY_TOTAL = re.compile(r"/\s*(\d+)\s*Mi?B")


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.endswith("|"):
        line = line[:-1]
    return line[1:].split("|")


def _table_gpu(block: list[list[str]]) -> Gpu | None:
    first = block[0]
    match = _TABLE_NAME.match(first[0]) or _TABLE_INDEX_ONLY.match(first[0])
    if match is None:
        return None
    bus = _BUS_ID.search(first[1])
    memory = _MEMORY_TOTAL.search(block[1][1]) if len(block) > 1 else None
    mig = block[2][2].strip() if len(block) > 2 else ""
    return Gpu(
        index=int(match.group("index")),
        name=match.group("name"),
        uuid=None,
        pci_bus_id=bus.group(0) if bus else None,
        memory_total_mib=int(memory.group(1)) if memory else None,
        mig_mode=mig if mig in ("Enabled", "Disabled") else None,
    )


def parse_table(text: str) -> NvidiaSmiReport:
    """Parse the default ``nvidia-smi`` table (drivers 346..610, Windows, WSL, MIG).

    Lines printed before the table (other than the timestamp) are errors nvidia-smi hit
    on some GPUs: the state then comes from ``classify_error`` but the GPUs the table
    still lists are returned. The 610 header's "KMD Version" is the driver version and
    "CUDA UMD Version" the CUDA version. Raises ValueError if there is no table.
    """
    lines = [line.rstrip("\r") for line in text.splitlines()]
    header_at = next((i for i, line in enumerate(lines) if _TABLE_HEADER.match(line)), None)
    if header_at is None:
        raise ValueError("no nvidia-smi table header (| NVIDIA-SMI ...) found")
    header = lines[header_at]
    driver = re.search(r"(?:Driver|KMD) Version:\s*(\S+)", header)
    cuda = re.search(r"CUDA (?:UMD )?Version:\s*(\S+)", header)

    box_top = header_at - 1 if header_at > 0 and lines[header_at - 1].startswith("+") else header_at
    preamble = [
        line.strip()
        for line in lines[:box_top]
        if line.strip() and not _TIMESTAMP.match(line.strip())
    ]

    gpus: list[Gpu] = []
    columns_at = next((i for i in range(header_at, len(lines)) if "Bus-Id" in lines[i]), None)
    if columns_at is not None:
        width = len(_cells(lines[columns_at]))
        body_at = next(
            (i for i in range(columns_at, len(lines)) if lines[i].startswith("|=")), len(lines)
        )
        blocks: list[list[list[str]]] = [[]]
        for line in lines[body_at + 1 :]:
            if line.startswith("+"):
                blocks.append([])
                continue
            if not line.startswith("|") or len(_cells(line)) != width:
                break  # blank separator or the next box (MIG devices, processes)
            blocks[-1].append(_cells(line))
        gpus = [gpu for block in blocks if block if (gpu := _table_gpu(block)) is not None]

    if preamble:
        message: str | None = "\n".join(preamble)
        state = classify_error(message)
    elif gpus:
        message, state = None, "ok"
    else:
        message, state = "nvidia-smi table lists no GPUs", "no-devices"
    return NvidiaSmiReport(
        state=state,
        gpus=tuple(gpus),
        driver_version=driver.group(1) if driver else None,
        cuda_version=cuda.group(1) if cuda else None,
        message=message,
        source="table",
    )


# --------------------------------------------------------------------------- errors

_LOST_PHRASES = ("gpu is lost", "fallen off the bus", "fell off the bus", "gpu requires reset")


def classify_error(text: str) -> str:
    """Map nvidia-smi's error text to a state; unrecognised text is ``"error"``.

    Order matters when several lines are present: a version mismatch or missing driver
    explains everything after it, and a lost GPU is more specific than the
    "No devices were found" that follows it on single-GPU hosts.
    """
    lowered = text.lower()
    if "driver/library version mismatch" in lowered:
        return "driver-mismatch"
    if (
        "couldn't communicate with the nvidia driver" in lowered
        or "driver not loaded" in lowered
        or "couldn't find libnvidia-ml.so" in lowered
    ):
        return "no-driver"
    if any(phrase in lowered for phrase in _LOST_PHRASES) or (
        "unable to determine the device handle" in lowered and "unknown error" in lowered
    ):
        return "gpu-lost"
    if "no devices were found" in lowered:
        return "no-devices"
    return "error"


# --------------------------------------------------------------------------- dispatch


def _strip_marker(lines: list[str], marker: str) -> tuple[list[str], bool]:
    kept = [line for line in lines if marker not in line]
    return kept, len(kept) != len(lines)


def split_fact_output(lines_or_text: str | Iterable[str]) -> tuple[str, int | None, bool]:
    """Separate the fact command's marker lines from nvidia-smi's own output.

    Returns (nvidia-smi text, exit status from the marker or None, not-installed marker
    seen). A marker glued to the end of a line (output without a final newline) counts.
    """
    if isinstance(lines_or_text, str):
        lines = lines_or_text.splitlines()
    else:
        lines = [line for chunk in lines_or_text for line in chunk.splitlines() or [""]]
    kept: list[str] = []
    status: int | None = None
    not_installed = False
    for line in lines:
        line = line.rstrip("\r")
        had_marker = False
        if NOT_INSTALLED_MARKER in line:
            not_installed = had_marker = True
            line = line.replace(NOT_INSTALLED_MARKER, "")
        head, marker, tail = line.partition(EXIT_MARKER)
        if marker:
            digits = re.match(r"\d+", tail)
            status = int(digits.group(0)) if digits else status
            line, had_marker = head, True
        if had_marker and not line.strip():
            continue
        kept.append(line)
    return "\n".join(kept).strip("\n"), status, not_installed


def _from_xml_output(body: str) -> NvidiaSmiReport:
    start = body.find("<?xml")
    if start < 0:
        start = body.find("<nvidia_smi_log")
    end = body.rfind("</nvidia_smi_log>")
    end = len(body) if end < 0 else end + len("</nvidia_smi_log>")
    try:
        report = parse_xml(body[start:end])
    except ValueError as exc:
        return NvidiaSmiReport(state="error", message=str(exc), source="xml")
    extra = "\n".join(
        line.strip() for line in (body[:start] + "\n" + body[end:]).splitlines() if line.strip()
    )
    if extra:
        # 2>&1 puts nvidia-smi's complaints about single GPUs next to the XML.
        report = replace(report, state=classify_error(extra), message=extra)
    return report


def parse_output(
    lines_or_text: str | Iterable[str], exit_status: int | None = None
) -> NvidiaSmiReport:
    """Turn whatever an nvidia-smi run printed into a report; never raises.

    Accepts the NvidiaSmi fact's lines (markers included) or plain text. An explicit
    ``exit_status`` wins over the marker's. Dispatch: not installed (marker or exit 127),
    timeout (exit 124), XML, table, ``-L`` list, else error text via ``classify_error``.
    Output that parses as healthy but came with a non-zero exit is reported as
    ``"error"`` (GPUs kept), because nvidia-smi failed at something.
    """
    lines = lines_or_text.splitlines() if isinstance(lines_or_text, str) else list(lines_or_text)
    lines, no_kernel_driver = _strip_marker(lines, NO_KERNEL_DRIVER_MARKER)
    body, marker_status, not_installed = split_fact_output(lines)
    status = marker_status if exit_status is None else exit_status
    text = body.strip()
    if not_installed or status == 127:
        return NvidiaSmiReport(state="not-installed", message=text or None, source="none")
    if status == TIMEOUT_EXIT:
        message = "nvidia-smi timed out" + (f":\n{text}" if text else "")
        return NvidiaSmiReport(state="error", message=message, source="none")
    if not text:
        message = "nvidia-smi printed nothing" + (f" (exit {status})" if status else "")
        return NvidiaSmiReport(state="error", message=message, source="none")

    if "<nvidia_smi_log" in text:
        report = _from_xml_output(text)
    elif any(_TABLE_HEADER.match(line) for line in text.splitlines()):
        report = parse_table(text)
    else:
        try:
            gpus = parse_list(text)
        except ValueError:
            gpus = ()
        if gpus:
            report = NvidiaSmiReport(state="ok", gpus=gpus, source="list")
        else:
            report = NvidiaSmiReport(state=classify_error(text), message=text, source="error")

    if report.state == "ok" and status not in (None, 0):
        report = replace(report, state="error", message=f"nvidia-smi exited with status {status}")
    if report.state != "ok" and no_kernel_driver:
        # Without the kernel module nvidia-smi's wording varies ("couldn't communicate
        # with the NVIDIA driver", or "Failed to initialize NVML: Unknown Error" when a
        # stale /dev/nvidiactl exists); the missing /proc entry is the real cause.
        report = replace(report, state="no-driver")
    return report
