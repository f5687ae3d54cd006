"""The head node: proxy, users, munge, NFS exports, MariaDB + slurmdbd, slurmctld.

pyinfra inventory.py deploys/head.py --limit slurm_head
"""

from deploys.roles import converge

converge(("head",))
