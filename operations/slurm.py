"""Checks that run on the host while the deploy executes, after a Slurm daemon action and
before its applied record is written (``applied(verify=...)``): the cluster took the change,
or the host fails with slurmctld's reason and the next run repeats the action."""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence

import gevent
from pyinfra import logger
from pyinfra.api import StringCommand

from facts.slurm import SlurmNodes
from snakepit.cuda.rollout import resume_command
from snakepit.slurm import NodeLine
from snakepit.slurm_verify import check_nodes

POLL_S = 2
# A node must look right this long: a slurmd that dies just after its start (a gres.conf
# File it cannot stat, say) is caught before the record says "applied".
SETTLE_S = 6
# slurmctld answers within seconds of its start; one silent this long is down.
SLURMCTLD_ANSWER_S = 30
# A daemon's own reason for not running: the last "fatal" line of its latest start, else its
# last "error" line (older starts' lines are not its reason now).
LAST_FATAL_LINE = (
    "journalctl _SYSTEMD_INVOCATION_ID=$(systemctl show -p InvocationID --value {unit}) "
    "--no-pager -o cat 2>/dev/null | awk "
    "'tolower($0) ~ /fatal/ {{f=$0}} tolower($0) ~ /error/ {{e=$0}} "
    'END {{print (f != "" ? f : e)}}\''
)


def _run(host, command: str) -> tuple[bool, list[str]]:
    ok, output = host.run_shell_command(StringCommand(command))
    return ok, [line.line for line in output]


def _service_failure(host, service: str) -> str | None:
    """None while ``service`` is active; else the last error line it logged."""
    ok, _ = _run(host, f"systemctl is-active --quiet {shlex.quote(service)}")
    if ok:
        return None
    _, lines = _run(host, LAST_FATAL_LINE.format(unit=shlex.quote(service)))
    return f"{service} is not running" + (f": {lines[-1].strip()}" if lines else "")


def nodes_took_config(
    state,
    host,
    lines: Sequence[NodeLine],
    slurm_user: str,
    registered: bool,
    wait_s: int,
    service: str | None = None,
) -> bool:
    """Poll ``scontrol show node`` until every node of ``lines`` is as planned
    (`snakepit.slurm_verify.check_nodes`) for SETTLE_S seconds, at most ``wait_s``; resume
    the nodes slurmctld drained for a mismatch that is now fixed. ``service``: the daemon
    just (re)started here, which must stay running. On failure log one line per problem
    (slurmctld's own reason) and return False: pyinfra fails the host."""
    names = ",".join(line.name for line in lines)
    started = time.monotonic()
    deadline = started + wait_s
    good_since = None
    while True:
        problems: tuple[str, ...] = ()
        silent = False  # slurmctld does not answer at all
        failure = _service_failure(host, service) if service else None
        if failure:
            problems = (failure,)
        elif lines:
            table = host.get_fact(SlurmNodes, nodes=names)
            silent = table.error is not None
            verdict = check_nodes(table, lines, slurm_user, registered)
            problems = verdict.problems
            for name in verdict.resume:
                ok, output = _run(host, resume_command(name))
                host.log_styled(
                    f"{name}: resumed (slurmctld had drained it for a registration now fixed)"
                    if ok
                    else f"{name}: resume failed: {' '.join(output)}",
                    log_func=logger.info if ok else logger.error,
                )
            if verdict.resume:
                problems = ("resumed nodes not yet seen idle",)
        now = time.monotonic()
        if problems:
            good_since = None
            waited = now - started
            if (
                now >= deadline
                or (failure and waited >= SETTLE_S)
                or (silent and waited >= SLURMCTLD_ANSWER_S)
            ):
                for problem in problems:
                    host.log_styled(problem, fg="red", log_func=logger.error)
                return False
        else:
            good_since = now if good_since is None else good_since
            if now - good_since >= SETTLE_S:
                return True
        gevent.sleep(POLL_S)
