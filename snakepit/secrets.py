"""The cluster's secrets: one git-ignored YAML file, never printed.

Format (all values are strings)::

    munge_key: <base64 of 32 to 4096 random bytes>     # /etc/munge/munge.key on every host
    slurmdbd_db_password: <text>                       # MariaDB password of slurmdbd's user

The path comes from $SNAKEPIT_SECRETS, else the host data ``secrets_file``, else
``secrets.yaml`` at the repository root. `python -m snakepit.secrets generate` writes a
fresh one (mode 0600).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import os
import secrets as random
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, ConfigDict, model_validator

from snakepit.schema import (
    DataError,
    Field,
    FieldProblem,
    Schema,
    load_yaml,
    render_model_docs,
    unknown_keys_first,
    validate,
)

ENV_VAR = "SNAKEPIT_SECRETS"
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "secrets.yaml"
MUNGE_KEY_BYTES = 1024
MUNGE_KEY_SIZES = range(32, 4097)


class SecretsError(ValueError):
    pass


@dataclass(frozen=True)
class Secrets:
    # repr=False everywhere: a traceback or a debug print must not show them.
    munge_key: bytes = field(repr=False)
    slurmdbd_db_password: str = field(repr=False)
    path: str = ""

    @property
    def record_key(self) -> bytes:
        """The key of the records' fingerprints of secret-bearing files (never stored)."""
        material = b"snakepit-records\0" + self.munge_key + self.slurmdbd_db_password.encode()
        return hashlib.sha256(material).digest()

    @property
    def munge_key_sha256(self) -> str:
        return hashlib.sha256(self.munge_key).hexdigest()

    def forms(self) -> list[str]:
        """Every printable form of every secret (for tests that prove none leaks)."""
        out = []
        for value in (self.munge_key, self.slurmdbd_db_password.encode()):
            out += [base64.b64encode(value).decode(), value.hex()]
            with contextlib.suppress(UnicodeDecodeError):
                out.append(value.decode())
        return [form for form in out if len(form) >= 8]


def secrets_path(data_path: str | None = None) -> Path:
    return Path(os.environ.get(ENV_VAR) or data_path or DEFAULT_PATH)


# -- the file's schema: no message may show a value, only the key ---------------------------


def _munge_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64") from None
    if len(key) not in MUNGE_KEY_SIZES:
        raise ValueError(
            f"must decode to {MUNGE_KEY_SIZES.start}..{MUNGE_KEY_SIZES.stop - 1} bytes, "
            f"got {len(key)}"
        )
    return key


def _password(value: str) -> str:
    # It goes into slurmdbd.conf and a quoted MariaDB statement: nothing there may end it.
    if any(c in value for c in "'\"\\\n#") or len(value) < 12:
        raise ValueError("must be >= 12 characters without quotes, backslashes, '#' or newlines")
    return value


class SecretsFile(Schema):
    """The secrets file (git-ignored, mode 0600): every key is required and a string."""

    # Pydantic's own messages may quote the input; these never reach them (see _strings).
    model_config = ConfigDict(**Schema.model_config, hide_input_in_errors=True)

    munge_key: Annotated[bytes, BeforeValidator(_munge_key)] = Field(
        repr=False,
        description="base64 of 32 to 4096 random bytes: /etc/munge/munge.key on every host",
    )
    slurmdbd_db_password: Annotated[str, BeforeValidator(_password)] = Field(
        repr=False,
        description="slurmdbd's MariaDB password: >= 12 characters, no quotes, backslashes, "
        "'#' or newlines",
    )

    @model_validator(mode="before")
    @classmethod
    def _strings(cls, data: Any) -> Any:
        data = unknown_keys_first(cls, data)
        for key in cls.model_fields:
            if not isinstance(data.get(key), str) or not data[key]:
                raise FieldProblem(key, "is missing or not a string")
        return data


def _refusal(path: Path, error: DataError) -> SecretsError:
    key = error.field_path
    if not key:
        return SecretsError(f"secrets file {path} {error.problem}")
    # A secret's own rules complete the sentence after its name; anything else is
    # reported in the schema's form (``key: problem``).
    joint = " " if key in SecretsFile.model_fields else ": "
    return SecretsError(f"secrets file {path}: {key}{joint}{error.problem}")


def load_secrets(path: Path) -> Secrets:
    if not path.exists():
        raise SecretsError(
            f"secrets file {path} does not exist: create it with "
            f"`python -m snakepit.secrets generate --path {path}` or set ${ENV_VAR}"
        )
    if not path.is_file():
        raise SecretsError(f"secrets file {path} is not a regular file")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretsError(
            f"secrets file {path} is readable by others (mode {mode:04o}): chmod 600 {path}"
        )
    refusal = None
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise SecretsError(f"secrets file {path} cannot be read: {error.strerror}") from None
    try:
        data = load_yaml(path, secret=True)
        if not isinstance(data, Mapping):
            raise SecretsError(f"secrets file {path}: expected a mapping of names to values")
        loaded = validate(SecretsFile, data)
    except DataError as error:
        refusal = _refusal(path, error)
    if refusal is not None:
        raise refusal  # outside the except: no chained error (nor its input) travels with it
    return Secrets(
        munge_key=loaded.munge_key, slurmdbd_db_password=loaded.slurmdbd_db_password, path=str(path)
    )


def render_secrets_docs(heading: str = "###") -> str:
    """Markdown: every key of the secrets file, its type and meaning (never a value)."""
    return render_model_docs(SecretsFile, heading)


def generate(path: Path, *, force: bool = False) -> None:
    if path.exists() and not force:
        raise SecretsError(f"{path} exists; pass --force to replace every secret in it")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "# snakepit secrets: never commit, never paste. Generated by snakepit.secrets.\n"
        + yaml.safe_dump(
            {
                "munge_key": base64.b64encode(random.token_bytes(MUNGE_KEY_BYTES)).decode(),
                "slurmdbd_db_password": random.token_urlsafe(24),
            }
        )
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snakepit.secrets")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a fresh munge key and passwords")
    gen.add_argument(
        "--path", type=Path, default=None, help=f"default: ${ENV_VAR} or {DEFAULT_PATH}"
    )
    gen.add_argument("--force", action="store_true", help="replace an existing file")
    check = sub.add_parser("check", help="validate the secrets file (prints no secret)")
    check.add_argument("--path", type=Path, default=None)
    args = parser.parse_args(argv)
    path = args.path or secrets_path()
    try:
        if args.command == "generate":
            generate(path, force=args.force)
            print(f"wrote {path} (mode 0600)")
        else:
            loaded = load_secrets(path)
            print(f"{path}: ok (munge key sha256 {loaded.munge_key_sha256[:16]}...)")
    except SecretsError as error:
        print(f"snakepit.secrets: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
