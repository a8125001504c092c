"""Resampling: seeds, weights, the chunked bootstrap engine, intervals and p-values.

Everything here works on *weights*: a resample is a row of per-unit weights, never a copy
of the data, and a statistic is any function ``statistic(weights) -> values`` mapping a
``(b, n_units)`` array to ``(b, k)`` (k quantities on the same weights: an entry and its
baselines, so that differences are *paired*). The metric kernels of
:mod:`adjudicator.metrics` are such functions once bound to a table.

In one line each: :func:`derive_seed` (the seed), :func:`resample_weights` (weight rows by
index), :func:`bootstrap` / :func:`extend` / :func:`evaluate_range` (the statistic on B
resamples, chunked, threaded; more resamples; any range, for a cluster),
:class:`Ratio` (a weighted mean evaluated without weight rows), :func:`jackknife` and
:func:`acceleration` (BCa's a), :func:`confidence_interval`, :func:`p_value`, and
:func:`summarize` (all of it for one quantity, as a frozen :class:`BootstrapResult`).

Seeds
    :func:`derive_seed` turns (protocol digest, submission digest, purpose) into a
    :class:`numpy.random.SeedSequence` whose entropy is the 256-bit integer
    ``int(sha256(b"adjudicator/seed/v1\\0" + protocol + b"\\0" + submission + b"\\0" +
    purpose).hexdigest(), 16)``; the result records it as a decimal string.

Blocks and streams
    Resample ``r`` lies in block ``r // BLOCK_SIZE``. Block ``i`` draws from
    ``PCG64(SeedSequence(entropy, spawn_key=base.spawn_key + (i,)))`` (the same stream as
    ``base.spawn(i + 1)[i]`` of a fresh ``base``). Row ``j`` of a block consumes exactly
    ``n_units`` 64-bit outputs, starting after ``j * n_units`` of them (``PCG64.advance``),
    so every resample is a pure function of (seed, index): the replicates are bit-identical
    for any chunk size, any thread count and any machine that computes a block, and a run
    can be extended by more resamples without changing the first ones.

Schemes (one 64-bit output ``x`` per draw)
    ``bootstrap``: multinomial counts. Each of the ``n_s`` draws of stratum ``s`` picks its
    ``floor(x * n_s / 2**64)``-th unit (units of a stratum in increasing index); the bias of
    this map is below ``n_s / 2**64``. Stratified: the counts of a stratum sum to its size.
    Cluster bootstrap is this unit bootstrap: a unit may hold several rows
    (:attr:`adjudicator.table.Table.row_unit`) and carries its weight to each of them.
    ``bayesian``: Dirichlet(1, ..., 1) weights: ``e_u = -log(((x >> 11) + 0.5) / 2**53)``,
    normalised within each stratum to sum to the stratum's size (so the weights sum to
    ``n_units`` and a stratum keeps its share).

Determinism
    Counts are integers drawn from integer arithmetic: identical on every platform.
    Dirichlet weights go through the platform's ``log`` (and any statistic through its own
    floating point), so they are identical on one platform and agree to rounding across.
    Block ``i`` needs nothing but (seed, i): a Dask worker can compute any block.

Degenerate cases (never a silent NaN)
    A non-finite replicate (e.g. a resample without both classes) raises
    :class:`~adjudicator.errors.DegenerateResamplingError` naming how many and the first
    resample indices, and suggesting stratification; so do all replicates equal, a
    non-finite estimate, an undefined leave-one-out value, a stratum of one unit and an
    estimate outside the bootstrap distribution (infinite z0). Too few resamples for the
    quantile levels an interval needs raise :class:`~adjudicator.errors.ComputationError`.

Intervals and p-values: see :func:`confidence_interval` and :func:`p_value`. The two
conventions (:data:`CONVENTIONS`) differ in the tie rule of the bias correction, the tie
rule of the p-value counts and the quantile rule; both are recorded in every result.
"""

from __future__ import annotations

from ._common import (
    BLOCK_SIZE,
    CONVENTIONS,
    JACKKNIFE_GROUPS,
    JACKKNIFE_MAX_UNITS,
    SEED_DOMAIN,
)
from .engine import (
    Acceleration,
    Executor,
    RangeTask,
    Replicates,
    acceleration,
    bootstrap,
    evaluate_range,
    extend,
    jackknife,
)
from .intervals import (
    BootstrapResult,
    Interval,
    PValue,
    confidence_interval,
    min_resamples,
    p_value,
    summarize,
)
from .seeds import (
    derive_seed,
)
from .weights import (
    Ratio,
    resample_weights,
)

__all__ = [
    "BLOCK_SIZE",
    "CONVENTIONS",
    "JACKKNIFE_MAX_UNITS",
    "JACKKNIFE_GROUPS",
    "SEED_DOMAIN",
    "Acceleration",
    "BootstrapResult",
    "Executor",
    "Interval",
    "PValue",
    "RangeTask",
    "Ratio",
    "Replicates",
    "acceleration",
    "bootstrap",
    "confidence_interval",
    "derive_seed",
    "evaluate_range",
    "extend",
    "jackknife",
    "min_resamples",
    "p_value",
    "resample_weights",
    "summarize",
]
