"""Regression kernels: RMSE, MAE, Pearson, Spearman, and the per-unit Pearson mean.

Weighted correlations use per-row weights (a unit's weight on each of its rows): the
weighted means, variances and covariance of the rows, which is exactly the correlation of
the data with rows repeated for integer weights. Spearman ranks are weighted mid-ranks
``C + W/2`` (``C`` the weight strictly below, ``W`` the weight of the tie group), an
affine transform of scipy's average ranks, so the correlation equals
:func:`scipy.stats.spearmanr` without weights and is unchanged by scaling the weights.

A constant vector (among rows with positive weight) makes a correlation undefined; the
protocol's ``constant`` option says whether that is an error (NaN in a weighted row, a
:class:`~adjudicator.errors.ComputationError` for the plain metric) or counts as 0.
"""

from __future__ import annotations

import numba
import numpy as np

from ..table import Table
from ._base import Kernel, MeanKernel, rowdot, rowsum
from ._base import neumaier_add as _add

__all__ = ["Rmse", "Mae", "Pearson", "Spearman", "PerUnitPearsonMean"]


class Rmse(MeanKernel):
    """Root mean squared error over rows.

    :meth:`per_unit` and the decomposition are of the *mean squared error*: the plain
    mean of the per-unit values is ``rmse ** 2``.
    """

    name = "rmse"
    kind = "regression"
    columns = ("y", "pred")
    higher_is_better = False
    _conventions = "root mean squared error over rows"

    def _row_values(self, table: Table) -> np.ndarray:
        return (np.asarray(table["y"], float) - np.asarray(table["pred"], float)) ** 2

    def _transform(self, mean: np.ndarray) -> np.ndarray:
        return np.sqrt(mean)

    def per_unit(self, table: Table) -> np.ndarray | None:
        """Per-unit mean squared errors (their mean is the MSE = rmse**2, not the rmse)."""
        return super().per_unit(table)


class Mae(MeanKernel):
    """Mean absolute error over rows."""

    name = "mae"
    kind = "regression"
    columns = ("y", "pred")
    higher_is_better = False
    _conventions = "mean absolute error over rows"

    def _row_values(self, table: Table) -> np.ndarray:
        return np.abs(np.asarray(table["y"], float) - np.asarray(table["pred"], float))


@numba.njit(cache=True)
def _wsum(wr, x):  # pragma: no cover - compiled
    acc = 0.0
    comp = 0.0
    for r in range(len(wr)):
        if wr[r] != 0.0:
            acc, comp = _add(acc, comp, wr[r] * x[r])
    return acc + comp


@numba.njit(cache=True)
def _pearson_row(wr, x, y):  # pragma: no cover - compiled
    """Weighted Pearson of one row (two-pass, compensated); NaN if x or y is constant."""
    sw = _wsum(wr, np.ones(len(wr)))
    if not sw > 0.0:
        return np.nan
    mx = _wsum(wr, x) / sw
    my = _wsum(wr, y) / sw
    sxx = 0.0
    cxx = 0.0
    syy = 0.0
    cyy = 0.0
    sxy = 0.0
    cxy = 0.0
    x_lo = np.inf
    x_hi = -np.inf
    y_lo = np.inf
    y_hi = -np.inf
    for r in range(len(wr)):
        if wr[r] > 0.0:
            x_lo = min(x_lo, x[r])
            x_hi = max(x_hi, x[r])
            y_lo = min(y_lo, y[r])
            y_hi = max(y_hi, y[r])
            dx = x[r] - mx
            dy = y[r] - my
            sxx, cxx = _add(sxx, cxx, wr[r] * dx * dx)
            syy, cyy = _add(syy, cyy, wr[r] * dy * dy)
            sxy, cxy = _add(sxy, cxy, wr[r] * dx * dy)
    # constant among present rows: exact test, not a tiny centred sum of squares
    if x_hi <= x_lo or y_hi <= y_lo:
        return np.nan
    r = (sxy + cxy) / np.sqrt((sxx + cxx) * (syy + cyy))
    return min(1.0, max(-1.0, r))


@numba.njit(cache=True)
def _midranks(wr, order, ends, out):  # pragma: no cover - compiled
    """Weighted mid-ranks C + W/2 of the rows, ties by group (see the module)."""
    below = 0.0
    comp = 0.0
    start = 0
    for g in range(len(ends)):
        gw = 0.0
        for k in range(start, ends[g] + 1):
            gw += wr[order[k]]
        upto, comp2 = _add(below, comp, gw)
        rank = 0.5 * ((below + comp) + (upto + comp2))
        for k in range(start, ends[g] + 1):
            out[order[k]] = rank
        below = upto
        comp = comp2
        start = ends[g] + 1


@numba.njit(cache=True)
def _correlation_rows(w, row_unit, y, p, ranks, oy, ey, op, ep):  # pragma: no cover
    n_b = w.shape[0]
    n = len(row_unit)
    out = np.empty(n_b)
    wr = np.empty(n)
    ry = np.empty(n)
    rp = np.empty(n)
    for b in range(n_b):
        for r in range(n):
            wr[r] = w[b, row_unit[r]]
        if ranks:
            _midranks(wr, oy, ey, ry)
            _midranks(wr, op, ep, rp)
            # ranks are constant exactly when the values are: test on the values
            v = _pearson_row(wr, y, p)
            out[b] = v if np.isnan(v) else _pearson_row(wr, ry, rp)
        else:
            out[b] = _pearson_row(wr, y, p)
    return out


def _sort_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ends = np.flatnonzero(np.r_[xs[1:] != xs[:-1], True])
    return order.astype(np.int64), ends.astype(np.int64)


class _Correlation(Kernel):
    kind = "regression"
    columns = ("y", "pred")
    higher_is_better = True
    _ranks = False

    def __init__(self, constant: str = "error") -> None:
        if constant not in ("error", "zero"):
            raise ValueError(f"`constant` must be 'error' or 'zero', got {constant!r}")
        self.constant = constant

    def _prepare(self, table: Table) -> tuple[np.ndarray, ...]:
        y = np.ascontiguousarray(table["y"], dtype=np.float64)
        p = np.ascontiguousarray(table["pred"], dtype=np.float64)
        oy, ey = _sort_groups(y)
        op, ep = _sort_groups(p)
        return table.row_unit.astype(np.int64), y, p, oy, ey, op, ep

    def _batch(self, table: Table, w: np.ndarray, prep: tuple[np.ndarray, ...]) -> np.ndarray:
        row_unit, y, p, oy, ey, op, ep = prep
        r = _correlation_rows(w, row_unit, y, p, self._ranks, oy, ey, op, ep)
        if self.constant == "zero":
            # NaN here means a constant vector (or no weight at all, which stays NaN)
            present = rowsum(w) > 0
            r = np.where(np.isnan(r) & present, 0.0, r)
        return r

    def _why_undefined(self, table: Table) -> str:
        y = np.asarray(table["y"], float)
        p = np.asarray(table["pred"], float)
        which = [n for n, v in (("truth", y), ("predictions", p)) if np.ptp(v) == 0]
        if which:
            return (
                f"undefined: the {' and the '.join(which)} are constant, and the protocol "
                "says a constant vector's correlation is an error (`constant: error`)"
            )
        return "undefined on these data"


class Pearson(_Correlation):
    """Pearson correlation between truth and prediction over rows."""

    name = "pearson"

    @property
    def conventions(self) -> str:
        return f"Pearson correlation over rows; {_constant_rule(self.constant)}"


class Spearman(_Correlation):
    """Spearman rank correlation over rows (weighted mid-ranks; see the module)."""

    name = "spearman"
    _ranks = True

    @property
    def conventions(self) -> str:
        return (
            "Spearman correlation over rows (Pearson of mid-ranks, ties sharing their "
            f"average rank); {_constant_rule(self.constant)}"
        )


def _constant_rule(constant: str) -> str:
    if constant == "zero":
        return "a constant truth or prediction counts as correlation 0"
    return "a constant truth or prediction is an error (the metric is undefined)"


class PerUnitPearsonMean(Kernel):
    """Mean over units of the Pearson correlation across each unit's rows.

    A unit's rows share its weight, so each unit's correlation is fixed and the weighted
    metric is the weighted mean of the per-unit correlations. A unit with a constant truth
    or prediction, or fewer than two rows, is undefined (``constant: error``: NaN in
    any weighted row giving it positive weight, a ComputationError for the plain metric
    that names the units) or counts as 0 (``constant: zero``).
    """

    name = "per_unit_pearson_mean"
    kind = "regression"
    columns = ("y", "pred")
    higher_is_better = True

    def __init__(self, constant: str = "error") -> None:
        if constant not in ("error", "zero"):
            raise ValueError(f"`constant` must be 'error' or 'zero', got {constant!r}")
        self.constant = constant

    def _unit_r(self, table: Table) -> np.ndarray:
        y = np.asarray(table["y"], float)
        p = np.asarray(table["pred"], float)
        ru = table.row_unit
        n = table.n_units
        count = np.bincount(ru, minlength=n).astype(float)
        my = np.bincount(ru, weights=y, minlength=n) / count
        mp = np.bincount(ru, weights=p, minlength=n) / count
        dy = y - my[ru]
        dp = p - mp[ru]
        syy = np.bincount(ru, weights=dy * dy, minlength=n)
        spp = np.bincount(ru, weights=dp * dp, minlength=n)
        syp = np.bincount(ru, weights=dy * dp, minlength=n)
        starts = np.searchsorted(ru, np.arange(n))
        # constant: max == min within the unit (exact, unlike a tiny centred sum)
        const = (np.maximum.reduceat(y, starts) == np.minimum.reduceat(y, starts)) | (
            np.maximum.reduceat(p, starts) == np.minimum.reduceat(p, starts)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.clip(syp / np.sqrt(syy * spp), -1.0, 1.0)
        undefined = const | (count < 2)
        return np.where(undefined, 0.0 if self.constant == "zero" else np.nan, r)

    def _prepare(self, table: Table) -> np.ndarray:
        return self._unit_r(table)

    def _batch(self, table: Table, w: np.ndarray, prep: np.ndarray) -> np.ndarray:
        r = prep
        bad = np.isnan(r)
        sw = rowsum(w)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = rowdot(w, np.where(bad, 0.0, r)) / sw
        undefined = (rowdot(w, bad.astype(float)) > 0) | (sw <= 0)
        return np.where(undefined, np.nan, value)

    def _why_undefined(self, table: Table) -> str:
        bad = np.flatnonzero(np.isnan(self._unit_r(table)))
        shown = ", ".join(repr(str(u))[:42] for u in table.units[bad[:5]])
        return (
            f"undefined: {len(bad)} unit(s) have a constant truth or prediction or fewer "
            f"than two rows ({shown}{', ...' if len(bad) > 5 else ''}), and the protocol "
            "says a constant vector's correlation is an error (`constant: error`)"
        )

    @property
    def conventions(self) -> str:
        return (
            "mean over units of the Pearson correlation across each unit's rows; units "
            f"count equally; {_constant_rule(self.constant)} (as is a unit with one row)"
        )

    def per_unit(self, table: Table) -> np.ndarray:
        self._check_table(table)
        return self._unit_r(table)

    def leave_one_out(self, table: Table) -> np.ndarray:
        self._check_table(table)
        r = self._unit_r(table)
        n = len(r)
        if n < 2:
            return np.full(n, np.nan)
        total = r.sum()
        return (total - r) / (n - 1)
