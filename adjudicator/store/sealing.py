"""Sealing sequestered data at rest: AES-256-GCM with a key kept outside the database.

A sealed blob is ``b"ADJSEAL1" || key_id[8] || nonce[12] || ciphertext+tag``: ``key_id``
(the first 8 bytes of sha256 of the key) says which key sealed it, so a wrong key is a
clear error rather than a failed tag; the nonce is random per blob; the associated data
binds the blob to its purpose (:data:`TRUTH`, :data:`INPUTS` for the sequestered inputs
of a model-to-data challenge, :data:`RUN` for a sandboxed run's logs), so a blob sealed
for one purpose cannot be passed off as another sealed with the same key. The blob goes
into the artifact store like any file, addressed by the sha256 of the *sealed* bytes, so
the store holds no hash of the plaintext file either. The public commitment is the truth's
canonical digest (:attr:`adjudicator.data.Truth.digest`), recorded in the ledger.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import VerificationError

__all__ = ["Sealer", "TRUTH", "INPUTS", "RUN"]

_MAGIC = b"ADJSEAL1"
#: the sequestered truth
TRUTH = b"adjudicator-truth/v1"
#: the sequestered inputs (features) submitted code runs on
INPUTS = b"adjudicator-inputs/v1"
#: the full record of a sandboxed run, with the team's logs (for the committee only)
RUN = b"adjudicator-run-logs/v1"


class Sealer:
    """Seals and opens blobs with one AES-256-GCM key (:func:`.keys.truth_key`)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"`key` must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).digest()[:8]

    def seal(self, plaintext: bytes, purpose: bytes = TRUTH) -> bytes:
        nonce = secrets.token_bytes(12)
        return _MAGIC + self.key_id + nonce + self._aead.encrypt(nonce, plaintext, purpose)

    def open(self, blob: bytes, purpose: bytes = TRUTH) -> bytes:
        if blob[:8] != _MAGIC or len(blob) < 8 + 8 + 12 + 16:
            raise VerificationError("not a sealed blob")
        if blob[8:16] != self.key_id:
            raise VerificationError("the blob was sealed with another key")
        try:
            return self._aead.decrypt(blob[16:28], blob[28:], purpose)
        except InvalidTag:
            raise VerificationError(
                "the sealed blob was altered or sealed for another purpose (authentication "
                "failed)") from None
