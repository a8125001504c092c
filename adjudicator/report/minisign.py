"""Detached Ed25519 signatures in the minisign format, written with ``cryptography`` alone.

A report PDF gets a ``report.pdf.minisig`` beside it, so that someone with no PDF tooling
(``minisign -Vm report.pdf -p minisign.pub``) can still check that the bytes are the ones
the committee signed. The format (https://jedisct1.github.io/minisign/), as implemented here:

Public key file (``minisign.pub``), two lines::

    untrusted comment: minisign public key <KEYID>
    base64( b"Ed" || key_id[8] || ed25519_public_key[32] )

Signature file (``<file>.minisig``), four lines::

    untrusted comment: <free text, not covered by any signature>
    base64( b"ED" || key_id[8] || ed25519_sign(BLAKE2b-512(file))[64] )
    trusted comment: <text, covered by the global signature>
    base64( ed25519_sign(signature[64] || trusted_comment_bytes)[64] )

``b"ED"`` marks the pre-hashed variant (the default of minisign since 0.8: the file is
hashed with unkeyed BLAKE2b-512 and the 64-byte digest is signed); the legacy ``b"Ed"``
variant signs the file itself and is accepted when verifying. ``key_id`` is 8 bytes; minisign
prints it as the hexadecimal of the little-endian 64-bit integer (``<KEYID>`` above). Our key
id is the first 8 bytes of BLAKE2b-512 of the public key, so it follows from the key.

The secret key is *not* stored in minisign's scrypt-encrypted format: the signing identity
keeps it as an unencrypted PKCS#8 PEM file with mode 0600 (see
:mod:`adjudicator.report.signing`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import VerificationError

__all__ = [
    "MinisignPublicKey",
    "minisign_public_key",
    "minisign_sign",
    "minisign_verify",
]

_PK_ALG = b"Ed"
_SIG_PREHASHED = b"ED"
_SIG_LEGACY = b"Ed"
_UNTRUSTED = "untrusted comment: "
_TRUSTED = "trusted comment: "


@dataclass(frozen=True)
class MinisignPublicKey:
    """An Ed25519 public key with its minisign key id."""

    key_id: bytes
    public_key: bytes

    @property
    def key_id_hex(self) -> str:
        """The key id as minisign prints it (little-endian 64-bit integer, upper-case hex)."""
        return f"{int.from_bytes(self.key_id, 'little'):016X}"

    def to_text(self) -> str:
        """The two-line ``minisign.pub`` file."""
        blob = base64.b64encode(_PK_ALG + self.key_id + self.public_key).decode("ascii")
        return f"{_UNTRUSTED}minisign public key {self.key_id_hex}\n{blob}\n"

    @classmethod
    def from_text(cls, text: str) -> MinisignPublicKey:
        """Parse a ``minisign.pub`` file (or its bare base64 line)."""
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        if lines and lines[0].startswith(_UNTRUSTED):
            lines = lines[1:]
        if len(lines) != 1:
            raise VerificationError("minisign public key: expected one base64 line")
        raw = _b64(lines[0], "minisign public key")
        if len(raw) != 42 or raw[:2] != _PK_ALG:
            raise VerificationError("minisign public key: not an Ed25519 minisign key")
        return cls(key_id=raw[2:10], public_key=raw[10:])


def minisign_public_key(private_key: Ed25519PrivateKey) -> MinisignPublicKey:
    """The minisign public key (and its derived key id) of an Ed25519 private key."""
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.blake2b(public).digest()[:8]
    return MinisignPublicKey(key_id=key_id, public_key=public)


def minisign_sign(
    data: bytes,
    private_key: Ed25519PrivateKey,
    *,
    trusted_comment: str,
    untrusted_comment: str = "signature from adjudicator",
) -> str:
    """Sign ``data`` and return the four-line ``.minisig`` text (pre-hashed variant).

    Parameters
    ----------
    data
        The exact bytes of the file being signed.
    private_key
        The Ed25519 signing key.
    trusted_comment
        One line covered by the global signature, e.g. ``timestamp:...\\tfile:report.pdf``.
    untrusted_comment
        One line that no signature covers.
    """
    for name, value in (("trusted_comment", trusted_comment),
                        ("untrusted_comment", untrusted_comment)):
        if "\n" in value or "\r" in value:
            raise ValueError(f"`{name}` must be a single line")
    key = minisign_public_key(private_key)
    signature = private_key.sign(hashlib.blake2b(data).digest())
    global_signature = private_key.sign(signature + trusted_comment.encode("utf-8"))
    blob = base64.b64encode(_SIG_PREHASHED + key.key_id + signature).decode("ascii")
    return (
        f"{_UNTRUSTED}{untrusted_comment}\n{blob}\n"
        f"{_TRUSTED}{trusted_comment}\n{base64.b64encode(global_signature).decode('ascii')}\n"
    )


def minisign_verify(data: bytes, signature_text: str, public_key: MinisignPublicKey) -> str:
    """Verify a ``.minisig`` over ``data``; return the trusted comment.

    Raises
    ------
    VerificationError
        The signature file is malformed, made by another key, or does not match the data
        or its trusted comment.
    """
    lines = signature_text.splitlines()
    if len(lines) < 4 or not lines[0].startswith(_UNTRUSTED) or not lines[2].startswith(
        _TRUSTED
    ):
        raise VerificationError("minisign signature: expected four lines")
    raw = _b64(lines[1], "minisign signature")
    if len(raw) != 74 or raw[:2] not in (_SIG_PREHASHED, _SIG_LEGACY):
        raise VerificationError("minisign signature: unknown signature algorithm")
    if raw[2:10] != public_key.key_id:
        raise VerificationError(
            "minisign signature: made by key "
            f"{int.from_bytes(raw[2:10], 'little'):016X}, not {public_key.key_id_hex}"
        )
    signature = raw[10:]
    message = hashlib.blake2b(data).digest() if raw[:2] == _SIG_PREHASHED else data
    verifier = Ed25519PublicKey.from_public_bytes(public_key.public_key)
    try:
        verifier.verify(signature, message)
    except InvalidSignature:
        raise VerificationError("minisign signature: does not match the file") from None
    trusted_comment = lines[2][len(_TRUSTED):]
    global_signature = _b64(lines[3], "minisign global signature")
    try:
        verifier.verify(global_signature, signature + trusted_comment.encode("utf-8"))
    except InvalidSignature:
        raise VerificationError(
            "minisign signature: the trusted comment was changed"
        ) from None
    return trusted_comment


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what}: not valid base64") from None
