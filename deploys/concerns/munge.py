"""munge: the same key on every host; the daemon restarts only when the key changed."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Sha256File

from deploys.daemon import Apply, ConfigFile, daemon
from operations.secrets import SecretBytes
from snakepit.records import keyed_fingerprint
from snakepit.secrets import Secrets

KEY_PATH = "/etc/munge/munge.key"
PACKAGES = ("munge",)


@deploy("munge")
def munge(secrets: Secrets) -> None:
    wanted = secrets.munge_key_sha256
    current = host.get_fact(Sha256File, path=KEY_PATH)
    key = ConfigFile(
        KEY_PATH,
        SecretBytes(secrets.munge_key, "munge key"),
        name=f"munge key: sha256 {(current or 'none')[:16]} -> {wanted[:16]}",
        user="munge",
        group="munge",
        mode="0400",
    )
    daemon(
        "munge",
        packages=PACKAGES,
        config=[key],
        apply=Apply(
            restart_fingerprint=keyed_fingerprint(secrets.record_key, secrets.munge_key),
            restart=["systemctl restart munge"],
        ),
    )
