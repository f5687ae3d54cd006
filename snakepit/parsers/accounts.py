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


# -- one user, with its home and keys (facts.accounts.UserState) ---------------------------

KEYS_MARKER = "## keys"


@dataclass(frozen=True)
class PathState:
    """What ``stat -c '%F|%U|%G|%a'`` says of a path; kind "absent" or "link" alone."""

    kind: str  # "directory", "regular file", "regular empty file", "link", "absent", ...
    user: str = ""
    group: str = ""
    mode: str = ""  # octal, as stat prints it: "700"

    @property
    def is_dir(self) -> bool:
        return self.kind == "directory"

    @property
    def is_file(self) -> bool:
        return self.kind in ("regular file", "regular empty file")


@dataclass(frozen=True)
class UserState:
    """One user as the host has it: passwd entry, groups, home, ~/.ssh, authorized_keys."""

    account: Account | None  # None: no such user
    comment: str = ""
    group: str = ""  # primary group's name
    groups: tuple[str, ...] = ()  # supplementary groups (the primary one left out)
    home: PathState = PathState("absent")
    ssh_dir: PathState = PathState("absent")
    keys_file: PathState = PathState("absent")
    keys: tuple[str, ...] = ()  # authorized_keys' keys: no blank or # lines


def _path_state(value: str) -> PathState:
    if value in ("absent", "link"):
        return PathState(value)
    kind, user, group, mode = value.split("|")
    return PathState(kind, user, group, mode)


def parse_user_state(text: str | Iterable[str]) -> UserState:
    """The output of ``facts.accounts.UserState``'s command."""
    lines = split_lines(text)
    fields: dict[str, str] = {}
    paths: list[PathState] = []
    keys: list[str] = []
    in_keys = False
    for line in lines:
        if in_keys:
            if line.strip() and not line.strip().startswith("#"):
                keys.append(line.strip())
            continue
        if line == KEYS_MARKER:
            in_keys = True
            continue
        tag, _, value = line.partition(":")
        if tag == "stat":
            paths.append(_path_state(value))
        elif tag in ("passwd", "group", "groups"):
            fields[tag] = value
        else:
            raise ValueError(f"unexpected line in a user's state: {line!r}")
    if len(paths) != 3:
        raise ValueError(f"a user's state needs 3 stat lines, got {len(paths)}")
    entry = fields.get("passwd", "").split(":")
    if len(entry) != 7:
        return UserState(None, home=paths[0], ssh_dir=paths[1], keys_file=paths[2])
    name, _, uid, gid, comment, home, shell = entry
    group = fields.get("group", "")
    return UserState(
        Account(name, int(uid), int(gid), home, shell),
        comment=comment,
        group=group,
        groups=tuple(g for g in fields.get("groups", "").split() if g != group),
        home=paths[0],
        ssh_dir=paths[1],
        keys_file=paths[2],
        keys=tuple(keys),
    )
