"""The fact batch answers each command exactly as the host would have, one by one."""

from __future__ import annotations

import subprocess

from glue.fact_batch import batch_script, parse_batch

COMMANDS = [
    "echo one; echo two",
    "printf 'no newline'",
    "echo out; echo err >&2; exit 3",
    "true",
    "printf 'caf\\303\\251\\n\\n  spaced  \\n'",
    "sh -c 'echo \"quoted $((1 + 1))\"'",
    "cat",  # reads stdin: gets none, as pyinfra's commands do
    "exit 7",  # ends its own shell, not the batch
    "printf '%s' \"$__snakepit_t\"",  # the batch's variable is not the command's
]


def alone(command: str) -> tuple[bool, list[tuple[str, str]]]:
    done = subprocess.run(
        ["sh", "-c", command], capture_output=True, stdin=subprocess.DEVNULL, check=False
    )
    lines = []
    for name, data in (("stdout", done.stdout), ("stderr", done.stderr)):
        text = data.decode()
        text = text[:-1] if text.endswith("\n") else text
        lines += [(name, line) for line in text.split("\n")] if text else []
    return done.returncode == 0, lines


def test_each_answer_is_what_the_command_alone_gives():
    marker = "snakepit-fact-test"
    script = batch_script(COMMANDS, marker)
    done = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, check=True)
    answers = parse_batch(done.stdout.decode().splitlines(), COMMANDS, marker)
    assert list(answers) == COMMANDS
    assert answers["exit 7"][0] is False
    for command in COMMANDS:
        status, output = answers[command]
        assert (status, [(line.buffer_name, line.line) for line in output]) == alone(command)


def test_a_script_cut_short_answers_nothing():
    marker = "snakepit-fact-test"
    script = batch_script(["echo a", "echo b"], marker)
    cut = "\n".join(script.splitlines()[:3]) + "\n"  # ends before the archive
    done = subprocess.run(["sh", "-s"], input=cut.encode(), capture_output=True, check=False)
    assert parse_batch(done.stdout.decode().splitlines(), ["echo a", "echo b"], marker) == {}
