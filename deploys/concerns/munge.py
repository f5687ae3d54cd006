"""munge: the same key on every host; the daemon restarts only when the key changed."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Sha256File
from pyinfra.operations import apt, systemd

from operations.records import applied
from operations.secrets import SecretBytes, secret_file
from snakepit.secrets import Secrets

KEY_PATH = "/etc/munge/munge.key"


@deploy("munge")
def munge(secrets: Secrets) -> None:
    apt.packages(name="Install munge", packages=["munge"], no_recommends=True)
    wanted = secrets.munge_key_sha256
    current = host.get_fact(Sha256File, path=KEY_PATH)
    secret_file(
        name=f"munge key: sha256 {(current or 'none')[:16]} -> {wanted[:16]}",
        path=KEY_PATH,
        content=SecretBytes(secrets.munge_key, "munge key"),
        user="munge",
        group="munge",
        mode="0400",
    )
    applied(
        name="Restart munge when its key changed",
        record="munge",
        restart_fingerprint=wanted,
        restart=["systemctl restart munge"],
    )
    systemd.service(name="munge running and enabled", service="munge", running=True, enabled=True)
