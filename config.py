"""pyinfra settings for every run of this project (read before the inventory)."""

from glue import fact_batch, preflight, pyinfra_fixes

# The operations, facts and JSON output we rely on are pyinfra 3.10's.
REQUIRE_PYINFRA_VERSION = ">=3.10,<3.11"

# A host whose connection drops fails alone; the others finish the run.
pyinfra_fixes.apply()

# A host's facts are read in one remote command, not one command each (glue/fact_batch.py).
fact_batch.install()

# Bad data stops the run with one line before any connection is opened.
preflight.check_group_data()
preflight.install()
