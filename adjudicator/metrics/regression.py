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

import numpy as np

from ..table import Table
from ._base import Kernel, MeanKernel, group_cumsums, rowdot, rowsum

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

    def _row_values(self, table: Table) -> np.ndarray:
        return np.abs(np.asarray(table["y"], float) - np.asarray(table["pred"], float))


def _constant(values: np.ndarray, wr: np.ndarray) -> np.ndarray:
    present = wr > 0
    hi = np.where(present, values, -np.inf).max(axis=1)
    lo = np.where(present, values, np.inf).min(axis=1)
    return hi <= lo


def _weighted_pearson(x: np.ndarray, y: np.ndarray, wr: np.ndarray) -> np.ndarray:
    """Row-wise weighted Pearson correlation; x, y are (n,) or (B, n), wr is (B, n)."""
    sw = rowsum(wr)
    x = np.broadcast_to(x, wr.shape)
    y = np.broadcast_to(y, wr.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = rowdot(wr, x) / sw
        my = rowdot(wr, y) / sw
        dx = x - mx[:, None]
        dy = y - my[:, None]
        sxx = rowdot(wr, dx * dx)
        syy = rowdot(wr, dy * dy)
        sxy = rowdot(wr, dx * dy)
        r = sxy / np.sqrt(sxx * syy)
    return np.clip(r, -1.0, 1.0)


class _Correlation(Kernel):
    kind = "regression"
    columns = ("y", "pred")
    higher_is_better = True

    def __init__(self, constant: str = "error") -> None:
        if constant not in ("error", "zero"):
            raise ValueError(f"`constant` must be 'error' or 'zero', got {constant!r}")
        self.constant = constant

    def _transform_xy(self, table: Table, wr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(table["y"], float), np.asarray(table["pred"], float)

    def _batch(self, table: Table, w: np.ndarray) -> np.ndarray:
        wr = w[:, table.row_unit]
        y = np.asarray(table["y"], float)
        p = np.asarray(table["pred"], float)
        degenerate = _constant(y, wr) | _constant(p, wr)
        x1, x2 = self._transform_xy(table, wr)
        r = _weighted_pearson(x1, x2, wr)
        r = np.where(degenerate, 0.0 if self.constant == "zero" else np.nan, r)
        return np.where(rowsum(wr) > 0, r, np.nan)

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


class Spearman(_Correlation):
    """Spearman rank correlation over rows (weighted mid-ranks; see the module)."""

    name = "spearman"

    def _transform_xy(self, table: Table, wr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            _weighted_ranks(np.asarray(table["y"], float), wr),
            _weighted_ranks(np.asarray(table["pred"], float), wr),
        )


def _weighted_ranks(x: np.ndarray, wr: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]]
    ends = np.flatnonzero(np.r_[new[1:], True])
    group_of_sorted = np.cumsum(new) - 1
    group_of_row = np.empty(len(x), dtype=np.int64)
    group_of_row[order] = group_of_sorted
    upto = group_cumsums(wr[:, order], ends)  # weight at or below each group
    below = np.zeros_like(upto)
    below[:, 1:] = upto[:, :-1]
    rank_g = 0.5 * (below + upto)
    return rank_g[:, group_of_row]


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

    def _batch(self, table: Table, w: np.ndarray) -> np.ndarray:
        r = self._unit_r(table)
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
