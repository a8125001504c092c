"""Signed checkpoints in the C2SP formats: ``signed-note`` with an Ed25519 key, carrying a
``tlog-checkpoint`` body.

A checkpoint note (https://c2sp.org/tlog-checkpoint, https://c2sp.org/signed-note)::

    <origin>\\n
    <tree size, decimal>\\n
    <root hash, base64>\\n
    \\n
    \u2014 <key name> <base64(key hash[4] || Ed25519 signature[64])>\\n

The signature covers the text (the first three lines, each with its newline). The key hash
is the first four bytes of ``SHA-256(key name || "\\n" || 0x01 || public key)``, 0x01 being
the Ed25519 signature type. A verifier key is published as
``<name>+<hex key hash>+<base64(0x01 || public key)>``, the form Go's ``note`` package
reads. Verification refuses a note unless a signature by the given key verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ..errors import VerificationError

__all__ = ["NoteSigner", "NoteVerifier", "CheckpointNote", "parse_checkpoint"]

_ED25519 = b"\x01"
_DASH = "\u2014 "


def _key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise ValueError(f"a key name has no spaces and no '+', got {name!r}")


@dataclass(frozen=True)
class CheckpointNote:
    """A verified checkpoint: the log's origin, its size and root, and the note's text."""

    origin: str
    size: int
    root: bytes
    text: str

    @property
    def head(self) -> str:
        return "sha256:" + self.root.hex()


class NoteVerifier:
    """Checks notes signed by one Ed25519 key, given as a verifier-key string."""

    def __init__(self, vkey: str) -> None:
        try:
            name, khash, b64 = vkey.strip().split("+", 2)
            raw = base64.b64decode(b64, validate=True)
            if raw[:1] != _ED25519 or len(raw) != 33:
                raise ValueError("not an Ed25519 verifier key")
            self.public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
            if bytes.fromhex(khash) != _key_hash(name, raw[1:]):
                raise ValueError("key hash does not match the key")
        except (ValueError, binascii.Error) as exc:
            raise VerificationError(f"unusable verifier key: {exc}") from None
        self.name = name
        self.key_hash = bytes.fromhex(khash)
        self.vkey = vkey.strip()

    def open(self, note: str) -> str:
        """The note's text once a signature by this key verifies; else VerificationError."""
        text, sep, sigs = note.rpartition("\n\n")
        if not sep or not text or not sigs.endswith("\n"):
            raise VerificationError("not a signed note (no blank line before the signatures)")
        text += "\n"
        for line in sigs[:-1].split("\n"):
            if not line.startswith(_DASH):
                raise VerificationError(f"malformed signature line {line[:40]!r}")
            name, _, b64 = line[len(_DASH):].partition(" ")
            if name != self.name:
                continue
            try:
                raw = base64.b64decode(b64, validate=True)
            except binascii.Error:
                raise VerificationError("a signature is not base64") from None
            if len(raw) != 68 or raw[:4] != self.key_hash:
                continue
            try:
                self.public_key.verify(raw[4:], text.encode())
            except InvalidSignature:
                raise VerificationError(f"the signature by {name} does not verify") from None
            return text
        raise VerificationError(f"the note carries no signature by {self.name}")

    def checkpoint(self, note: str) -> CheckpointNote:
        """Verify and parse a checkpoint note."""
        return parse_checkpoint(self.open(note))


def parse_checkpoint(text: str) -> CheckpointNote:
    """Parse a checkpoint body (already verified): origin, size, base64 root."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise VerificationError("a checkpoint has an origin, a size and a root hash")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise VerificationError(f"checkpoint size {size!r} is not a decimal number")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise VerificationError("checkpoint root is not base64") from None
    if len(digest) != 32:
        raise VerificationError("checkpoint root is not a SHA-256 hash")
    return CheckpointNote(origin=origin, size=int(size), root=digest, text=text)


class NoteSigner:
    """Signs checkpoint notes with an Ed25519 key under a key name (= the log's origin)."""

    def __init__(self, key: Ed25519PrivateKey, name: str | None = None) -> None:
        public = _raw_public(key.public_key())
        name = name or f"adjudicator.ledger/{hashlib.sha256(public).hexdigest()[:16]}"
        _check_name(name)
        self._key = key
        self.name = name
        self._hash = _key_hash(name, public)
        self.vkey = f"{name}+{self._hash.hex()}+{base64.b64encode(_ED25519 + public).decode()}"

    @property
    def origin(self) -> str:
        return self.name

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.vkey)

    def sign(self, text: str) -> str:
        if not text.endswith("\n") or "\n\n" in text:
            raise ValueError("a note's text ends with a newline and has no blank line")
        sig = self._key.sign(text.encode())
        return f"{text}\n{_DASH}{self.name} {base64.b64encode(self._hash + sig).decode()}\n"

    def checkpoint(self, size: int, root: bytes) -> str:
        """The signed checkpoint note of a tree of ``size`` leaves with ``root``."""
        return self.sign(f"{self.origin}\n{size}\n{base64.b64encode(root).decode()}\n")
