"""The head node: slurmctld, slurmdbd + MariaDB, NFS server, the caching proxy."""
