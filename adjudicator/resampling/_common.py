"""Constants and type names the resampling modules share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

#: resamples per block; each block has its own random stream (recorded in results)
BLOCK_SIZE = 1024
#: domain separator of :func:`derive_seed` (changing it changes every seed)
SEED_DOMAIN = b"adjudicator/seed/v1"
#: above this many units the jackknife deletes groups of units instead of single units
JACKKNIFE_MAX_UNITS = 10_000
#: number of groups of the grouped jackknife
JACKKNIFE_GROUPS = 1_000
#: the conventions of the protocol's ``resampling.convention``
CONVENTIONS: dict[str, dict[str, str]] = {
    "adjudicator": {
        "z0_ties": "half: z0 = Phi^-1((#{t* < t} + #{t* = t} / 2) / B), as scipy",
        "p_ties": "half: a replicate equal to the bound counts 1/2",
        "quantile": "linear interpolation between order statistics (Hyndman-Fan 7), as "
        "numpy and scipy",
    },
    "r-boot": {
        "z0_ties": "strictly-less: z0 = Phi^-1(#{t* < t} / B), as R boot and arch",
        "p_ties": "full: a replicate equal to the bound counts 1",
        "quantile": "order statistic (B + 1) q, interpolated on the normal quantile scale "
        "(R boot's norm.inter)",
    },
}

Statistic = Callable[[np.ndarray], np.ndarray]
Method = Literal["bca", "percentile", "basic"]
Alternative = Literal["two-sided", "greater", "less"]
Direction = Literal["higher", "lower"]

_SCHEMES = ("bootstrap", "bayesian")
_METHODS = ("bca", "percentile", "basic")
_ALTERNATIVES = ("two-sided", "greater", "less")
# weights per chunk: 4 MiB of float64 (5 rows at 100,000 units), so a chunk is still in
# cache when the statistic reads it; 32 MiB chunks made AUROC at n = 1e5 1.4x slower
_MAX_CHUNK_CELLS = 1 << 19


def _check_count(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"`{name}` must be an integer >= {least}, got {value!r}")
    return int(value)
