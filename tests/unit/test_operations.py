"""Our operations run against faked facts, one JSON file per case (pyinfra's own way).

Each ``tests/operations/<module>.<operation>/<case>.json`` calls the generator of
``operations.<module>.<operation>`` for one fake host and compares what it yields, exactly.
Adding or changing a case is editing JSON; this file knows no operation by name, and an
operation in ``operations/`` without a folder of cases fails ``test_every_operation_has_cases``.

A case holds:

``args``, ``kwargs``
    The operation's arguments (strings may carry the value tags below).
``facts``
    What the host reports, keyed by the fact class's import path without pyinfra's
    ``pyinfra.facts.`` prefix: ``"files.FileContents"`` is
    ``pyinfra.facts.files.FileContents``, ``"facts.dpkg.DpkgBom"`` is ours. A fact read with
    arguments holds an object keyed by those arguments as pyinfra writes them
    (``pyinfra.api.util.get_kwargs_str``: sorted ``name=value`` pairs joined by ``", "``,
    a list as Python prints it): ``{"path=/etc/x": [...]}``, ``{"packages=['a', 'b']": ...}``.
    A value is what ``host.get_fact`` returns (JSON plus the tags below), or
    ``{"output": [lines]}``: what the fact's command printed, which the fact's own
    ``process()`` turns into the value (how typed facts such as DpkgBom and AptPolicy are
    given). Reading a fact the case does not list fails, and so does listing one that the
    operation does not read.
``commands``
    Exactly what the operation yields, in order: a shell command as its text, an upload as
    ``["upload", "<dest>"]`` (content left out; see ``uploads``), a download as
    ``["download", "<src>", "<dest>"]``, a Python callback (pyinfra's ``server.reboot``
    waits for the host in one) as ``["function", "<its name>"]``. ``[]`` when there is
    nothing to do.
``noop``
    The text of each ``host.noop()`` call, in order (a string when there is one; absent:
    none). pyinfra operations used inside ours add theirs (``files.put``: "file ... is
    already uploaded").
``logs``
    The lines printed with ``host.log()``; absent: none.
``uploads`` (optional)
    ``{"<dest>": [lines]}``: the content of those uploads, each line with its ``\\n``.
``exception`` (optional)
    ``{"name": "OperationError", "message": "..."}``: the operation raises exactly this,
    after yielding ``commands``.
``downloads`` (optional)
    ``{"<url>": [lines] | null}``: what the controller may fetch with
    ``urllib.request.urlopen`` (``null``: the URL cannot be reached). Any other URL fails
    the case, so no case touches the network.
``host`` (optional)
    The host's name, ``"testhost"`` by default.
``global_arguments`` (optional)
    pyinfra's global arguments of the operation (``{"_sudo": true}``), as the host sees them
    in ``host.current_op_global_arguments``.
``executing`` (optional)
    ``true`` runs the operation as pyinfra does while executing (``state.is_executing``);
    by default it runs as while planning, with change detection on.

Value tags (in ``args`` and ``kwargs``; in fact values only ``tuple:``):

* ``["tuple:", a, b]`` is the tuple ``(a, b)``
* ``"bytes:TEXT"`` is ``b"TEXT"`` (UTF-8)
* ``"secret:LABEL:TEXT"`` is ``SecretBytes(b"TEXT", "LABEL")`` (LABEL holds no ``:``)
* ``"file:NAME"`` is the absolute path of NAME, relative to the case's folder
* ``"vendor_source:NAME"`` is the ``source`` of the CUDA manifest NAME (as ``file:``)
* ``"function:MODULE.NAME"`` is that Python function (a callback an operation runs later);
  a yielded callback is written ``["function", "MODULE.NAME", {its keyword arguments}]``

Each case starts with a cold controller: the ``functools`` caches of the operation's module
(the fetched vendor key, loaded manifests) are cleared first.
"""

from __future__ import annotations

import inspect
import io
import json
import urllib.error
import urllib.request
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import (
    Config,
    FileDownloadCommand,
    FileUploadCommand,
    FunctionCommand,
    StringCommand,
)
from pyinfra.api.util import get_kwargs_str
from pyinfra.context import ctx_host, ctx_state

from operations.secrets import SecretBytes
from snakepit.cuda.manifest import load_manifest

CASES_DIR = Path(__file__).resolve().parents[1] / "operations"
CASES = sorted(CASES_DIR.glob("*.*/*.json"))
CASE_KEYS = frozenset(
    {
        "args",
        "kwargs",
        "facts",
        "commands",
        "noop",
        "logs",
        "uploads",
        "exception",
        "downloads",
        "host",
        "executing",
        "global_arguments",
    }
)
PYINFRA_FACTS = "pyinfra.facts."


class MissingFact(AssertionError):
    """The operation read a fact the case does not list (never an expected exception)."""


def parse_value(value: Any, case_dir: Path, string_tags: bool = True) -> Any:
    """JSON value -> Python value, resolving the tags listed in the module docstring (in
    fact values only ``tuple:``, so that a file's line can never read as a tag)."""
    if isinstance(value, str) and string_tags:
        tag, _, rest = value.partition(":")
        if tag == "bytes":
            return rest.encode()
        if tag == "secret":
            label, _, text = rest.partition(":")
            return SecretBytes(text.encode(), label)
        if tag == "file":
            return str((case_dir / rest).resolve())
        if tag == "vendor_source":
            return load_manifest(case_dir / rest).source
        if tag == "function":
            module, _, name = rest.rpartition(".")
            return getattr(import_module(module), name)
        return value
    if isinstance(value, list):
        if value and value[0] == "tuple:":
            return tuple(parse_value(item, case_dir, string_tags) for item in value[1:])
        return [parse_value(item, case_dir, string_tags) for item in value]
    if isinstance(value, dict):
        return {key: parse_value(item, case_dir, string_tags) for key, item in value.items()}
    return value


def fact_key(fact_cls: type) -> str:
    """``files.FileContents`` for pyinfra's facts, ``facts.dpkg.DpkgBom`` for ours."""
    module = fact_cls.__module__.removeprefix(PYINFRA_FACTS)
    return f"{module}.{fact_cls.__name__}"


class FakeState:
    """The little of pyinfra's State that operations (ours and pyinfra's files.put) use."""

    cwd = "/"

    def __init__(self, executing: bool):
        self.is_executing = executing
        self.config = Config()

    def should_check_for_changes(self) -> bool:
        return True


class FakeHost:
    """A host whose facts come from a case, and which records noop and log calls."""

    in_op = True
    current_op_hash = None
    current_op_global_arguments = None
    print_prefix = ""

    def __init__(self, name: str, facts: dict[str, Any], state: FakeState, case_dir: Path):
        self.name = name
        self.state = state
        self.facts = facts
        self.case_dir = case_dir
        self.reads: dict[str, set[str | None]] = {}
        self.noops: list[str] = []
        self.logs: list[str] = []

    def get_fact(self, fact_cls: type, *args: Any, **kwargs: Any) -> Any:
        key = fact_key(fact_cls)
        if args:
            raise MissingFact(f"{key}: pass fact arguments by name, not {args!r}")
        # A fake for arguments the fact does not take would hide a bug in the operation.
        inspect.signature(fact_cls.command).bind(None, **kwargs)
        if key not in self.facts:
            raise MissingFact(f"the operation read {key}, which the case does not list")
        value = self.facts[key]
        if kwargs:
            args_key = get_kwargs_str(kwargs)
            if not isinstance(value, dict) or args_key not in value:
                raise MissingFact(
                    f"the operation read {key} with {args_key!r}; the case lists "
                    f"{sorted(value) if isinstance(value, dict) else 'no arguments'}"
                )
            self.reads.setdefault(key, set()).add(args_key)
            value = value[args_key]
        else:
            self.reads.setdefault(key, set()).add(None)
        if isinstance(value, dict) and set(value) == {"output"}:
            fact = fact_cls()
            if kwargs:
                fact.command(**kwargs)  # pyinfra's facts keep state from it (FileContents)
            return fact.process(value["output"])
        return parse_value(value, self.case_dir, string_tags=False)

    def unread(self) -> list[str]:
        """The facts (and arguments) the case lists that the operation never read."""
        unread = []
        for key, value in self.facts.items():
            reads = self.reads.get(key)
            if reads is None:
                unread.append(key)
            elif None not in reads:
                unread += [f"{key} with {args!r}" for args in value if args not in reads]
        return unread

    def noop(self, description: str) -> None:
        self.noops.append(description)

    def log(self, message: str, log_func: Any = None) -> None:
        self.logs.append(message)

    def get_temp_filename(self, *args: Any, **kwargs: Any) -> str:
        return "_tempfile_"


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def fake_urlopen(downloads: dict[str, list[str] | None]):
    def urlopen(url: str, *args: Any, **kwargs: Any) -> FakeResponse:
        if url not in downloads:
            raise AssertionError(f"the controller fetched {url}, which the case does not list")
        if downloads[url] is None:
            raise urllib.error.URLError("unreachable in this case")
        return FakeResponse("\n".join(downloads[url]).encode() + b"\n")

    return urlopen


def render(command: Any) -> Any:
    """A yielded command as a case writes it."""
    if isinstance(command, str):  # pyinfra turns these into StringCommands the same way
        command = StringCommand(command.strip())
    if isinstance(command, StringCommand):
        rendered: Any = command.get_raw_value()
    elif isinstance(command, FileUploadCommand):
        rendered = ["upload", str(command.dest)]
    elif isinstance(command, FileDownloadCommand):
        rendered = ["download", str(command.src), str(command.dest)]
    elif isinstance(command, FunctionCommand):
        function = command.function
        rendered = ["function", function.__name__]
        if command.kwargs:
            rendered.append(command.kwargs)
    else:
        raise AssertionError(f"{command!r} is not a command this runner knows")
    if command.connector_arguments:
        rendered = {"command": rendered, **command.connector_arguments}
    return rendered


def upload_text(command: FileUploadCommand) -> list[str]:
    command.src.seek(0)
    data = command.src.read()
    text = data.decode() if isinstance(data, bytes) else data
    return text.splitlines(keepends=True)


def as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def run_case(case: dict[str, Any], case_dir: Path) -> dict[str, Any]:
    """Run the case's operation for a fake host; what it did, in the case's own terms."""
    module_name, op_name = case_dir.name.split(".")
    module = import_module(f"operations.{module_name}")
    for value in vars(module).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()
    state = FakeState(executing=case.get("executing", False))
    host = FakeHost(case.get("host", "testhost"), case.get("facts", {}), state, case_dir)
    host.current_op_global_arguments = case.get("global_arguments")
    args = parse_value(case.get("args", []), case_dir)
    kwargs = parse_value(case.get("kwargs", {}), case_dir)
    yielded = []
    raised = None
    with ctx_state.use(state), ctx_host.use(host):
        try:
            for command in getattr(module, op_name)._inner(*args, **kwargs):
                yielded.append(command)
        except MissingFact:
            raise
        except Exception as error:
            if "exception" not in case:
                raise
            raised = error

    unread = host.unread()
    assert not unread, f"the case lists facts the operation does not read: {unread}"
    got: dict[str, Any] = {
        "commands": [render(command) for command in yielded],
        "noop": host.noops,
        "logs": host.logs,
    }
    if "exception" in case:
        got["exception"] = raised and {"name": type(raised).__name__, "message": str(raised)}
    if "uploads" in case:
        got["uploads"] = {
            str(command.dest): upload_text(command)
            for command in yielded
            if isinstance(command, FileUploadCommand) and str(command.dest) in case["uploads"]
        }
    return got


@pytest.mark.parametrize("case_path", CASES, ids=case_id)
def test_operation(case_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = json.loads(case_path.read_text())
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"unknown keys in the case: {sorted(unknown)}"
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(case.get("downloads", {})))

    got = run_case(case, case_path.parent)

    wanted = {
        "commands": case["commands"],
        "noop": as_list(case.get("noop")),
        "logs": case.get("logs", []),
    }
    for optional in ("exception", "uploads"):
        if optional in case:
            wanted[optional] = case[optional]
    assert got == wanted, "the operation gave:\n" + json.dumps(got, indent=4, default=str)


def test_every_operation_has_cases() -> None:
    """Every operation in operations/ has a folder of cases."""
    with_cases = {case.parent.name for case in CASES}
    for path in sorted((CASES_DIR.parents[1] / "operations").glob("*.py")):
        module = import_module(f"operations.{path.stem}")
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) == module.__name__ and hasattr(value, "_inner"):
                folder = f"{path.stem}.{name}"
                assert folder in with_cases, f"no cases in tests/operations/{folder}/"
