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
from ._base import Kernel, MeanKernel
from ._base import neumaier_add as _add

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
    precomputed index: one compiled ``O(n)`` pass per weight row. Sums are compensated and
    run in a fixed order, so integer weights give exactly the repeated data's value.
    """

    name = "auroc"
    kind = "binary"
    columns = ("y", "score")
    higher_is_better = True
    _conventions = (
        "AUROC: the share of (positive, negative) pairs the score orders correctly, tied "
        "scores counting 1/2; the positive class and the score direction come from the "
        "protocol, never from the data"
    )

    def _prepare(self, table: Table) -> tuple[np.ndarray, ...]:
        y = np.asarray(table["y"], dtype=bool)
        s = np.asarray(table["score"], dtype=np.float64)
        pos = np.flatnonzero(y)
        neg = np.flatnonzero(~y)
        neg = neg[np.argsort(s[neg], kind="stable")]
        s_neg = s[neg]
        lo = np.searchsorted(s_neg, s[pos], side="left")
        hi = np.searchsorted(s_neg, s[pos], side="right")
        return (table.row_unit[pos].astype(np.int64), table.row_unit[neg].astype(np.int64),
                lo.astype(np.int64), hi.astype(np.int64))

    def _batch(
        self, table: Table, w: np.ndarray, prep: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        return _auroc_rows(w, *prep)

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


@numba.njit(cache=True, nogil=True)
def _auroc_rows(w, unit_pos, unit_neg, lo, hi):  # pragma: no cover - compiled
    n_b = w.shape[0]
    n_neg = len(unit_neg)
    out = np.empty(n_b)
    cum = np.zeros(n_neg + 1)
    for b in range(n_b):
        row = w[b]
        acc = 0.0
        comp = 0.0
        for j in range(n_neg):
            acc, comp = _add(acc, comp, row[unit_neg[j]])
            cum[j + 1] = acc + comp
        w_neg = cum[n_neg]
        num = 0.0
        c_num = 0.0
        w_pos = 0.0
        c_pos = 0.0
        for i in range(len(unit_pos)):
            wi = row[unit_pos[i]]
            # H summed over negatives: the weight below plus half the weight tied. A unit
            # left out (wi = 0, a third of bootstrap counts) adds an exact 0, which leaves
            # sum and compensation as they are: a select instead of a branch that the CPU
            # mispredicts at random (2.3x faster with counts, the same bits)
            v = wi * 0.5 * (cum[lo[i]] + cum[hi[i]])
            num, c_num = _add(num, c_num, v if wi != 0.0 else 0.0)
            w_pos, c_pos = _add(w_pos, c_pos, wi)
        den = (w_pos + c_pos) * w_neg
        out[b] = (num + c_num) / den if den > 0.0 else np.nan
    return out


@numba.njit(cache=True)
def _auprc_rows(w, unit_sorted, y_sorted, ends):  # pragma: no cover - compiled
    n_b = w.shape[0]
    out = np.empty(n_b)
    for b in range(n_b):
        tp = 0.0
        c_tp = 0.0
        fp = 0.0
        c_fp = 0.0
        prev = 0.0
        ap = 0.0
        c_ap = 0.0
        start = 0
        for g in range(len(ends)):
            for r in range(start, ends[g] + 1):
                wr = w[b, unit_sorted[r]]
                if y_sorted[r]:
                    tp, c_tp = _add(tp, c_tp, wr)
                else:
                    fp, c_fp = _add(fp, c_fp, wr)
            start = ends[g] + 1
            ctp = tp + c_tp
            called = ctp + fp + c_fp
            step = ctp - prev
            if step != 0.0 and called > 0.0:
                ap, c_ap = _add(ap, c_ap, step * (ctp / called))
            prev = ctp
        total = tp + c_tp
        out[b] = (ap + c_ap) / total if total > 0.0 else np.nan
    return out


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

    Scores are sorted once (descending) and grouped by distinct value; each weight row is
    one compiled pass accumulating true and false positives, ``O(n)``. A threshold group
    whose rows all have weight 0 adds nothing.
    """

    name = "auprc"
    kind = "binary"
    columns = ("y", "score")
    higher_is_better = True
    _conventions = (
        "average precision: sum over distinct score thresholds of the precision there "
        "times the recall it adds (scikit-learn's step-wise sum, not the trapezoid area)"
    )

    def _prepare(self, table: Table) -> tuple[np.ndarray, ...]:
        y = np.asarray(table["y"], dtype=bool)
        s = np.asarray(table["score"], dtype=np.float64)
        order = np.argsort(-s, kind="stable")
        s_sorted = s[order]
        ends = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True]).astype(np.int64)
        return table.row_unit[order].astype(np.int64), y[order], ends

    def _batch(
        self, table: Table, w: np.ndarray, prep: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        # per threshold group: precision at the group times the recall it adds (sklearn)
        return _auprc_rows(w, *prep)

    def _why_undefined(self, table: Table) -> str:
        return "undefined: the truth has no row of the positive class"


class Brier(MeanKernel):
    """Mean squared difference between the predicted probability and the 0/1 outcome."""

    name = "brier"
    kind = "binary"
    columns = ("y", "score")
    higher_is_better = False
    _conventions = "Brier score: mean squared difference of probability and 0/1 outcome"

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
    _conventions = (
        "log loss: mean negative log-likelihood, probabilities clipped to [eps, 1 - eps] "
        "with eps the float64 machine epsilon (as scikit-learn)"
    )

    def _row_values(self, table: Table) -> np.ndarray:
        y = np.asarray(table["y"], dtype=bool)
        p = np.clip(np.asarray(table["score"], dtype=np.float64), _EPS, 1 - _EPS)
        return -np.where(y, np.log(p), np.log(1 - p))
