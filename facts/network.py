"""pyinfra facts about a host's network."""

from __future__ import annotations

from pyinfra.api import FactBase

from snakepit.parsers.network import parse_addresses


class HostAddresses(FactBase[list[str]]):
    """
    Returns the host's own IPv4 and IPv6 addresses, loopback excluded (``hostname -I``):

    .. code:: python

        ["192.168.1.1", "fd00::1"]
    """

    default = list

    def command(self) -> str:
        return "hostname -I"

    def requires_command(self) -> str:
        return "hostname"

    def process(self, output) -> list[str]:
        return parse_addresses(output)
