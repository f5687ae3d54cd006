"""Tests for snakepit.secrets: the git-ignored secrets file, never shown."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import yaml

from snakepit import secrets as module
from snakepit.secrets import (
    ENV_VAR,
    MUNGE_KEY_BYTES,
    Secrets,
    SecretsError,
    generate,
    load_secrets,
    main,
    secrets_path,
)

PASSWORD = "Correct-Horse-Battery-Staple"
KEY = bytes(range(256)) * 4  # 1024 bytes, every byte value


def write(path: Path, **values) -> Path:
    path.write_text(yaml.safe_dump(values))
    path.chmod(0o600)
    return path


def good(**changes) -> dict:
    values = {"munge_key": base64.b64encode(KEY).decode(), "slurmdbd_db_password": PASSWORD}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def load_error(tmp_path: Path, text: str | None = None, **values) -> str:
    path = tmp_path / "secrets.yaml"
    if text is not None:
        path.write_text(text)
        path.chmod(0o600)
    else:
        write(path, **values)
    with pytest.raises(SecretsError) as raised:
        load_secrets(path)
    return str(raised.value)


# --- generate -------------------------------------------------------------------------------


def test_generate_writes_a_private_loadable_file(tmp_path):
    path = tmp_path / "nested" / "secrets.yaml"
    generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_secrets(path)
    assert len(loaded.munge_key) == MUNGE_KEY_BYTES == 1024
    assert len(loaded.slurmdbd_db_password) >= 24
    assert loaded.path == str(path)
    assert path.read_text().startswith("# snakepit secrets: never commit")


def test_generate_is_private_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        generate(tmp_path / "secrets.yaml")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secrets.yaml").stat().st_mode) == 0o600


def test_generate_refuses_to_overwrite(tmp_path):
    path = tmp_path / "secrets.yaml"
    generate(path)
    before = path.read_text()
    with pytest.raises(SecretsError, match="exists; pass --force"):
        generate(path)
    assert path.read_text() == before


def test_generate_with_force_replaces_every_secret(tmp_path):
    path = tmp_path / "secrets.yaml"
    generate(path)
    first = load_secrets(path)
    path.chmod(0o644)
    generate(path, force=True)
    second = load_secrets(path)
    assert second.munge_key != first.munge_key
    assert second.slurmdbd_db_password != first.slurmdbd_db_password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- load_secrets ---------------------------------------------------------------------------


def test_load_good_file(tmp_path):
    loaded = load_secrets(write(tmp_path / "s.yaml", **good()))
    assert loaded.munge_key == KEY
    assert loaded.slurmdbd_db_password == PASSWORD


def test_missing_file_says_how_to_create_it(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(SecretsError) as raised:
        load_secrets(path)
    assert f"secrets file {path} does not exist" in str(raised.value)
    assert "python -m snakepit.secrets generate" in str(raised.value)


@pytest.mark.parametrize("key", ["munge_key", "slurmdbd_db_password"])
def test_missing_key_is_named(tmp_path, key):
    message = load_error(tmp_path, **good(**{key: None}))
    assert f"{key} is missing or not a string" in message


@pytest.mark.parametrize("key", ["munge_key", "slurmdbd_db_password"])
def test_key_that_is_not_a_string(tmp_path, key):
    message = load_error(tmp_path, **good(**{key: 123456789012}))
    assert f"{key} is missing or not a string" in message
    assert "123456789012" not in message


def test_not_a_mapping(tmp_path):
    assert "expected a mapping" in load_error(tmp_path, text="- munge_key\n")


def test_invalid_yaml_does_not_echo_the_text(tmp_path):
    secret = "s3cr3t-value-in-broken-yaml"
    message = load_error(tmp_path, text=f"munge_key: [{secret}\n")
    assert "is not valid YAML" in message
    assert secret not in message


@pytest.mark.parametrize(
    "value",
    [
        "this is not base64 at all!!",
        base64.b64encode(KEY).decode()[:-1],  # bad padding
        base64.b64encode(KEY).decode().replace("A", "*", 1),
    ],
)
def test_munge_key_not_base64(tmp_path, value):
    message = load_error(tmp_path, **good(munge_key=value))
    assert "munge_key is not base64" in message
    assert value not in message


def test_munge_key_with_non_ascii_text_is_a_secrets_error(tmp_path):
    # base64.b64decode raises a plain ValueError (not binascii.Error) for non-ASCII text.
    value = "ключ-мунге-секрет-" * 4
    message = load_error(tmp_path, **good(munge_key=value))
    assert "munge_key is not base64" in message
    assert value not in message


@pytest.mark.parametrize("size", [1, 31, 4097])
def test_munge_key_size(tmp_path, size):
    value = base64.b64encode(b"k" * size).decode()
    message = load_error(tmp_path, **good(munge_key=value))
    assert f"munge_key must decode to 32..4096 bytes, got {size}" in message
    assert value not in message


@pytest.mark.parametrize("size", [32, 4096])
def test_munge_key_size_limits_are_inclusive(tmp_path, size):
    value = base64.b64encode(b"k" * size).decode()
    assert len(load_secrets(write(tmp_path / "s.yaml", **good(munge_key=value))).munge_key) == size


@pytest.mark.parametrize(
    "password",
    [
        "short-pw",  # < 12 characters
        "has'a-quote-inside",
        'has"double-quotes',
        "back\\slash-password",
        "hash#in-the-middle",
        "new\nline-in-password",
    ],
)
def test_bad_password_is_named_but_not_shown(tmp_path, password):
    message = load_error(tmp_path, **good(slurmdbd_db_password=password))
    assert "slurmdbd_db_password must be >= 12 characters" in message
    assert password not in message


# --- never shown ----------------------------------------------------------------------------


def test_repr_and_str_show_no_secret():
    loaded = Secrets(munge_key=KEY, slurmdbd_db_password=PASSWORD, path="/x/secrets.yaml")
    for text in (repr(loaded), str(loaded), f"{loaded}"):
        assert "/x/secrets.yaml" in text
        assert PASSWORD not in text
        assert all(form not in text for form in loaded.forms())
        assert "munge_key" not in text


def test_forms_hold_every_printable_form():
    key = b"\xff\xfe" + b"\x00" * 30  # not UTF-8: no decoded form
    loaded = Secrets(munge_key=key, slurmdbd_db_password=PASSWORD)
    forms = loaded.forms()
    assert base64.b64encode(key).decode() in forms
    assert key.hex() in forms
    assert PASSWORD in forms
    assert base64.b64encode(PASSWORD.encode()).decode() in forms
    assert PASSWORD.encode().hex() in forms
    assert len(forms) == 5


def test_forms_include_a_utf8_munge_key_as_text():
    key = b"printable-munge-key-" * 2
    forms = Secrets(munge_key=key, slurmdbd_db_password=PASSWORD).forms()
    assert key.decode() in forms


def test_munge_key_sha256_is_the_standard_digest():
    loaded = Secrets(munge_key=b"abc", slurmdbd_db_password=PASSWORD)
    assert loaded.munge_key_sha256 == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# --- where the file is, and the command line ------------------------------------------------


def test_secrets_path_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert secrets_path() == module.DEFAULT_PATH
    assert module.DEFAULT_PATH.name == "secrets.yaml"
    assert secrets_path("/from/data.yaml") == Path("/from/data.yaml")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env.yaml"))
    assert secrets_path("/from/data.yaml") == tmp_path / "env.yaml"


def test_main_generate_and_check_print_no_secret(tmp_path, capsys):
    path = tmp_path / "secrets.yaml"
    assert main(["generate", "--path", str(path)]) == 0
    assert main(["check", "--path", str(path)]) == 0
    out = capsys.readouterr()
    loaded = load_secrets(path)
    assert f"wrote {path} (mode 0600)" in out.out
    assert f"munge key sha256 {loaded.munge_key_sha256[:16]}..." in out.out
    assert all(form not in out.out + out.err for form in loaded.forms())


def test_main_reports_errors_without_a_traceback(tmp_path, capsys):
    path = write(tmp_path / "secrets.yaml", **good(slurmdbd_db_password="short"))
    assert main(["check", "--path", str(path)]) == 1
    assert main(["generate", "--path", str(path)]) == 1
    err = capsys.readouterr().err
    assert "snakepit.secrets: " in err
    assert "exists; pass --force" in err


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_secrets_file_others_can_read_is_refused(tmp_path, mode):
    path = write(tmp_path / "secrets.yaml", **good())
    path.chmod(mode)
    with pytest.raises(SecretsError) as raised:
        load_secrets(path)
    assert str(raised.value) == (
        f"secrets file {path} is readable by others (mode {mode:04o}): chmod 600 {path}"
    )
    path.chmod(0o600)
    assert load_secrets(path).munge_key == KEY


def test_unknown_key_names_the_nearest_but_never_its_value(tmp_path):
    values = good()
    values["munge_kye"] = values.pop("munge_key")
    message = load_error(tmp_path, **values)
    assert message == (
        f"secrets file {tmp_path / 'secrets.yaml'}: munge_kye: unknown key "
        "(did you mean 'munge_key'?); valid keys: munge_key, slurmdbd_db_password"
    )
    assert values["munge_kye"] not in message


def test_an_extra_key_is_refused_without_its_value(tmp_path):
    message = load_error(tmp_path, **good(slurm_password=PASSWORD))
    assert "slurm_password: unknown key" in message
    assert PASSWORD not in message


def test_a_repeated_key_is_refused_without_either_value(tmp_path):
    text = yaml.safe_dump(good()) + f"slurmdbd_db_password: {PASSWORD}-2\n"
    message = load_error(tmp_path, text=text)
    assert "slurmdbd_db_password is a duplicate key (line 3; first at line 2)" in message
    assert PASSWORD not in message


def test_secrets_docs_name_every_key():
    docs = module.render_secrets_docs()
    assert "`munge_key`" in docs and "`slurmdbd_db_password`" in docs
    assert "32 to 4096" in docs
