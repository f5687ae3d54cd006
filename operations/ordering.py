"""Ordering between hosts in different roles.

pyinfra orders operations per host and merges the hosts' sequences; two roles' operations
that share no operation can interleave. A barrier is one operation called at the same place
for every host: everything before it, on any host, runs before everything after it.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation


@operation(is_idempotent=True)
def barrier(reason: str):
    """
    Change nothing; make every host's earlier operations precede every later one.

    + reason: why the order matters (shown in the output)

    .. code:: python

        barrier(name="slurmctld is up", reason="workers fetch slurm.conf from it")
    """
    host.noop(reason)
    return
    yield  # a generator that yields nothing
