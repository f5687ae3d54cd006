"""Just enough OpenPGP to install an apt keyring without gpg on the host.

The vendor key is fetched once on the controller, checked against the fingerprint the
manifest names, de-armored here (what ``gpg --dearmor`` does) and uploaded as a binary
keyring for apt's ``signed-by``. The KeyringFingerprints fact reads a host's keyring back
through the same parser. Only version 4 keys are fingerprinted (RFC 4880 §12.2): that is
what NVIDIA's keys and gpg 2.2's keys are; anything else is an error, not a guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

_ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_ARMOR_END = "-----END PGP PUBLIC KEY BLOCK-----"
_TAG_PUBLIC_KEY = 6
_TAG_PUBLIC_SUBKEY = 14


class OpenPGPError(ValueError):
    pass


def dearmor(data: bytes) -> bytes:
    """Binary OpenPGP packets from an ASCII-armored public key block (or binary as is)."""
    if data[:1] and data[0] & 0x80:
        return data  # already binary: the first byte of a packet has bit 7 set
    text = data.decode("ascii", errors="strict")
    lines = [line.strip() for line in text.splitlines()]
    try:
        start = lines.index(_ARMOR_BEGIN)
        end = lines.index(_ARMOR_END, start)
    except ValueError as error:
        raise OpenPGPError("not an ASCII-armored OpenPGP public key block") from error
    body = lines[start + 1 : end]
    # Armor headers ("Version: ...", "Comment: ...") end at the first blank line.
    if "" in body:
        body = body[body.index("") + 1 :]
    payload = [line for line in body if line and not line.startswith("=")]
    checksums = [line[1:] for line in body if line.startswith("=")]
    try:
        packets = base64.b64decode("".join(payload), validate=True)
    except binascii.Error as error:
        raise OpenPGPError(f"bad base64 in the key block: {error}") from error
    if checksums and base64.b64decode(checksums[0]) != _crc24(packets).to_bytes(3, "big"):
        raise OpenPGPError("the key block's CRC24 checksum does not match its content")
    return packets


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _packets(data: bytes):
    """Yield (tag, body) for every packet; raise on truncated or partial-length input."""
    offset = 0
    while offset < len(data):
        header = data[offset]
        if not header & 0x80:
            raise OpenPGPError(f"byte {offset}: not an OpenPGP packet header")
        if header & 0x40:  # new format
            tag = header & 0x3F
            first = data[offset + 1]
            if first < 192:
                length, offset = first, offset + 2
            elif first < 224:
                length = ((first - 192) << 8) + data[offset + 2] + 192
                offset += 3
            elif first == 255:
                length = int.from_bytes(data[offset + 2 : offset + 6], "big")
                offset += 6
            else:
                raise OpenPGPError("partial body lengths do not occur in keys")
        else:  # old format
            tag = (header >> 2) & 0x0F
            size = {0: 1, 1: 2, 2: 4}.get(header & 0x03)
            if size is None:
                raise OpenPGPError("indeterminate packet lengths do not occur in keys")
            length = int.from_bytes(data[offset + 1 : offset + 1 + size], "big")
            offset += 1 + size
        body = data[offset : offset + length]
        if len(body) != length:
            raise OpenPGPError("truncated OpenPGP packet")
        yield tag, body
        offset += length


def _v4_fingerprint(body: bytes) -> str:
    if not body or body[0] != 4:
        version = body[0] if body else None
        raise OpenPGPError(f"only version 4 keys are supported, found version {version}")
    digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body, usedforsecurity=False)
    return digest.hexdigest().upper()


def primary_fingerprints(data: bytes) -> tuple[str, ...]:
    """Fingerprints of the primary keys in a keyring (armored or binary), in order."""
    return tuple(
        _v4_fingerprint(body) for tag, body in _packets(dearmor(data)) if tag == _TAG_PUBLIC_KEY
    )


def normalize_fingerprint(text: str) -> str:
    """``"EB69 3B30 ..."`` or ``"0xeb693b..."`` -> ``"EB693B..."``; raise when it is not one."""
    value = "".join(text.split()).upper().removeprefix("0X")
    if len(value) != 40 or any(ch not in "0123456789ABCDEF" for ch in value):
        raise OpenPGPError(f"not a 40-digit hex OpenPGP v4 fingerprint: {text!r}")
    return value
