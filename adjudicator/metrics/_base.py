"""The kernel contract shared by every metric, and the helpers most kernels use.

A kernel is called with a :class:`~adjudicator.table.Table` and optional per-unit weights
``(B, n_units)``. Weights are validated once, at the door (:func:`check_weights`), then
processed in chunks of rows so memory stays bounded whatever ``B`` is.
"""

from __future__ import annotations

import abc
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np

from ..errors import ComputationError, InputError
from ..table import Table

__all__ = [
    "Kernel", "MeanKernel", "check_weights", "unit_sums", "rowdot", "rowsum", "neumaier_add",
    "CHUNK_CELLS",
]

#: a chunk of weight rows holds at most this many (row, table-row) cells (~32 MB float64)
CHUNK_CELLS = 1 << 22

_PREP_LOCK = threading.Lock()  # guards the kernels' prepared-table caches (not _prepare)


def check_weights(weights: object, n_units: int) -> np.ndarray:
    """Validate ``weights`` and return them as a C-contiguous float64 ``(B, n_units)`` array.

    Raises
    ------
    InputError
        When the array is not 2-D, has the wrong width, is not numeric, or holds a
        negative, NaN or infinite weight.
    """
    w = np.asarray(weights)
    if w.ndim != 2:
        raise InputError(f"`weights` must be a 2-D array (B, n_units), got {w.ndim}-D")
    if w.shape[1] != n_units:
        raise InputError(
            f"`weights` must have one column per unit ({n_units}), got {w.shape[1]}"
        )
    if w.dtype == bool or w.dtype.kind not in "iuf":
        raise InputError(f"`weights` must be integer or float, got dtype {w.dtype}")
    if w.size and w.min() < 0:  # reductions, not element-wise temporaries
        raise InputError("`weights` must be non-negative")
    w = np.ascontiguousarray(w, dtype=np.float64)
    # a finite sum proves every entry finite; only an overflowing sum needs the full test
    if w.size and not np.isfinite(w.sum()) and not np.isfinite(w).all():
        raise InputError("`weights` must be finite")
    return w


def rowdot(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``w @ x`` for ``w (B, n)`` and ``x (n,)`` or ``(B, n)``, row by row.

    numpy and BLAS choose their summation order by array shape (pairwise, unrolled,
    blocked), so a batch could differ in the last bit from a single row. These sums run
    left to right in every row, compensated (Neumaier), so a batch is bit-identical to
    row-by-row calls whatever the chunk size, sums of integers stay exact, and long sums
    stay accurate.
    """
    w = np.ascontiguousarray(w, dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim == 1:
        return _rowdot1(w, x)
    return _rowdot2(w, x)


def rowsum(a: np.ndarray) -> np.ndarray:
    """Row sums of ``a (B, n)`` in a fixed, compensated order (see :func:`rowdot`)."""
    return _rowdot1(np.ascontiguousarray(a, dtype=np.float64), np.ones(a.shape[1]))


@numba.njit(cache=True)
def neumaier_add(acc, comp, v):  # pragma: no cover - compiled
    """Neumaier's compensated addition, returning ``(sum, compensation)``: exact for
    integers, accurate for long float sums; every fixed-order sum of the kernels uses it."""
    t = acc + v
    if abs(acc) >= abs(v):
        comp += (acc - t) + v
    else:
        comp += (v - t) + acc
    return t, comp


@numba.njit(cache=True)
def _rowdot1(w, x):  # pragma: no cover - compiled
    out = np.empty(w.shape[0])
    for i in range(w.shape[0]):
        acc = 0.0
        comp = 0.0
        for j in range(w.shape[1]):
            v = w[i, j] * x[j]
            acc, comp = neumaier_add(acc, comp, v)
        out[i] = acc + comp
    return out


@numba.njit(cache=True)
def _rowdot2(w, x):  # pragma: no cover - compiled
    out = np.empty(w.shape[0])
    for i in range(w.shape[0]):
        acc = 0.0
        comp = 0.0
        for j in range(w.shape[1]):
            v = w[i, j] * x[i, j]
            acc, comp = neumaier_add(acc, comp, v)
        out[i] = acc + comp
    return out


def unit_sums(table: Table, values: np.ndarray) -> np.ndarray:
    """Per-unit sums of a per-row array."""
    if table.one_row_per_unit:
        return np.asarray(values, dtype=np.float64)
    return np.bincount(table.row_unit, weights=values, minlength=table.n_units)


class Kernel(abc.ABC):
    """A weighted, batched metric.

    ``kernel(table)`` is the plain metric (a Python float; raises
    :class:`~adjudicator.errors.ComputationError` when undefined); ``kernel(table, w)``
    with ``w`` of shape ``(B, n_units)`` gives one value per row, NaN where a row leaves
    the metric undefined (no positives, no comparable pairs, zero total weight, ...).
    A weight of 0 removes a unit; an integer weight ``k`` counts it ``k`` times; only
    ratios of weights within a row matter.
    """

    name: str = ""
    kind: str = ""
    columns: tuple[str, ...] = ()
    higher_is_better: bool = True
    _conventions: str = ""  # subclasses set it, or override the property

    @property
    def conventions(self) -> str:
        """One sentence stating the preregistered conventions, options filled in (for the
        report: what exactly was computed)."""
        return self._conventions

    # -- public ---------------------------------------------------------------------------

    def __call__(self, table: Table, weights: object = None) -> float | np.ndarray:
        self._check_table(table)
        prep = self._prepared(table)
        if weights is None:
            value = float(self._batch(table, np.ones((1, table.n_units)), prep)[0])
            if not np.isfinite(value):
                raise ComputationError(f"{self.name}: {self._why_undefined(table)}")
            return value
        w = np.asarray(weights)
        check_weights(w if w.ndim != 2 else w[:0], table.n_units)  # shape, dtype first
        out = np.empty(w.shape[0], dtype=np.float64)
        for start, stop in self._chunks(table, w.shape[0]):
            # values are checked and converted chunk by chunk: memory stays bounded
            out[start:stop] = self._batch(
                table, check_weights(w[start:stop], table.n_units), prep
            )
        return out

    def leave_one_out(self, table: Table) -> np.ndarray | None:
        """The metric with each unit left out in turn, ``(n_units,)``; None if no closed form.

        NaN marks a unit whose removal leaves the metric undefined.
        """
        return None

    def per_unit(self, table: Table) -> np.ndarray | None:
        """Per-unit values whose plain mean is the metric; None when it does not decompose."""
        return None

    def __repr__(self) -> str:
        return f"<kernel {self.name}>"

    def __getstate__(self) -> dict[str, Any]:
        # the cache of prepared tables stays behind (weak references do not pickle)
        state = self.__dict__.copy()
        state.pop("_prep_cache", None)
        return state

    def _prepared(self, table: Table) -> Any:
        """:meth:`_prepare` of ``table``, computed once per table and kernel.

        The resampling engine calls a kernel once per chunk of weight rows, hundreds of
        times on the same table; sorting it again each time took a quarter of an AUROC
        bootstrap at 100,000 units. The cache holds the table weakly and is keyed by the
        identity of its arrays (a :class:`Table` is frozen and its arrays read-only);
        kernel options are fixed at construction.
        """
        names = tuple(table.columns)
        arrays = (table.row_unit, table.strata, *table.columns.values())
        with _PREP_LOCK:
            cache = self.__dict__.setdefault("_prep_cache", weakref.WeakKeyDictionary())
            hit = cache.get(table)
        if hit is not None and hit[0] == names and all(
            a is b for a, b in zip(hit[1], arrays, strict=True)
        ):
            return hit[2]
        prep = self._prepare(table)
        with _PREP_LOCK:
            cache[table] = (names, arrays, prep)
        return prep

    # -- for subclasses -------------------------------------------------------------------

    def _prepare(self, table: Table) -> Any:
        """Work that depends on the table only (sort orders, per-unit sums)."""
        return None

    @abc.abstractmethod
    def _batch(self, table: Table, w: np.ndarray, prep: Any) -> np.ndarray:
        """Values for a chunk of validated float64 weight rows ``(b, n_units)``."""

    def _why_undefined(self, table: Table) -> str:
        return "undefined on these data"

    def _check_table(self, table: Table) -> None:
        if table.kind != self.kind:
            raise InputError(
                f"{self.name} scores a {self.kind} task, got a {table.kind} table"
            )
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise InputError(f"{self.name}: the table lacks column(s) {', '.join(missing)}")
        if table.n_units == 0:
            raise InputError(f"{self.name}: the table has no units")

    @staticmethod
    def _chunks(table: Table, n: int) -> Iterator[tuple[int, int]]:
        step = max(1, CHUNK_CELLS // max(table.n_rows, 1))
        for start in range(0, n, step):
            yield start, min(n, start + step)


class MeanKernel(Kernel):
    """A metric that is a (transformed) weighted mean over rows of a per-row loss.

    ``value = transform(sum_u w_u S_u / sum_u w_u R_u)`` with ``S_u`` the sum of the
    unit's row losses and ``R_u`` its number of rows. The weighted sums are matrix
    products (:func:`rowdot`), ``O(B n_units)`` per batch.
    """

    @abc.abstractmethod
    def _row_values(self, table: Table) -> np.ndarray:
        """The per-row loss whose weighted mean (transformed) is the metric."""

    def _transform(self, mean: np.ndarray) -> np.ndarray:
        return mean

    def _sums(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        s = unit_sums(table, self._row_values(table))
        r = np.bincount(table.row_unit, minlength=table.n_units).astype(np.float64)
        return s, r

    def _prepare(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        return self._sums(table)

    def _batch(self, table: Table, w: np.ndarray, prep: Any) -> np.ndarray:
        s, r = prep
        num = rowdot(w, s)
        den = rowdot(w, r)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        return self._transform(mean)

    def leave_one_out(self, table: Table) -> np.ndarray | None:
        self._check_table(table)
        s, r = self._sums(table)
        num = s.sum() - s
        den = r.sum() - r
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        return self._transform(mean)

    def per_unit(self, table: Table) -> np.ndarray | None:
        """Per-unit means of the row values; None when units have unequal row counts."""
        self._check_table(table)
        s, r = self._sums(table)
        if not np.all(r == r[0]):
            return None
        return s / r
