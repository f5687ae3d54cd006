"""pyinfra settings for every run of this project (read before the inventory)."""

from glue import preflight, pyinfra_fixes

# The operations, facts and JSON output we rely on are pyinfra 3.10's.
REQUIRE_PYINFRA_VERSION = ">=3.10,<3.11"

# A host whose connection drops fails alone; the others finish the run.
pyinfra_fixes.apply()

# Bad data stops the run with one line before any connection is opened.
preflight.check_group_data()
preflight.install()
