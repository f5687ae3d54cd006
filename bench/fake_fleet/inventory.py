"""A fake fleet: one head and $SNAKEPIT_FAKE_WORKERS workers (200 unless set) that answer
every command from answers recorded on a converged sandbox (bench/fake_fleet/responses.json).

Run only through bench/fake_pyinfra.py, which puts every host on pyinfra's fake connector
(bench/fleet_plan.py does). The head answers as the recorded head did; every worker as the
recorded worker did, with that worker's name and address rewritten to its own wherever they
appear in a command or an answer (``slurmd -C``'s ``NodeName=``, /etc/hosts). A command
nobody recorded fails the host, instead of the fake connector's default of an empty success:
a plan built on answers nobody gave would prove nothing. Addresses follow the recording
sandbox's (its subnet, head .2, workers from .3 on) and the workers are all in partition
txp, as there (group_data/ beside this file holds that sandbox's overrides)."""

import ipaddress
import json
import os
import re
from pathlib import Path

from bench.fake_pyinfra import UNRECORDED

_RECORDING = json.loads((Path(__file__).parent / "responses.json").read_text())
_WORKERS = int(os.environ.get("SNAKEPIT_FAKE_WORKERS", "200"))
_UNRECORDED = {re.compile(""): {"success": False, "stderr": UNRECORDED}}
_INSTANT = {"fake_delay": 0, "fake_delay_jitter": 0}


def _answers(responses, renames=None):
    """fake_responses for one host: each recorded command matched exactly, first answer kept;
    ``renames`` (recorded text -> this worker's) rewrites a worker's own name and address in
    the answers that mention them (the others are shared by every worker)."""
    word = _words(renames or {})
    out = {}
    for response in responses:
        texts = [response["command"], *response["stdout"], *response["stderr"]]
        if renames and any(word.search(text) for text in texts):
            response = {
                key: _renamed(word, renames, response[key])
                for key in ("command", "success", "stdout", "stderr")
            }
        pattern = _pattern(response["command"])
        if pattern not in out:
            out[pattern] = {key: response[key] for key in ("success", "stdout", "stderr")}
    return {**out, **_UNRECORDED}


_WORDS: dict = {}


def _words(renames):
    # Whole words only: worker1 is not the start of worker10, 172.19.0.3 not of 172.19.0.30.
    olds = tuple(sorted(renames))
    if olds not in _WORDS:
        either = "|".join(re.escape(old) for old in olds) or "(?!)"
        _WORDS[olds] = re.compile(rf"(?<![\w.-])({either})(?![\w-]|\.\w)")
    return _WORDS[olds]


def _renamed(word, renames, value):
    if isinstance(value, str):
        return word.sub(lambda match: renames[match.group(1)], value)
    if isinstance(value, list):
        return [_renamed(word, renames, line) for line in value]
    return value


_PATTERNS: dict = {}


def _pattern(command):
    # One compiled pattern per distinct command, shared by every host that runs it.
    if command not in _PATTERNS:
        _PATTERNS[command] = re.compile(rf"^{re.escape(command)}\Z")
    return _PATTERNS[command]


def _address(index):
    return str(ipaddress.ip_address(_RECORDING["head"]["address"]) + index)


_worker = _RECORDING["worker"]
_names = [f"worker{number}" for number in range(1, _WORKERS + 1)]

slurm_head = [
    (
        _RECORDING["head"]["name"],
        {
            "ssh_hostname": _address(0),
            "fake_responses": _answers(_RECORDING["head"]["responses"]),
            **_INSTANT,
        },
    )
]
slurm_worker = [
    (
        name,
        {
            "ssh_hostname": _address(number),
            "fake_responses": _answers(
                _worker["responses"],
                {_worker["name"]: name, _worker["address"]: _address(number)},
            ),
            **_INSTANT,
        },
    )
    for number, name in enumerate(_names, start=1)
]
txp = list(_names)
