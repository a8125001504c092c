"""Seeds of the Bayesian computations, spawned from one root per comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError

# -- seeds --------------------------------------------------------------------------------


def _seed_sequence(seed: object) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        # consumes 256 bits of the generator: deterministic for a generator in a given
        # state; integer entropy, as the resampling engine requires
        return np.random.SeedSequence(int.from_bytes(seed.bytes(32), "big"))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise InputError(
        "`seed` must be a numpy SeedSequence, Generator or non-negative int, got "
        f"{type(seed).__name__}"
    )


def _child(ss: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    # explicit spawn keys instead of ss.spawn(): spawn() counts calls, keys do not
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, *key),
                                  pool_size=ss.pool_size)


def _int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, np.uint32)[0])


def _seed_record(ss: np.random.SeedSequence) -> dict[str, Any]:
    # entropy as a decimal string, as the resampling engine records it (JSON readers lose
    # integers above 2**53)
    entropy = ss.entropy
    text = (" ".join(str(int(e)) for e in entropy) if isinstance(entropy, Sequence)
            else str(entropy))
    return {"entropy": text, "spawn_key": [int(k) for k in ss.spawn_key]}
