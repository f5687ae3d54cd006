"""Records of secret-bearing files are keyed: they cannot be checked offline against guesses."""

from __future__ import annotations

import hashlib

from snakepit.records import fingerprint, keyed_fingerprint
from snakepit.secrets import Secrets

CONF = "StoragePass=correct-horse-battery\n"


def test_keyed_fingerprint_is_not_the_plain_digest_and_needs_the_key():
    one = Secrets(munge_key=b"k" * 32, slurmdbd_db_password="correct-horse-battery")
    other = Secrets(munge_key=b"j" * 32, slurmdbd_db_password="correct-horse-battery")
    keyed = keyed_fingerprint(one.record_key, CONF)
    assert keyed != fingerprint(CONF)
    assert keyed == keyed_fingerprint(one.record_key, CONF)  # stable: a re-run is a no-op
    assert keyed != keyed_fingerprint(other.record_key, CONF)  # a rotated secret re-applies
    assert keyed_fingerprint(one.record_key, one.munge_key) != hashlib.sha256(b"k" * 32).hexdigest()


def test_record_key_is_not_shown():
    secrets = Secrets(munge_key=b"k" * 32, slurmdbd_db_password="correct-horse-battery")
    assert "correct-horse" not in repr(secrets)
