"""A host's own addresses as ``hostname -I`` prints them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from snakepit.parsers.text import split_lines


def parse_addresses(text: str | Iterable[str]) -> list[str]:
    """Every address, in the order printed, loopback excluded (``hostname -I`` leaves it
    out); something that is not an address is an error, not skipped."""
    addresses = []
    for word in " ".join(split_lines(text)).split():
        address = ipaddress.ip_address(word.split("%")[0])  # fe80::1%eth0: zone dropped
        if not address.is_loopback:
            addresses.append(str(address))
    return list(dict.fromkeys(addresses))
