"""The real Snakepit cluster.

Never run anything against this inventory from a development or CI machine: these are the
production hosts' private addresses. The sandbox generates its own inventory
(`snakepit-sandbox inventory`) that reuses `group_data/` with small overrides.
"""

slurm_head = [("mlchead", {"ssh_hostname": "192.168.1.1"})]

# One inventory group per partition (group_data/<partition>.py declares its hardware).
# Worker addresses follow the head at .10 + N; check them against the DHCP plan first.
txp = [(f"mlc{i}", {"ssh_hostname": f"192.168.1.{10 + i}"}) for i in range(4)]
g2080 = [(f"mlc{i}", {"ssh_hostname": f"192.168.1.{10 + i}"}) for i in (4, 5)]
q6000 = [("mlc6", {"ssh_hostname": "192.168.1.16"})]

slurm_worker = [*txp, *g2080, *q6000]
