"""pyinfra settings for every run of this project (read before the inventory)."""

# The operations, facts and JSON output we rely on are pyinfra 3.10's.
REQUIRE_PYINFRA_VERSION = ">=3.10,<3.11"
