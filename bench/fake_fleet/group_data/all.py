# The fake fleet's overrides on top of the repository's group_data/: the same as the
# sandbox the answers in ../responses.json were recorded on (`snakepit-sandbox up`
# writes these for a sandbox), so the fleet plans against the data those hosts converged to.
import json
import runpy
from pathlib import Path

__here = Path(__file__).resolve().parent
__production = runpy.run_path(str(__here.parents[2] / "group_data" / "all.py"))

cluster_subnet = json.loads((__here.parent / "responses.json").read_text())["subnet"]
# Throwaway secrets made by bench/fleet_plan.py (git-ignored): recorded answers hold none.
secrets_file = str(__here.parent / "secrets.yaml")
storage = {**__production["storage"], "mode": "shared-volume"}
proxy = {**__production["proxy"], "cache_size_mib": 2000}
__fleet = {"txp": {"gpu_type": "geforce_rtx_2080_ti", "default": True}}
__known = {p["name"]: p for p in __production["slurm_partitions"]}
slurm_partitions = [
    {**__known.get(name, {"name": name}), **fleet} for name, fleet in __fleet.items()
]
