"""Take a worker out of the cluster before removing it from the inventory.

pyinfra inventory.py deploys/retire.py --limit mlc4

The node is drained (reason "snakepit: retired"; running jobs finish) and its slurmd is
stopped and disabled. Then remove the host from the inventory and run deploys/site.py: its
node line leaves slurm.conf and gres.conf (slurmctld restarts) and sinfo no longer lists it.
Without this step a removed worker's slurmd keeps running, idle and unknown to slurmctld,
until it is restarted, when it exits ("Unable to determine this slurmd's NodeName").
"""

from deploys.roles import retire

retire()
