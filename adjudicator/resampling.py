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

import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numba
import numpy as np
from scipy.special import ndtr, ndtri

from .errors import ComputationError, DegenerateResamplingError

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


# -- weights -------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True)
def _fill_counts(next_u64, state, order, offsets, permuted, out):  # type: ignore[no-untyped-def]
    # counts are accumulated in stratum order (contiguous per stratum), then scattered to
    # unit order once per row: cheaper than two dependent random accesses per draw
    n = out.shape[1]
    mask = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    scratch = np.empty(n)
    for r in range(out.shape[0]):
        buf = scratch if permuted else out[r]
        buf[:] = 0.0
        for s in range(offsets.shape[0] - 1):
            first = offsets[s]
            size = np.uint64(offsets[s + 1] - first)
            for _ in range(offsets[s + 1] - first):
                x = next_u64(state)
                # floor(x * size / 2**64) without 128-bit arithmetic (size < 2**32)
                k = ((x >> s32) * size + (((x & mask) * size) >> s32)) >> s32
                buf[first + np.int64(k)] += 1.0
        if permuted:
            row = out[r]
            for j in range(n):
                row[order[j]] = scratch[j]


@numba.njit(nogil=True, cache=True)
def _fill_dirichlet(next_u64, state, order, offsets, out):  # type: ignore[no-untyped-def]
    s11 = np.uint64(11)
    scale = 1.0 / 9007199254740992.0  # 2**-53
    for r in range(out.shape[0]):
        row = out[r]
        for s in range(offsets.shape[0] - 1):
            total = 0.0
            for j in range(offsets[s], offsets[s + 1]):
                x = next_u64(state)
                e = -math.log(((x >> s11) + 0.5) * scale)
                row[order[j]] = e
                total += e
            share = (offsets[s + 1] - offsets[s]) / total
            for j in range(offsets[s], offsets[s + 1]):
                row[order[j]] *= share


@numba.njit(nogil=True, cache=True)
def _ratio_counts(next_u64, state, offsets, num, den, out):  # type: ignore[no-untyped-def]
    # num, den: (n_units, k) in stratum order; sums follow the order of the draws
    mask = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    k = num.shape[1]
    acc_n = np.empty(k)
    acc_d = np.empty(k)
    for r in range(out.shape[0]):
        acc_n[:] = 0.0
        acc_d[:] = 0.0
        for s in range(offsets.shape[0] - 1):
            first = offsets[s]
            size = np.uint64(offsets[s + 1] - first)
            for _ in range(offsets[s + 1] - first):
                x = next_u64(state)
                u = first + np.int64(((x >> s32) * size + (((x & mask) * size) >> s32)) >> s32)
                for j in range(k):
                    acc_n[j] += num[u, j]
                    acc_d[j] += den[u, j]
        for j in range(k):
            out[r, j] = acc_n[j] / acc_d[j] if acc_d[j] > 0 else np.nan


@numba.njit(nogil=True, cache=True)
def _ratio_counts_1(next_u64, state, offsets, num, den, ones, out):  # type: ignore[no-untyped-def]
    # _ratio_counts for k = 1 with the sums in registers: the same additions in the same
    # order, so the same bits, about 1.5x faster; with ``ones`` (every den is 1, a plain
    # mean) the denominator is the number of draws, which summing 1.0s gives exactly
    mask = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    n = offsets[offsets.shape[0] - 1]
    for r in range(out.shape[0]):
        acc_n = 0.0
        acc_d = 0.0
        for s in range(offsets.shape[0] - 1):
            first = offsets[s]
            size = np.uint64(offsets[s + 1] - first)
            for _ in range(offsets[s + 1] - first):
                x = next_u64(state)
                u = first + np.int64(((x >> s32) * size + (((x & mask) * size) >> s32)) >> s32)
                acc_n += num[u, 0]
                if not ones:
                    acc_d += den[u, 0]
        if ones:
            acc_d = float(n)
        out[r, 0] = acc_n / acc_d if acc_d > 0 else np.nan


@numba.njit(nogil=True, cache=True)
def _ratio_dirichlet(next_u64, state, offsets, num, den, out):  # type: ignore[no-untyped-def]
    s11 = np.uint64(11)
    scale = 1.0 / 9007199254740992.0  # 2**-53
    k = num.shape[1]
    acc_n = np.empty(k)
    acc_d = np.empty(k)
    st_n = np.empty(k)
    st_d = np.empty(k)
    for r in range(out.shape[0]):
        acc_n[:] = 0.0
        acc_d[:] = 0.0
        for s in range(offsets.shape[0] - 1):
            st_n[:] = 0.0
            st_d[:] = 0.0
            total = 0.0
            for u in range(offsets[s], offsets[s + 1]):
                e = -math.log(((next_u64(state) >> s11) + 0.5) * scale)
                total += e
                for j in range(k):
                    st_n[j] += e * num[u, j]
                    st_d[j] += e * den[u, j]
            share = (offsets[s + 1] - offsets[s]) / total
            for j in range(k):
                acc_n[j] += st_n[j] * share
                acc_d[j] += st_d[j] * share
        for j in range(k):
            out[r, j] = acc_n[j] / acc_d[j] if acc_d[j] > 0 else np.nan


def _strata_layout(n_units: int, strata: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Units ordered by stratum (stable) and the stratum boundaries in that order."""
    if strata is None:
        return np.arange(n_units, dtype=np.int64), np.array([0, n_units], dtype=np.int64)
    codes = np.asarray(strata)
    if codes.shape != (n_units,) or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"`strata` must be {n_units} integer codes, one per unit")
    if n_units and codes.min() < 0:
        raise ValueError("`strata` codes must be non-negative")
    sizes = np.bincount(codes)
    if np.any(sizes == 1):
        lonely = np.flatnonzero(sizes == 1).tolist()
        raise DegenerateResamplingError(
            f"stratum {lonely[:10]} holds a single unit: resampling within it cannot vary "
            "it, so the stratified bootstrap would understate the uncertainty; merge strata"
        )
    sizes = sizes[sizes > 0]
    order = np.argsort(codes, kind="stable").astype(np.int64)
    return order, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _block_streams(
    seed: np.random.SeedSequence, draws_per_row: int, start: int, stop: int
) -> Iterator[tuple[np.random.PCG64, int, int]]:
    """For each block that resamples ``start .. stop - 1`` touch: its bit generator,
    positioned at the first of them, and their span relative to ``start``."""
    r = start
    while r < stop:
        block, row = divmod(r, BLOCK_SIZE)
        upto = min(stop, (block + 1) * BLOCK_SIZE)
        bitgen = _block_bitgen(seed, block)
        if row:
            bitgen.advance(row * draws_per_row)
        yield bitgen, r - start, upto - start
        r = upto


def _fill_rows(
    seed: np.random.SeedSequence,
    scheme: str,
    order: np.ndarray,
    offsets: np.ndarray,
    start: int,
    out: np.ndarray,
    permuted: bool | None = None,
) -> None:
    """Weights of resamples ``start .. start + len(out)`` into ``out``; ``permuted``: whether
    ``order`` is not the identity (computed here when not given)."""
    n = out.shape[1]
    if permuted is None:
        permuted = bool(np.any(order != np.arange(n)))
    for bitgen, lo, hi in _block_streams(seed, n, start, start + out.shape[0]):
        ptr, state = bitgen.ctypes.next_uint64, bitgen.ctypes.state_address
        if scheme == "bootstrap":
            _fill_counts(ptr, state, order, offsets, permuted, out[lo:hi])
        else:
            _fill_dirichlet(ptr, state, order, offsets, out[lo:hi])


def resample_weights(
    n_units: int,
    start: int,
    stop: int,
    *,
    seed: np.random.SeedSequence | int,
    strata: np.ndarray | None = None,
    scheme: Literal["bootstrap", "bayesian"] = "bootstrap",
) -> np.ndarray:
    """The weights of resamples ``start`` to ``stop - 1``, shape ``(stop - start, n_units)``.

    Random access: any range gives the same rows as the same range cut out of a longer
    one. ``scheme="bootstrap"`` gives multinomial counts (float64), ``"bayesian"``
    Dirichlet(1, ..., 1) weights scaled to sum to ``n_units``; with ``strata`` (one integer
    code per unit) each stratum is resampled separately and keeps its size.
    """
    seed = _as_seed(seed)
    if scheme not in _SCHEMES:
        raise ValueError(f"`scheme` must be one of {_SCHEMES}, got {scheme!r}")
    _check_count("n_units", n_units, 1)
    if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop):
        raise ValueError(f"need integers 0 <= `start` <= `stop`, got {start!r}, {stop!r}")
    order, offsets = _strata_layout(n_units, strata)
    out = np.empty((stop - start, n_units))
    _fill_rows(seed, scheme, order, offsets, start, out)
    return out


@dataclass(frozen=True, eq=False)
class Ratio:
    """A weighted-mean statistic that the engine evaluates without building weights.

    Column ``j`` on weights ``w`` is ``transform(sum_u w_u num[u, j] / sum_u w_u den[u, j])``
    (NaN where the denominator is 0): a mean over units (``den = 1``), over rows (``den`` =
    rows per unit), a Brier score or an MSE. :func:`bootstrap` draws each resample's units
    and sums their values directly (one gather per draw instead of a weight row and two
    products), so the mean runs at the speed of drawing the indices. The sums follow the
    order of the draws, so the last bits can differ from the same statistic evaluated on
    weight rows; they are identical for every chunk size and thread count.
    ``Ratio(...)(weights)`` evaluates it on weight rows (used by :func:`jackknife`).
    """

    num: np.ndarray
    den: np.ndarray
    transform: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        num = np.ascontiguousarray(self.num, dtype=np.float64)
        den = np.ascontiguousarray(self.den, dtype=np.float64)
        if num.ndim == 1:
            num = num[:, None]
        if den.ndim == 1:
            den = np.repeat(den[:, None], num.shape[1], axis=1)
        if num.shape != den.shape or num.ndim != 2:
            raise ValueError(f"`num` and `den` must be (n_units, k), got {num.shape}, "
                             f"{den.shape}")
        if not (np.isfinite(num).all() and np.isfinite(den).all()) or (den < 0).any():
            raise ValueError("`num` must be finite and `den` finite and non-negative")
        object.__setattr__(self, "num", num)
        object.__setattr__(self, "den", den)

    @classmethod
    def mean(cls, x: np.ndarray) -> Ratio:
        """The plain mean of one value per unit (one column, or one per column of x)."""
        x = np.asarray(x, dtype=np.float64)
        return cls(x, np.ones_like(x))

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            d = weights @ self.den
            v = np.where(d > 0, (weights @ self.num) / np.where(d > 0, d, 1.0), np.nan)
        return v if self.transform is None else self.transform(v)

    def leave_one_out(self) -> np.ndarray:
        """Exact leave-one-unit-out values, ``(n_units, k)``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            d = self.den.sum(axis=0) - self.den
            v = np.where(d > 0, (self.num.sum(axis=0) - self.num) / np.where(d > 0, d, 1.0),
                         np.nan)
        return v if self.transform is None else self.transform(v)


def _ratio_rows(
    seed: np.random.SeedSequence,
    scheme: str,
    offsets: np.ndarray,
    num: np.ndarray,
    den: np.ndarray,
    start: int,
    out: np.ndarray,
) -> None:
    """Ratio values of resamples ``start .. start + len(out)`` (num, den in stratum order)."""
    ones = bool(np.all(den == 1.0))
    for bitgen, lo, hi in _block_streams(seed, num.shape[0], start, start + out.shape[0]):
        ptr, state = bitgen.ctypes.next_uint64, bitgen.ctypes.state_address
        if scheme == "bayesian":
            _ratio_dirichlet(ptr, state, offsets, num, den, out[lo:hi])
        elif num.shape[1] == 1:
            _ratio_counts_1(ptr, state, offsets, num, den, ones, out[lo:hi])
        else:
            _ratio_counts(ptr, state, offsets, num, den, out[lo:hi])


# -- the engine ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Replicates:
    """The bootstrap distribution of ``k`` quantities, and how it was drawn.

    Attributes
    ----------
    values
        ``(B, k)`` float64, read-only; row ``r`` is the statistic on resample ``r``.
    seed
        The seed sequence (its entropy and spawn key are recorded).
    scheme
        ``bootstrap`` or ``bayesian``.
    n_units
        Units per resample.
    strata
        The stratum code of each unit, or None.
    """

    values: np.ndarray
    seed: np.random.SeedSequence
    scheme: str
    n_units: int
    strata: np.ndarray | None = None

    @property
    def resamples(self) -> int:
        return int(self.values.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """How the replicates were drawn (not the values), for result.json."""
        return {
            "scheme": self.scheme,
            "resamples": self.resamples,
            "seed": _seed_record(self.seed),
            "block_size": BLOCK_SIZE,
            "stream": "PCG64 per block, SeedSequence(entropy, spawn_key + (block,))",
            "stratified": self.strata is not None,
        }


def _check_count(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"`{name}` must be an integer >= {least}, got {value!r}")
    return int(value)


def _evaluate(
    statistic: Statistic, weights: np.ndarray, *, k: int | None, what: str
) -> np.ndarray:
    values = np.asarray(statistic(weights), dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != weights.shape[0]:
        raise ValueError(
            f"`statistic` must return shape ({weights.shape[0]}, k) for {what}, "
            f"got {values.shape}"
        )
    if k is not None and values.shape[1] != k:
        raise ValueError(f"`statistic` returned {values.shape[1]} quantities, expected {k}")
    return values


class Executor(Protocol):
    """Where ranges of resamples are evaluated: anything with ``concurrent.futures``' ``map``.

    The engine calls ``executor.map(task, starts, stops)`` with a :class:`RangeTask` and
    block-aligned ranges, and expects one ``(stop - start, k)`` array per range, in order.
    A :class:`~concurrent.futures.ThreadPoolExecutor` is one; :mod:`adjudicator.compute`
    provides one that runs the ranges on a Dask cluster. Every range is a pure function of
    (seed, indices), so the values do not depend on which executor computed them.
    """

    def map(self, fn: Callable[..., Any], /, *iterables: Iterable[Any]) -> Iterator[Any]: ...


@dataclass(frozen=True, eq=False)
class RangeTask:
    """The statistic on any range of resamples: the unit of work an :class:`Executor` runs.

    ``task(start, stop)`` is :func:`evaluate_range` with the task's arguments. The task
    holds everything a range needs (the statistic, and through it the tables), so any
    thread, process or machine can compute any range; it pickles when the statistic does.
    """

    statistic: Statistic | Ratio
    n_units: int
    seed: np.random.SeedSequence
    scheme: Literal["bootstrap", "bayesian"]
    strata: np.ndarray | None
    chunk: int | None

    def __call__(self, start: int, stop: int) -> np.ndarray:
        return evaluate_range(self.statistic, self.n_units, start, stop, seed=self.seed,
                              strata=self.strata, scheme=self.scheme, chunk=self.chunk)


def _run_ranges(executor: Executor, task: RangeTask, start: int, stop: int) -> np.ndarray:
    """Resamples ``start .. stop - 1`` as block-aligned ranges, one ``executor`` task each."""
    inner = range((start // BLOCK_SIZE + 1) * BLOCK_SIZE, stop, BLOCK_SIZE)
    edges = [start, *inner, stop]
    starts, stops = edges[:-1], edges[1:]
    parts = [np.asarray(p, dtype=np.float64) for p in executor.map(task, starts, stops)]
    if len(parts) != len(starts) or any(
        p.ndim != 2 or p.shape != (hi - lo, parts[0].shape[1])
        for p, lo, hi in zip(parts, starts, stops, strict=False)
    ):
        raise ValueError("`executor.map` must return one (stop - start, k) array per range, "
                         "in the order of the ranges")
    return np.concatenate(parts)


def _run(
    statistic: Statistic | Ratio,
    n_units: int,
    seed: np.random.SeedSequence,
    scheme: str,
    strata: np.ndarray | None,
    start: int,
    stop: int,
    chunk: int | None,
    workers: int,
    executor: Executor | None = None,
) -> np.ndarray:
    order, offsets = _strata_layout(n_units, strata)
    permuted = bool(np.any(order != np.arange(n_units)))  # once, not once per chunk
    if chunk is None:
        fused = isinstance(statistic, Ratio)
        chunk = BLOCK_SIZE if fused else max(1, min(BLOCK_SIZE, _MAX_CHUNK_CELLS // n_units))
    chunk = min(_check_count("chunk", chunk, 1), stop - start)
    workers = _check_count("workers", workers, 1)
    edges = list(range(start, stop, chunk)) + [stop]
    spans = list(zip(edges[:-1], edges[1:], strict=True))
    first = spans[0]

    local = threading.local()  # one weight buffer per thread: no page faults per chunk
    if isinstance(statistic, Ratio):
        if statistic.num.shape[0] != n_units:
            raise ValueError(f"`statistic` has {statistic.num.shape[0]} units, expected "
                             f"{n_units}")
        num, den = statistic.num[order], statistic.den[order]
    if executor is not None:
        if workers != 1:
            raise ValueError("give `workers` (threads in this process) or `executor`, not both")
        task = RangeTask(statistic, n_units, seed, scheme, strata, chunk)  # type: ignore[arg-type]
        return _run_ranges(executor, task, start, stop)

    def one(span: tuple[int, int], k: int | None) -> np.ndarray:
        if isinstance(statistic, Ratio):
            values = np.empty((span[1] - span[0], num.shape[1]))
            _ratio_rows(seed, scheme, offsets, num, den, span[0], values)
            return values if statistic.transform is None else statistic.transform(values)
        if getattr(local, "buffer", None) is None:
            local.buffer = np.empty((chunk, n_units))
        w = local.buffer[: span[1] - span[0]]
        _fill_rows(seed, scheme, order, offsets, span[0], w, permuted)
        return _evaluate(statistic, w, k=k, what=f"resamples {span[0]}..{span[1] - 1}")

    head = one(first, None)  # may be a view of the buffer: copied before its reuse
    out = np.empty((stop - start, head.shape[1]))
    out[: len(head)] = head

    def store(span: tuple[int, int]) -> None:
        out[span[0] - start : span[1] - start] = one(span, head.shape[1])

    if workers == 1 or len(spans) < 3:
        for span in spans[1:]:
            store(span)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(store, spans[1:]))
    return out


def bootstrap(
    statistic: Statistic | Ratio,
    n_units: int,
    *,
    resamples: int,
    seed: np.random.SeedSequence | int,
    strata: np.ndarray | None = None,
    scheme: Literal["bootstrap", "bayesian"] = "bootstrap",
    chunk: int | None = None,
    workers: int = 1,
    executor: Executor | None = None,
) -> Replicates:
    """Evaluate ``statistic`` on ``resamples`` weight rows, chunk by chunk.

    Parameters
    ----------
    statistic
        ``statistic(weights)`` with ``weights`` of shape ``(b, n_units)`` returns ``(b, k)``
        (or ``(b,)``). It must treat rows independently (as every metric kernel does);
        then the values are bit-identical for every ``chunk`` and ``workers``. A
        :class:`Ratio` (a weighted mean) is evaluated without building weight rows.
    n_units, resamples
        Units per resample and the number of resamples B.
    seed
        A :class:`~numpy.random.SeedSequence` with integer entropy (:func:`derive_seed`).
    strata
        Optional integer stratum code per unit: each stratum is resampled separately.
    scheme
        ``bootstrap`` (multinomial counts) or ``bayesian`` (Dirichlet weights).
    chunk
        Resamples per call of ``statistic`` (default: about 4 MiB of weights); memory is
        bounded by ``workers * chunk * n_units``, not by B.
    workers
        Threads evaluating chunks at once (useful when the statistic releases the GIL).
    executor
        Where to evaluate instead (an :class:`Executor`, e.g. a Dask cluster through
        :mod:`adjudicator.compute`): one :class:`RangeTask` call per block of
        :data:`BLOCK_SIZE` resamples. The values are the same bits.
    """
    seed = _as_seed(seed)
    if scheme not in _SCHEMES:
        raise ValueError(f"`scheme` must be one of {_SCHEMES}, got {scheme!r}")
    n_units = _check_count("n_units", n_units, 2)
    resamples = _check_count("resamples", resamples, 1)
    values = _run(statistic, n_units, seed, scheme, strata, 0, resamples, chunk, workers,
                  executor)
    values.setflags(write=False)
    codes = None if strata is None else np.array(strata, copy=True)
    return Replicates(values, seed, scheme, n_units, codes)


def evaluate_range(
    statistic: Statistic | Ratio,
    n_units: int,
    start: int,
    stop: int,
    *,
    seed: np.random.SeedSequence | int,
    strata: np.ndarray | None = None,
    scheme: Literal["bootstrap", "bayesian"] = "bootstrap",
    chunk: int | None = None,
) -> np.ndarray:
    """The statistic on resamples ``start .. stop - 1``, ``(stop - start, k)``.

    What one task of a cluster computes (e.g. one block, ``i * BLOCK_SIZE`` to
    ``(i + 1) * BLOCK_SIZE``): it needs only the seed and the range, and concatenating
    the ranges gives :func:`bootstrap`'s values bit for bit.
    """
    seed = _as_seed(seed)
    if scheme not in _SCHEMES:
        raise ValueError(f"`scheme` must be one of {_SCHEMES}, got {scheme!r}")
    n_units = _check_count("n_units", n_units, 2)
    start = _check_count("start", start, 0)
    stop = _check_count("stop", stop, start + 1)
    return _run(statistic, n_units, seed, scheme, strata, start, stop, chunk, 1)


def extend(
    replicates: Replicates,
    statistic: Statistic | Ratio,
    more: int,
    *,
    chunk: int | None = None,
    workers: int = 1,
    executor: Executor | None = None,
) -> Replicates:
    """``replicates`` continued by ``more`` resamples (indices B .. B + more - 1).

    The result equals a single run with ``B + more`` resamples, bit for bit (the
    statistic must be the one the replicates came from); ``chunk``, ``workers`` and
    ``executor`` as in :func:`bootstrap`.
    """
    more = _check_count("more", more, 1)
    b = replicates.resamples
    new = _run(
        statistic, replicates.n_units, replicates.seed, replicates.scheme,
        replicates.strata, b, b + more, chunk, workers, executor,
    )
    if new.shape[1] != replicates.values.shape[1]:
        raise ValueError("`statistic` returns a different number of quantities than before")
    values = np.concatenate([replicates.values, new])
    values.setflags(write=False)
    return Replicates(values, replicates.seed, replicates.scheme, replicates.n_units,
                      replicates.strata)


# -- jackknife and acceleration -------------------------------------------------------------


@dataclass(frozen=True)
class Acceleration:
    """The BCa acceleration ``a`` and how it was estimated.

    ``a = sum(U**3) / (6 * sum(U**2) ** 1.5)`` with ``U_j = mean(theta_(.)) - theta_(j)``
    over the leave-one-out (or leave-one-group-out) values ``theta_(j)``; ``a = 0`` when
    they are all equal. ``estimator`` is ``exact-loo`` (closed-form leave-one-out values
    of the kernel), ``jackknife`` (the statistic on n leave-one-out weight rows) or
    ``grouped-jackknife`` (``size`` groups, unit ``u`` in group ``u mod size``, each deleted
    at once: group sums of influence values keep the ratio of the third to the 1.5th power
    of the second moment, so the formula applies unchanged, with more noise). With strata,
    units are still deleted one at a time over the whole sample (as scipy and R boot's
    jackknife do); the acceleration is a small correction, and this is recorded.
    """

    value: float
    estimator: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "estimator": self.estimator, "size": self.size}


NO_ACCELERATION = Acceleration(0.0, "none", 0)


def jackknife(
    statistic: Statistic,
    n_units: int,
    *,
    groups: int | None = None,
    chunk: int | None = None,
) -> tuple[np.ndarray, str]:
    """Leave-one-out values of ``statistic``, ``(m, k)``, and the estimator's name.

    Row ``j`` is the statistic with unit ``j`` weighted 0 and every other unit 1
    (``jackknife``, ``m = n_units``), or, when ``groups`` is given or ``n_units`` exceeds
    :data:`JACKKNIFE_MAX_UNITS`, with every unit ``u`` with ``u % m == j`` weighted 0
    (``grouped-jackknife``, ``m = groups`` or :data:`JACKKNIFE_GROUPS`). Chunked like
    :func:`bootstrap`.
    """
    n_units = _check_count("n_units", n_units, 2)
    if groups is None and n_units <= JACKKNIFE_MAX_UNITS:
        m, name = n_units, "jackknife"
    else:
        m = _check_count("groups", JACKKNIFE_GROUPS if groups is None else groups, 2)
        m, name = min(m, n_units), "grouped-jackknife"
    if chunk is None:
        chunk = max(1, min(BLOCK_SIZE, _MAX_CHUNK_CELLS // n_units))
    unit_group = np.arange(n_units) % m
    parts = []
    k = None
    for lo in range(0, m, chunk):
        ids = np.arange(lo, min(m, lo + chunk))
        w = (unit_group[None, :] != ids[:, None]).astype(np.float64)
        part = _evaluate(statistic, w, k=k, what=f"jackknife rows {lo}..{ids[-1]}")
        k = part.shape[1]
        parts.append(part)
    return np.concatenate(parts), name


def acceleration(loo: np.ndarray, estimator: str = "exact-loo") -> Acceleration:
    """The acceleration from leave-one-out (or leave-one-group-out) values ``loo``.

    ``loo`` is ``(m,)`` or ``(m, 1)`` (as :func:`jackknife` returns for one quantity).
    """
    loo = np.asarray(loo, dtype=np.float64)
    if loo.ndim == 2 and loo.shape[1] == 1:
        loo = loo[:, 0]
    if loo.ndim != 1 or loo.size < 2:
        raise ValueError(f"`loo` must be (m,) or (m, 1) with m >= 2, got shape {loo.shape}")
    bad = np.flatnonzero(~np.isfinite(loo))
    if bad.size:
        raise DegenerateResamplingError(
            f"the statistic is undefined when deleting unit(s) {bad[:10].tolist()} "
            f"({bad.size} of {loo.size}, {estimator}): no acceleration for BCa; "
            "use method percentile or more units"
        )
    u = loo.mean() - loo
    ss = float(np.sum(u * u))
    a = 0.0 if ss == 0.0 else float(np.sum(u**3) / (6.0 * ss**1.5))
    return Acceleration(a, estimator, int(loo.size))


# -- intervals -----------------------------------------------------------------------------


def _finite_replicates(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 1:
        raise ValueError("`replicates` must be a non-empty 1-D array")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DegenerateResamplingError(
            f"the statistic is undefined (non-finite) on {bad.size} of {values.size} "
            f"resamples, first at indices {bad[:10].tolist()}: for a rank metric this is a "
            "resample without both classes (or without a comparable pair); stratify by the "
            "label (task.strata) or use more units"
        )
    if values.size > 1 and values.min() == values.max():
        raise DegenerateResamplingError(
            f"all {values.size} replicates equal {values[0]!r}: the bootstrap carries no "
            "information about the sampling uncertainty (a constant statistic, or perfect "
            "separation of the classes)"
        )
    return values


def _tie_count(values: np.ndarray, bound: float, *, below: bool, ties: float) -> np.ndarray:
    """Per replicate: 1 if strictly beyond ``bound`` on the counted side, ``ties`` if equal."""
    hit = values < bound if below else values > bound
    return np.asarray(hit + ties * (values == bound), dtype=np.float64)


def _z0(values: np.ndarray, estimate: float, convention: str) -> float:
    ties = 0.5 if convention == "adjudicator" else 0.0
    share = float(np.mean(_tie_count(values, estimate, below=True, ties=ties)))
    if not 0.0 < share < 1.0:
        raise DegenerateResamplingError(
            f"the estimate {estimate!r} lies outside the bootstrap distribution "
            f"(share below = {share}): the BCa bias correction is infinite"
        )
    return float(ndtri(share))


def min_resamples(confidence: float, alternative: Alternative = "two-sided") -> int:
    """The fewest resamples for which the percentile interval's quantiles are interior.

    A quantile level ``q`` is estimable from B replicates when ``(B + 1) min(q, 1 - q) >= 1``
    (R boot warns "extreme order statistics used as endpoints" otherwise). BCa may need
    more: its levels are checked when the interval is computed.
    """
    tail = (1 - confidence) / 2 if alternative == "two-sided" else 1 - confidence
    return max(1, math.ceil(1 / tail - 1 - 1e-9))


def _quantiles(sorted_values: np.ndarray, levels: np.ndarray, convention: str) -> np.ndarray:
    b = sorted_values.size
    tail = np.minimum(levels, 1 - levels)
    if np.any((b + 1) * tail < 1 - 1e-12):
        worst = float(tail.min())
        raise ComputationError(
            f"B = {b} resamples are too few for the quantile level {worst:.6g} this interval "
            f"needs: at least {math.ceil(1 / worst - 1 - 1e-9)} are required"
        )
    if convention == "adjudicator":
        return np.asarray(np.quantile(sorted_values, levels, method="linear"))
    # R boot's norm.inter: order statistic (B+1)q, interpolated on the normal scale
    rk = (b + 1) * levels
    k = np.floor(rk).astype(np.int64)
    out = np.empty_like(levels)
    for i, (q, r, kk) in enumerate(zip(levels, rk, k, strict=True)):
        if kk == r:
            out[i] = sorted_values[kk - 1]
        elif kk >= b:
            out[i] = sorted_values[-1]
        else:
            t1, t2 = ndtri(kk / (b + 1)), ndtri((kk + 1) / (b + 1))
            lo_, hi_ = sorted_values[kk - 1], sorted_values[kk]
            out[i] = lo_ + (ndtri(q) - t1) / (t2 - t1) * (hi_ - lo_)
    return out


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval (``low`` may be -inf, ``high`` +inf, one-sided)."""

    method: str
    confidence: float
    alternative: str
    low: float
    high: float
    levels: tuple[float, float]
    z0: float | None
    acceleration: Acceleration | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "confidence": self.confidence,
            "alternative": self.alternative,
            "low": _json_float(self.low),
            "high": _json_float(self.high),
            "quantile_levels": list(self.levels),
            "z0": self.z0,
            "acceleration": None if self.acceleration is None else self.acceleration.to_dict(),
        }


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _bca_levels(z0: float, a: float, z: np.ndarray) -> np.ndarray:
    y = z0 + z
    den = 1 - a * y
    if np.any(den <= 0):
        raise DegenerateResamplingError(
            f"the BCa acceleration a = {a:.4g} is too large for this confidence: the "
            "adjusted quantile level is undefined; use method percentile or more units"
        )
    return np.asarray(ndtr(z0 + y / den))


def confidence_interval(
    replicates: np.ndarray,
    estimate: float,
    *,
    method: Method = "bca",
    confidence: float = 0.95,
    alternative: Alternative = "two-sided",
    convention: str = "adjudicator",
    acceleration: Acceleration | None = None,
) -> Interval:
    """A percentile, basic or BCa interval from the replicates of one quantity.

    ``alternative`` follows scipy: ``two-sided``; ``greater`` gives ``[low, inf)`` at level
    ``confidence``; ``less`` gives ``(-inf, high]``. Percentile: the ``alpha`` and
    ``1 - alpha`` quantiles; basic: ``2 t - `` those, swapped; BCa: the quantiles at
    ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` (Efron and Tibshirani 1993, 14.3) with z0 by
    the convention's tie rule and ``a`` from ``acceleration`` (required for BCa). The
    quantile rule follows ``convention``.
    """
    values, estimate = _check_interval_args(
        replicates, estimate, method, confidence, alternative, convention, acceleration
    )
    tail = (1 - confidence) / 2 if alternative == "two-sided" else 1 - confidence
    levels = np.array([tail, 1 - tail])
    z0 = None
    if method == "bca":
        assert acceleration is not None
        z0 = _z0(values, estimate, convention)
        levels = _bca_levels(z0, acceleration.value, ndtri(levels))
    # basic reflects the same quantiles: low = 2t - q(1 - alpha), high = 2t - q(alpha)
    q = _quantiles(np.sort(values), levels, convention)
    low, high = (2 * estimate - q[1], 2 * estimate - q[0]) if method == "basic" else (q[0], q[1])
    if alternative == "greater":
        high = math.inf
    elif alternative == "less":
        low = -math.inf
    return Interval(
        method, confidence, alternative, float(low), float(high),
        (float(levels[0]), float(levels[1])), z0,
        acceleration if method == "bca" else None,
    )


def _check_interval_args(
    replicates: np.ndarray,
    estimate: float,
    method: str,
    confidence: float,
    alternative: str,
    convention: str,
    acceleration: Acceleration | None,
) -> tuple[np.ndarray, float]:
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}, got {method!r}")
    if not (isinstance(confidence, float) and 0 < confidence < 1):
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"`alternative` must be one of {_ALTERNATIVES}, got {alternative!r}")
    if convention not in CONVENTIONS:
        raise ValueError(f"`convention` must be one of {tuple(CONVENTIONS)}, got {convention!r}")
    if method == "bca" and acceleration is None:
        raise ValueError("`acceleration` is required for method 'bca' (see acceleration())")
    estimate = float(estimate)
    if not math.isfinite(estimate):
        raise DegenerateResamplingError(
            f"the estimate is {estimate}: the metric is undefined on the full data"
        )
    return _finite_replicates(replicates), estimate


# -- p-values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PValue:
    """The bootstrap p-value of H0: theta <= null (``direction="higher"``).

    With ``direction="lower"`` (a lower-is-better metric) "exceeds" means "improves":
    H0 is theta >= null, computed as H0: -theta <= -null on the negated replicates.
    ``count`` is the number of replicates counted against the alternative (ties by the
    convention) in that orientation; ``mc_se`` the Monte Carlo standard error of ``p``.
    """

    null: float
    direction: str
    method: str
    p: float
    mc_se: float
    count: float
    resamples: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "null": self.null, "direction": self.direction, "method": self.method,
            "p": self.p, "mc_se": self.mc_se, "count": self.count,
            "resamples": self.resamples,
        }


def p_value(
    replicates: np.ndarray,
    estimate: float,
    null: float,
    *,
    method: Method = "bca",
    convention: str = "adjudicator",
    acceleration: Acceleration | None = None,
    direction: Direction = "higher",
) -> PValue:
    """The one-sided p-value obtained by inverting the same interval method.

    The p-value is the largest ``alpha`` at which the one-sided ``1 - alpha`` bound still
    admits ``null``. With ``c`` the count of replicates on the null side (the convention's
    tie rule) and B the resamples:

    - percentile: ``c = #{t* <= null}``, ``p = (1 + c) / (1 + B)``;
    - basic: the bound is ``2t - q(1 - alpha)``, so ``c = #{t* >= 2t - null}``,
      ``p = (1 + c) / (1 + B)``;
    - BCa: ``g = (1 + #{t* <= null}) / (1 + B)``, ``w = Phi^-1(g) - z0``,
      ``p = Phi(w / (1 + a w) - z0)``; when ``1 + a w <= 0`` no BCa bound reaches
      ``null`` and ``p`` is its limit, 0 if ``w < 0`` else 1; when every replicate is on
      the null side (``g = 1``), ``p = 1``. These limits have ``mc_se = 0``.

    The ``+1``s count the observed sample as one of the resamples: ``p >= 1 / (1 + B)`` for
    percentile and basic, and ``g`` stays inside (0, 1). Monte Carlo standard error:
    percentile and basic, the binomial ``sqrt(p (1 - p) / B)``; BCa, the delta method on
    ``(g, h)`` jointly (``h`` the share that gives z0), with variances ``g(1-g)``, ``h(1-h)``
    and their empirical covariance over the replicates, divided by B. Both are conservative
    under half ties; the acceleration is not a Monte Carlo quantity.
    """
    if direction not in ("higher", "lower"):
        raise ValueError(f"`direction` must be 'higher' or 'lower', got {direction!r}")
    null = float(null)
    if not math.isfinite(null):
        raise ValueError(f"`null` must be a finite number, got {null!r}")
    values, estimate = _check_interval_args(
        replicates, estimate, method, 0.95, "two-sided", convention, acceleration
    )
    sign = 1.0 if direction == "higher" else -1.0
    v, t, tau = sign * values, sign * estimate, sign * null
    ties = 0.5 if convention == "adjudicator" else 1.0
    b = v.size
    if method == "basic":
        s = _tie_count(v, 2 * t - tau, below=False, ties=ties)
    else:
        s = _tie_count(v, tau, below=True, ties=ties)
    count = float(s.sum())
    g = (1 + count) / (1 + b)
    if method != "bca":
        return PValue(null, direction, method, g, math.sqrt(g * (1 - g) / b), count, b)
    assert acceleration is not None
    a = sign * acceleration.value  # negating the statistic negates its skewness
    z0 = _z0(v, t, convention)
    if g >= 1.0:  # every replicate on the null side: no evidence against H0
        return PValue(null, direction, method, 1.0, 0.0, count, b)
    w = float(ndtri(g)) - z0
    den = 1 + a * w
    if den <= 0:
        return PValue(null, direction, method, 0.0 if w < 0 else 1.0, 0.0, count, b)
    zp = w / den - z0
    p = float(ndtr(zp))
    h = float(ndtr(z0))
    s_h = _tie_count(v, t, below=True, ties=0.5 if convention == "adjudicator" else 0.0)
    cov = float(np.mean(s * s_h) - np.mean(s) * np.mean(s_h))
    var_g, var_h = max(g * (1 - g), float(np.var(s))), max(h * (1 - h), float(np.var(s_h)))
    d_g = 1 / (den**2 * _phi(float(ndtri(g))))
    d_h = -(1 / den**2 + 1) / _phi(z0)
    var = (d_g**2 * var_g + 2 * d_g * d_h * cov + d_h**2 * var_h) / b
    return PValue(null, direction, method, p, _phi(zp) * math.sqrt(max(var, 0.0)), count, b)


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


# -- the summary ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapResult:
    """Estimate, interval and p-values of one quantity, with everything to reproduce them."""

    estimate: float
    standard_error: float
    interval: Interval
    p_values: Mapping[str, PValue]
    convention: str
    replicates: Mapping[str, Any]
    quantity: tuple[float, ...] = field(default=(1.0,))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json (infinite bounds as the strings "inf")."""
        return {
            "estimate": self.estimate,
            "standard_error": self.standard_error,
            "interval": self.interval.to_dict(),
            "p_values": {name: pv.to_dict() for name, pv in self.p_values.items()},
            "convention": {"name": self.convention, **CONVENTIONS[self.convention]},
            "replicates": dict(self.replicates),
            "quantity": list(self.quantity),
        }


def _contrast(quantity: int | Sequence[float], k: int) -> np.ndarray:
    if isinstance(quantity, (int, np.integer)) and not isinstance(quantity, bool):
        if not 0 <= quantity < k:
            raise ValueError(f"`quantity` must be a column in 0..{k - 1}, got {quantity}")
        c = np.zeros(k)
        c[quantity] = 1.0
        return c
    c = np.asarray(quantity, dtype=np.float64)
    if c.shape != (k,) or not np.all(np.isfinite(c)):
        raise ValueError(f"`quantity` must be a column index or {k} finite coefficients")
    return c


def summarize(
    replicates: Replicates,
    estimates: Sequence[float] | np.ndarray,
    *,
    quantity: int | Sequence[float] = 0,
    method: Method = "bca",
    confidence: float = 0.95,
    alternative: Alternative = "two-sided",
    convention: str = "adjudicator",
    loo: np.ndarray | tuple[np.ndarray, str] | Acceleration | None = None,
    nulls: Mapping[str, float] | None = None,
    direction: Direction = "higher",
) -> BootstrapResult:
    """Interval and p-values of one quantity of a paired bootstrap.

    Parameters
    ----------
    replicates
        From :func:`bootstrap`.
    estimates
        The ``k`` quantities on the full data (the statistic with all weights 1).
    quantity
        A column (``0``: the entry) or coefficients over the columns (``[1, -1]``: entry
        minus baseline, paired because every column saw the same weights).
    loo
        For BCa: exact leave-one-out values ``(n_units, k)`` of the kernel, or the
        ``(values, estimator)`` pair :func:`jackknife` returns, or an
        :class:`Acceleration` of this quantity.
    method, confidence, alternative, convention
        As in :func:`confidence_interval` (the protocol's ``resampling`` block).
    nulls
        Named null values (``{"absolute": 0.75, "beats:clinical": 0.02}``): one
        :func:`p_value` each, of H0: quantity <= null (``direction="higher"``).
    direction
        ``lower`` for a lower-is-better metric: "exceeds" then means "improves", and each
        p-value tests H0: quantity >= null. For a difference entry - baseline with a
        required improvement ``margin``, pass ``null = -margin``.
    """
    k = replicates.values.shape[1]
    c = _contrast(quantity, k)
    est = np.asarray(estimates, dtype=np.float64)
    if est.shape != (k,):
        raise ValueError(f"`estimates` must hold {k} values, got shape {est.shape}")
    values = replicates.values @ c if k > 1 else replicates.values[:, 0] * c[0]
    estimate = float(est @ c)
    acc: Acceleration | None
    if isinstance(loo, Acceleration) or loo is None:
        acc = loo
    else:
        loo_values, estimator = loo if isinstance(loo, tuple) else (loo, "exact-loo")
        loo_arr = np.asarray(loo_values, dtype=np.float64)
        if loo_arr.ndim == 1 and k == 1:
            loo_arr = loo_arr[:, None]
        if loo_arr.ndim != 2 or loo_arr.shape[1] != k:
            raise ValueError(f"`loo` must have shape (m, {k}), got {loo_arr.shape}")
        acc = acceleration(loo_arr @ c, estimator)
    interval = confidence_interval(
        values, estimate, method=method, confidence=confidence, alternative=alternative,
        convention=convention, acceleration=acc,
    )
    pvs = {
        name: p_value(values, estimate, null, method=method, convention=convention,
                      acceleration=acc, direction=direction)
        for name, null in (nulls or {}).items()
    }
    return BootstrapResult(
        estimate=estimate,
        standard_error=float(np.std(values, ddof=1)) if values.size > 1 else 0.0,
        interval=interval,
        p_values=pvs,
        convention=convention,
        replicates=replicates.to_dict(),
        quantity=tuple(float(x) for x in c),
    )
