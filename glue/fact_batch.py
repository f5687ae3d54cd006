"""A host's facts in one remote command: the commands its last run asked, run together.

pyinfra 3.10 reads every fact with a command of its own and caches nothing: a no-op
converge of a worker asks some 170 fact commands (``cat /etc/group`` once per user), each
an SSH channel round trip, while the operations that ask them change nothing.

So the first fact a host is asked runs, in one remote script, every fact command the same
deploy asked of that host in its last run (a record on the controller: command strings
only), and keeps the answers. Until any operation anywhere runs a command or uploads a
file, a fact command is answered from them (the hosts are as they were when the script
read them); from the first change on, and for every command not in the record (or with
its own timeout, stdin, a PTY, a password), facts go to the host one by one, as before.
So a no-op run reads each host once, and a run that changes something reads live from
its first change. The answers are those of exactly the same command lines (same shell,
user and environment), so the plan and ``--dry`` show what they would without the batch.

A fact whose answer moves without this run doing anything (``snakepit_live = True``, such
as slurmctld's view of the nodes) is always read live. Without ``-y`` the answers read
while pyinfra plans are not reused once it executes (an admin may answer its prompt much
later): the first fact then reads the batch again. Commands holding a masked part (pyinfra's
``MaskString``, how secrets are passed) are neither recorded nor answered.
``SNAKEPIT_FACT_BATCH=0`` turns the batch off. The records live in
``$XDG_CACHE_HOME/snakepit-pyinfra/fact-commands`` (default ``~/.cache``).
"""

from __future__ import annotations

import atexit
import base64
import functools
import gzip
import hashlib
import io
import json
import os
import secrets
import shlex
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import gevent.local
from pyinfra.api import facts as pyinfra_facts
from pyinfra.api.command import StringCommand
from pyinfra.api.state import StateStage
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.connectors.util import CommandOutput, OutputLine, make_unix_command_for_host

_PATCHED = "_snakepit_fact_batch"
# Arguments the batch cannot reproduce: a command with any of them goes to the host alone.
_ALONE = ("_get_pty", "_timeout", "_stdin", "_sudo_password", "_su_password", "_retries")
# What the SSH connector takes for itself before it makes the command line.
_CONNECTOR_ONLY = ("_get_pty", "_timeout", "_stdin", "_success_exit_codes")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "snakepit-pyinfra" / "fact-commands"


@dataclass
class HostFacts:
    """One host's record (asked last run), answers (this run) and questions (this run)."""

    path: Path
    recorded: list[str]
    answers: dict[str, tuple[bool, CommandOutput]] | None = None
    answered_in: StateStage | None = None  # the stage the answers were read in
    asked: list[str] = field(default_factory=list)


_HOSTS: dict[str, HostFacts] = {}
# Set by the first command or upload of an operation: from then on, facts read live.
_RUN = {"changed": False}
# The fact being read in this greenlet (hosts run in greenlets of their own).
_READING = gevent.local.local()


def record_path(host) -> Path:
    """The record of this host, for this inventory and these deploy files."""
    files = [os.path.abspath(arg) for arg in sys.argv[1:] if arg.endswith(".py")]
    address = host.data.get("ssh_hostname") or host.name
    key = json.dumps([host.name, address, files])
    return cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def _host_facts(host) -> HostFacts:
    if host.name not in _HOSTS:
        path = record_path(host)
        try:
            recorded = json.loads(path.read_text())["commands"]
        except (OSError, ValueError, KeyError, TypeError):
            recorded = []
        _HOSTS[host.name] = HostFacts(path, [c for c in recorded if isinstance(c, str)])
    return _HOSTS[host.name]


def batch_script(commands: list[str], marker: str) -> str:
    """A POSIX sh script that runs each command line as the SSH connector would (each is
    a whole ``sh -c '...'`` line, run in a subshell with no stdin), all at once since they
    only read, keeps each one's stdout, stderr and status in files, and prints ``MARKER``
    then those files as one gzipped tar, in base64: two more processes for the whole
    batch, whatever the commands print."""
    lines = ["__snakepit_t=$(mktemp -d) || exit 1"]
    for index, command in enumerate(commands):
        files = f"$__snakepit_t/{index}"
        lines.append(
            f"{{ (unset __snakepit_t; eval {shlex.quote(command)}) "
            f'>"{files}.o" 2>"{files}.e" </dev/null; '
            f'echo $? >"{files}.s"; }} &'
        )
    lines += [
        "wait",
        f"echo {marker}",
        'tar -C "$__snakepit_t" -cf - . | gzip -1 | base64',
        'rm -rf "$__snakepit_t"',
    ]
    return "\n".join(lines) + "\n"


def _lines(buffer: str, data: bytes) -> list[OutputLine]:
    text = data.decode("utf-8", errors="replace")
    if text.endswith("\n"):
        text = text[:-1]
    return [OutputLine(buffer, line) for line in text.split("\n")] if text else []


def parse_batch(output: list[str], commands: list[str], marker: str) -> dict:
    """{command: (status, output)} from the script's stdout lines; a command whose files
    are not all there (the script was cut short) is left out, and so goes to the host."""
    if marker not in output:
        return {}
    encoded = "".join(output[output.index(marker) + 1 :])
    try:
        archive = gzip.decompress(base64.b64decode(encoded))
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            files = {
                member.name.removeprefix("./"): tar.extractfile(member).read()
                for member in tar.getmembers()
                if member.isfile()
            }
    except (ValueError, OSError, EOFError, tarfile.TarError):
        return {}
    answers: dict[str, tuple[bool, CommandOutput]] = {}
    for index, command in enumerate(commands):
        parts = [files.get(f"{index}.{kind}") for kind in "oes"]
        if None in parts or not parts[2].strip().isdigit():
            continue
        combined = _lines("stdout", parts[0]) + _lines("stderr", parts[1])
        answers[command] = (int(parts[2]) == 0, CommandOutput(combined))
    return answers


def _prefetch(method, connector, commands: list[str]) -> dict:
    if not commands:
        return {}
    marker = f"snakepit-fact-{secrets.token_hex(8)}"
    try:
        ok, output = method(
            connector,
            StringCommand("sh -s"),
            _stdin=batch_script(commands, marker),
        )
    except Exception:  # the batch is only a shortcut: each fact then asks on its own
        return {}
    if not ok:
        return {}
    return parse_batch(
        [line.line for line in output if line.buffer_name == "stdout"], commands, marker
    )


def _reading_fact(method):
    """Mark the greenlet as reading a fact of ``host`` (and which) while pyinfra does."""

    @functools.wraps(method)
    def _get_fact(state, host, cls, *args, **kwargs):
        before = getattr(_READING, "fact", None)
        _READING.fact = (host.name, cls)
        try:
            return method(state, host, cls, *args, **kwargs)
        finally:
            _READING.fact = before

    setattr(_get_fact, _PATCHED, True)
    return _get_fact


def _changing(method):
    """An upload is a change: from now on facts read live."""

    @functools.wraps(method)
    def put_file(self, *args, **kwargs):
        _RUN["changed"] = True
        return method(self, *args, **kwargs)

    setattr(put_file, _PATCHED, True)
    return put_file


def _batched(method):
    @functools.wraps(method)
    def run_shell_command(self, command, print_output=False, print_input=False, **arguments):
        def live():
            return method(self, command, print_output, print_input, **arguments)

        host = self.host
        reading = getattr(_READING, "fact", None)
        if reading is None or reading[0] != host.name:
            # An operation's command (or a check it runs): it may change the host.
            if self.state.current_stage == StateStage.Execute:
                _RUN["changed"] = True
            return live()
        if (
            getattr(reading[1], "snakepit_live", False)
            or print_output
            or print_input
            or any(arguments.get(key) for key in _ALONE)
            or arguments.get("_success_exit_codes") not in (None, [0], (0,))
        ):
            return live()
        passed = {k: v for k, v in arguments.items() if k not in _CONNECTOR_ONLY}
        unix = make_unix_command_for_host(self.state, host, command, **passed)
        final = unix.get_raw_value()
        if str(unix) != final:  # a masked (secret) part: never recorded, never batched
            return live()
        facts = _host_facts(host)
        facts.asked.append(final)
        if _RUN["changed"]:
            return live()
        stage = self.state.current_stage
        # With -y (no confirmation asked) the plan runs at once: its answers still hold.
        stale = facts.answered_in != stage and self.state.check_for_changes
        if facts.answers is None or stale:
            facts.answers, facts.answered_in = _prefetch(method, self, facts.recorded), stage
        return facts.answers.get(final) or live()

    setattr(run_shell_command, _PATCHED, True)
    return run_shell_command


def save() -> None:
    """Write each host's record: the fact commands this run asked, in order, once each."""
    for facts in _HOSTS.values():
        if not facts.asked:
            continue
        try:
            facts.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            asked = list(dict.fromkeys(facts.asked))
            scratch = facts.path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump({"commands": asked}, handle)
            os.replace(scratch, facts.path)  # another run reading it sees all or nothing
        except OSError:
            pass  # no record: the next run asks one by one


def install() -> None:
    if os.environ.get("SNAKEPIT_FACT_BATCH", "1") == "0":
        return
    if getattr(SSHConnector.run_shell_command, _PATCHED, False):
        return
    SSHConnector.run_shell_command = _batched(SSHConnector.run_shell_command)
    SSHConnector.put_file = _changing(SSHConnector.put_file)
    pyinfra_facts._get_fact = _reading_fact(pyinfra_facts._get_fact)
    atexit.register(save)
