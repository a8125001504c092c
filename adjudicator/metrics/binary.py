"""Binary classification kernels: AUROC, average precision, Brier score, log loss.

Conventions (preregistered, never inferred): the table's ``y`` is True for the protocol's
positive class and ``score`` is already oriented so that higher means "more likely
positive" (:mod:`adjudicator.data` flips it when the protocol says ``direction: lower``).
There is no automatic AUROC direction: a score that ranks backwards gets an AUROC below
0.5. Tied scores count 1/2 (as :func:`sklearn.metrics.roc_auc_score`); average precision is
the step-wise sum ``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds (as
:func:`sklearn.metrics.average_precision_score`), not the trapezoid area.
"""

from __future__ import annotations

import numba
import numpy as np

from ..table import Table
from ._base import Kernel, MeanKernel, group_cumsums, rowdot, rowsum

__all__ = ["Auroc", "Auprc", "Brier", "LogLoss"]

_EPS = float(np.finfo(np.float64).eps)


def _both_classes(table: Table) -> str:
    y = np.asarray(table["y"], dtype=bool)
    n_pos = int(y.sum())
    return (
        f"undefined: the truth needs at least one positive and one negative row "
        f"(has {n_pos} positive, {len(y) - n_pos} negative)"
    )


class Auroc(Kernel):
    """Area under the ROC curve, ties counted 1/2; exact leave-one-out by placement values.

    For weights ``w`` (per row, via the row's unit)::

        AUROC = sum_{i pos, j neg} w_i w_j H(s_i - s_j) / (sum_pos w)(sum_neg w)

    with ``H(x) = 1, 1/2, 0`` for ``x > 0, = 0, < 0``. With negatives sorted once, every
    positive reads the cumulative negative weight below and at its score by a
    precomputed index, so a batch of ``B`` rows costs ``O(B n)``.
    """

    name = "auroc"
    kind = "binary"
    columns = ("y", "score")
    higher_is_better = True

    def _prepare(self, table: Table) -> tuple[np.ndarray, ...]:
        y = np.asarray(table["y"], dtype=bool)
        s = np.asarray(table["score"], dtype=np.float64)
        pos = np.flatnonzero(y)
        neg = np.flatnonzero(~y)
        neg = neg[np.argsort(s[neg], kind="stable")]
        s_neg = s[neg]
        lo = np.searchsorted(s_neg, s[pos], side="left")
        hi = np.searchsorted(s_neg, s[pos], side="right")
        return table.row_unit[pos], table.row_unit[neg], lo, hi

    def _batch(self, table: Table, w: np.ndarray) -> np.ndarray:
        unit_pos, unit_neg, lo, hi = self._prepare(table)
        wp = w[:, unit_pos]
        wn = w[:, unit_neg]
        cum = np.zeros((w.shape[0], len(unit_neg) + 1))
        np.cumsum(wn, axis=1, out=cum[:, 1:])
        # H summed over negatives for each positive: below + half of the ties
        placement = 0.5 * (cum[:, lo] + cum[:, hi])
        num = rowdot(wp, placement)
        den = rowsum(wp) * cum[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    def _why_undefined(self, table: Table) -> str:
        return _both_classes(table)

    def placements(self, table: Table) -> np.ndarray:
        """Per row: the pairs it wins, ``sum_j H(s_i - s_j)`` over the other class (as a
        positive: negatives below it; as a negative: positives above it), ties 1/2."""
        y = np.asarray(table["y"], dtype=bool)
        s = np.asarray(table["score"], dtype=np.float64)
        s_pos = np.sort(s[y])
        s_neg = np.sort(s[~y])
        out = np.empty(len(s))
        sp = s[y]
        out[y] = 0.5 * (
            np.searchsorted(s_neg, sp, "left") + np.searchsorted(s_neg, sp, "right")
        )
        sn = s[~y]
        out[~y] = len(s_pos) - 0.5 * (
            np.searchsorted(s_pos, sn, "left") + np.searchsorted(s_pos, sn, "right")
        )
        return out

    def leave_one_out(self, table: Table) -> np.ndarray:
        """Exact AUROC without each unit, in ``O(n log n)`` (placement values)."""
        self._check_table(table)
        y = np.asarray(table["y"], dtype=bool)
        s = np.asarray(table["score"], dtype=np.float64)
        place = self.placements(table)
        num = place[y].sum()
        n_units = table.n_units
        u_place = np.bincount(table.row_unit, weights=place, minlength=n_units)
        u_pos = np.bincount(table.row_unit, weights=y.astype(float), minlength=n_units)
        u_neg = np.bincount(table.row_unit, weights=(~y).astype(float), minlength=n_units)
        loo_num = num - u_place
        if not table.one_row_per_unit:
            # a pair inside the removed unit was subtracted twice (once per row)
            starts = np.searchsorted(table.row_unit, np.arange(n_units + 1))
            loo_num += _within_unit_auc_pairs(starts, y, s)
        den = (y.sum() - u_pos) * ((~y).sum() - u_neg)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, loo_num / np.where(den > 0, den, 1.0), np.nan)


@numba.njit(cache=True)
def _within_unit_auc_pairs(starts, y, s):  # pragma: no cover - compiled
    n_units = len(starts) - 1
    out = np.zeros(n_units)
    for u in range(n_units):
        acc = 0.0
        for i in range(starts[u], starts[u + 1]):
            if not y[i]:
                continue
            for j in range(starts[u], starts[u + 1]):
                if y[j]:
                    continue
                if s[i] > s[j]:
                    acc += 1.0
                elif s[i] == s[j]:
                    acc += 0.5
        out[u] = acc
    return out


class Auprc(Kernel):
    """Average precision: ``sum_k (R_k - R_{k-1}) P_k`` over distinct score thresholds.

    Scores are sorted once (descending) and grouped by distinct value; each batch row is a
    pass of group sums and cumulative sums, ``O(B n)``. A threshold group whose rows all
    have weight 0 adds nothing.
    """

    name = "auprc"
    kind = "binary"
    columns = ("y", "score")
    higher_is_better = True

    def _batch(self, table: Table, w: np.ndarray) -> np.ndarray:
        y = np.asarray(table["y"], dtype=bool)
        s = np.asarray(table["score"], dtype=np.float64)
        order = np.argsort(-s, kind="stable")
        s_sorted = s[order]
        ends = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
        wr = w[:, table.row_unit[order]]
        y_sorted = y[order]
        # cumulative true and false positives at each distinct threshold (as sklearn)
        ctp = group_cumsums(np.where(y_sorted, wr, 0.0), ends)
        cfp = group_cumsums(np.where(y_sorted, 0.0, wr), ends)
        tp = np.diff(ctp, axis=1, prepend=0.0)
        called = ctp + cfp
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(called > 0, ctp / np.where(called > 0, called, 1.0), 0.0)
            total = ctp[:, -1]
            ap = rowdot(tp, precision)
            return np.where(total > 0, ap / np.where(total > 0, total, 1.0), np.nan)

    def _why_undefined(self, table: Table) -> str:
        return "undefined: the truth has no row of the positive class"


class Brier(MeanKernel):
    """Mean squared difference between the predicted probability and the 0/1 outcome."""

    name = "brier"
    kind = "binary"
    columns = ("y", "score")
    higher_is_better = False

    def _row_values(self, table: Table) -> np.ndarray:
        y = np.asarray(table["y"], dtype=np.float64)
        return (y - np.asarray(table["score"], dtype=np.float64)) ** 2


class LogLoss(MeanKernel):
    """Mean negative log-likelihood; probabilities clipped to ``[eps, 1 - eps]`` (float64
    machine epsilon), as :func:`sklearn.metrics.log_loss` does."""

    name = "log_loss"
    kind = "binary"
    columns = ("y", "score")
    higher_is_better = False

    def _row_values(self, table: Table) -> np.ndarray:
        y = np.asarray(table["y"], dtype=bool)
        p = np.clip(np.asarray(table["score"], dtype=np.float64), _EPS, 1 - _EPS)
        return -np.where(y, np.log(p), np.log(1 - p))
