"""Seeds: every random stream derived from digests and a purpose, one stream per block."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ._common import (
    SEED_DOMAIN,
)

# -- seeds ---------------------------------------------------------------------------------


def derive_seed(
    protocol_digest: str, submission_digest: str, purpose: str
) -> np.random.SeedSequence:
    """The seed of one random computation, derived from what it is about.

    Parameters
    ----------
    protocol_digest, submission_digest
        The digests (``sha256:...``) of the protocol and of the submission.
    purpose
        What the randomness is for, e.g. ``"bootstrap"`` or ``"bayes"``.

    Returns
    -------
    numpy.random.SeedSequence
        With entropy ``int(sha256(SEED_DOMAIN + b"\\0" + protocol + b"\\0" + submission +
        b"\\0" + purpose), 16)`` (UTF-8 strings) and an empty spawn key.
    """
    for name, value in (
        ("protocol_digest", protocol_digest),
        ("submission_digest", submission_digest),
        ("purpose", purpose),
    ):
        if not isinstance(value, str) or not value or "\0" in value:
            raise ValueError(f"`{name}` must be a non-empty string without NUL, got {value!r}")
    h = hashlib.sha256(SEED_DOMAIN)
    for part in (protocol_digest, submission_digest, purpose):
        h.update(b"\0" + part.encode("utf-8"))
    return np.random.SeedSequence(int(h.hexdigest(), 16))


def _as_seed(seed: np.random.SeedSequence | int) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        if not isinstance(seed.entropy, int):
            raise ValueError("`seed` must have integer entropy (see derive_seed)")
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise ValueError(f"`seed` must be a SeedSequence or a non-negative int, got {seed!r}")


def _seed_record(seed: np.random.SeedSequence) -> dict[str, Any]:
    return {"entropy": str(seed.entropy), "spawn_key": list(seed.spawn_key)}


def _block_bitgen(seed: np.random.SeedSequence, block: int) -> np.random.PCG64:
    child = np.random.SeedSequence(
        seed.entropy, spawn_key=tuple(seed.spawn_key) + (block,), pool_size=seed.pool_size
    )
    return np.random.PCG64(child)
