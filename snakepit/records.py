"""Records of what a daemon last applied, and what a new configuration means for it.

A daemon's configuration file may be written in one run while the restart that applies it
fails; a naive "restart if the file changed" would then never restart. Instead the deploy
keeps a small record of the fingerprints it last *applied* (written only after the restart
or reconfigure succeeded) and compares the wanted fingerprints against it.
"""

from __future__ import annotations

import hashlib
import hmac

# How a preview names each action (the operation's name).
ACTION_TEXT = {
    "none": "configuration already applied",
    "reconfigure": "scontrol reconfigure (settings it takes live changed)",
    "restart": "restart (a setting read only at start changed)",
}


def fingerprint(content: str | bytes) -> str:
    """SHA-256 hex digest of a text or bytes: what records and secret files compare."""
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()


def keyed_fingerprint(key: bytes, content: str | bytes) -> str:
    """HMAC-SHA256 of ``content`` under a secret ``key``: a record of a file that holds a
    secret cannot be checked offline against guesses of that secret."""
    data = content.encode() if isinstance(content, str) else content
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def applied_record(restart_fp: str, full_fp: str) -> str:
    """The small file a daemon's deploy writes once a configuration is applied."""
    return f"restart={restart_fp}\nfull={full_fp}\n"


def daemon_action(applied: str | None, restart_fp: str, full_fp: str) -> str:
    """ "restart", "reconfigure" or "none", from the record of what was last applied.

    The record is written only after the daemon took the change, so a run that failed in
    between repeats the action next time instead of forgetting it.
    """
    if not applied:
        return "restart"
    fields = dict(line.split("=", 1) for line in applied.splitlines() if "=" in line)
    if fields.get("restart") != restart_fp:
        return "restart"
    if fields.get("full") != full_fp:
        return "reconfigure"
    return "none"
