"""The whole cluster: the head first, then the workers.

pyinfra inventory.py deploys/site.py
"""

from deploys.roles import converge

converge(("head", "worker"))
