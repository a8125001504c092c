"""The chunked engine: replicates of a statistic over weight rows, the jackknife, acceleration."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from ..errors import DegenerateResamplingError
from ._common import (
    _MAX_CHUNK_CELLS,
    _SCHEMES,
    BLOCK_SIZE,
    JACKKNIFE_GROUPS,
    JACKKNIFE_MAX_UNITS,
    Statistic,
    _check_count,
)
from .seeds import (
    _as_seed,
    _seed_record,
)
from .weights import (
    Ratio,
    _fill_rows,
    _ratio_rows,
    _strata_layout,
)

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
