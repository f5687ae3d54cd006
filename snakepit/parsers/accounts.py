"""The host's accounts as ``getent`` prints them: users, groups and shadow expiry dates.

The fact prints three sections, each after a marker line; the shadow section carries only
the name and the expiry field (``cut -d: -f1,8``), so no password hash leaves the host.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from snakepit.parsers.text import split_lines

USERS_MARKER = "## users"
GROUP_MARKER = "## groups"
SHADOW_MARKER = "## expiry"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    expire: int | None = None  # shadow's account expiry, days since 1970-01-01; None: never


@dataclass(frozen=True)
class Accounts:
    users: dict[str, Account] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)  # name -> gid

    def user_with_uid(self, uid: int) -> str | None:
        return next((u.name for u in self.users.values() if u.uid == uid), None)

    def group_with_gid(self, gid: int) -> str | None:
        return next((name for name, g in self.groups.items() if g == gid), None)


def parse_accounts(text: str | Iterable[str]) -> Accounts:
    users: dict[str, Account] = {}
    groups: dict[str, int] = {}
    expires: dict[str, int | None] = {}
    section = None
    for line in split_lines(text):
        if line in (USERS_MARKER, GROUP_MARKER, SHADOW_MARKER):
            section = line
            continue
        fields = line.split(":")
        if section == USERS_MARKER and len(fields) == 7:
            name, _, uid, gid, _, home, shell = fields
            users[name] = Account(name, int(uid), int(gid), home, shell)
        elif section == GROUP_MARKER and len(fields) == 4:
            groups[fields[0]] = int(fields[2])
        elif section == SHADOW_MARKER and len(fields) == 2:
            expires[fields[0]] = int(fields[1]) if fields[1].isdigit() else None
        elif line.strip():
            raise ValueError(f"unexpected line in {section or 'no section'}: {line!r}")
    for name, expire in expires.items():
        if name in users:
            user = users[name]
            users[name] = Account(user.name, user.uid, user.gid, user.home, user.shell, expire)
    return Accounts(users, groups)
