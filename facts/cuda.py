"""pyinfra facts for the CUDA manifests: what a host's vendor keyring holds."""

from __future__ import annotations

import base64
import binascii
import shlex

from pyinfra.api import FactBase

from snakepit.cuda.openpgp import OpenPGPError, primary_fingerprints


class KeyringFingerprints(FactBase[tuple[str, ...] | None]):
    """
    Returns the fingerprints of the primary keys in an apt keyring file (binary or
    armored), or ``None`` when the file does not exist:

    .. code:: python

        ("EB693B3035CD5710E231E123A4B469963BF863CC",)

    The file travels base64-encoded and is parsed on the controller
    (``snakepit.cuda.openpgp``), so hosts need no gpg. A file that is not a keyring gives
    an empty tuple: it holds no key we trust.
    """

    def command(self, path: str) -> str:
        quoted = shlex.quote(path)
        # Always exit 0: a missing keyring is an answer, not a failure of the host.
        return f"if [ -f {quoted} ]; then base64 -w0 {quoted}; echo; fi"

    def requires_command(self, path: str) -> str:
        return "base64"

    @staticmethod
    def default() -> tuple[str, ...] | None:
        return None

    def process(self, output: list[str]) -> tuple[str, ...] | None:
        if not output:
            return None
        text = "".join(output).strip()
        try:
            return primary_fingerprints(base64.b64decode(text, validate=True))
        except (binascii.Error, OpenPGPError, UnicodeDecodeError, IndexError):
            return ()
