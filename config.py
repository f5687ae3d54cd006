"""pyinfra settings for every run of this project (read before the inventory)."""

from glue import pyinfra_fixes

# The operations, facts and JSON output we rely on are pyinfra 3.10's.
REQUIRE_PYINFRA_VERSION = ">=3.10,<3.11"

# A host whose connection drops fails alone; the others finish the run.
pyinfra_fixes.apply()
