"""Resampling weights by block (bootstrap counts, Dirichlet), and fused ratio statistics."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from ..errors import DegenerateResamplingError
from ._common import (
    _SCHEMES,
    BLOCK_SIZE,
    _check_count,
)
from .seeds import (
    _as_seed,
    _block_bitgen,
)

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
