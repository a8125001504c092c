"""Survival kernels: Harrell's and Uno's concordance index.

The table's ``score`` is a *risk* score (higher = earlier event), as scikit-survival
uses; :mod:`adjudicator.data` negates survival-time predictions (``direction: lower``),
which is what lifelines and R's ``survival`` expect.

Comparable pairs (as ``sksurv.metrics.concordance_index_censored`` and lifelines): ``(i, j)``
with ``i`` an event and ``T_i < T_j``, or ``T_i == T_j`` with ``j`` censored. Two events
at the same time are not comparable, nor are two censored rows. A pair is concordant
when ``s_i > s_j`` and counts 1/2 when the scores are *exactly* equal (scikit-survival
uses a tolerance ``tied_tol=1e-8``; the two agree whenever distinct scores differ by more
than that).

With per-row weights the pair ``(i, j)`` counts ``w_i w_j`` (Uno: ``w_i w_j / G(T_i)^2``),
which is exactly what repeating rows does. Times are sorted once; each weight row is one
``O(n log n)`` pass with a Fenwick tree over score ranks, compiled with numba.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ..table import Table
from ._base import Kernel

__all__ = ["HarrellC", "UnoC"]


def _prepare(table: Table) -> tuple[Any, ...]:
    time = np.asarray(table["time"], dtype=np.float64)
    event = np.asarray(table["event"], dtype=bool)
    score = np.asarray(table["score"], dtype=np.float64)
    order = np.argsort(time, kind="stable")
    t_sorted = time[order]
    starts = np.flatnonzero(np.r_[True, t_sorted[1:] != t_sorted[:-1]])
    starts = np.r_[starts, len(order)].astype(np.int64)
    _, rank = np.unique(score[order], return_inverse=True)
    rank = (rank + 1).astype(np.int64)  # Fenwick trees are 1-based
    return (
        order,
        starts,
        t_sorted,
        event[order],
        rank,
        table.row_unit[order].astype(np.int64),
        int(rank.max()) if len(rank) else 0,
    )


@numba.njit(cache=True)
def _fen_add(tree, i, v):  # pragma: no cover - compiled
    n = len(tree) - 1
    while i <= n:
        tree[i] += v
        i += i & (-i)


@numba.njit(cache=True)
def _fen_sum(tree, i):  # pragma: no cover - compiled
    acc = 0.0
    while i > 0:
        acc += tree[i]
        i -= i & (-i)
    return acc


@numba.njit(cache=True)
def _censoring_km(starts, event, wrow):  # pragma: no cover - compiled
    """Reverse Kaplan-Meier G(t_k) at each distinct time, events leaving first (sksurv)."""
    n_groups = len(starts) - 1
    later = np.zeros(n_groups + 1)  # weight at times after group k
    for k in range(n_groups - 1, -1, -1):
        tot = 0.0
        for r in range(starts[k], starts[k + 1]):
            tot += wrow[r]
        later[k] = later[k + 1] + tot
    g = np.empty(n_groups)
    cur = 1.0
    for k in range(n_groups):
        c = 0.0
        for r in range(starts[k], starts[k + 1]):
            if not event[r]:
                c += wrow[r]
        if c != 0.0:
            cur = cur * (1.0 - c / (c + later[k + 1]))
        g[k] = cur
    return g


@numba.njit(cache=True)
def _concordance(starts, t_sorted, event, rank, row_unit, n_ranks, w, uno, tau):
    # pragma: no cover - compiled
    n_b = w.shape[0]
    n_rows = len(rank)
    n_groups = len(starts) - 1
    out = np.empty(n_b)
    tree = np.zeros(n_ranks + 1)
    wrow = np.empty(n_rows)
    for b in range(n_b):
        for r in range(n_rows):
            wrow[r] = w[b, row_unit[r]]
        factor = np.ones(n_groups)
        bad = False
        if uno:
            g = _censoring_km(starts, event, wrow)
            for k in range(n_groups):
                if t_sorted[starts[k]] >= tau:
                    factor[k] = 0.0
                elif g[k] > 0.0:
                    factor[k] = 1.0 / (g[k] * g[k])
                else:
                    # an event with positive weight where G is 0: undefined (sksurv raises)
                    for r in range(starts[k], starts[k + 1]):
                        if event[r] and wrow[r] > 0.0:
                            bad = True
                    factor[k] = 0.0
        tree[:] = 0.0
        total = 0.0
        num = 0.0
        den = 0.0
        for k in range(n_groups - 1, -1, -1):
            a, z = starts[k], starts[k + 1]
            # censored rows at t_k are comparable to the events at t_k
            for r in range(a, z):
                if not event[r] and wrow[r] != 0.0:
                    _fen_add(tree, rank[r], wrow[r])
                    total += wrow[r]
            for r in range(a, z):
                if event[r] and wrow[r] != 0.0:
                    wi = wrow[r] * factor[k]
                    less = _fen_sum(tree, rank[r] - 1)
                    upto = _fen_sum(tree, rank[r])
                    num += wi * (less + 0.5 * (upto - less))
                    den += wi * total
            for r in range(a, z):
                if event[r] and wrow[r] != 0.0:
                    _fen_add(tree, rank[r], wrow[r])
                    total += wrow[r]
        if bad or den <= 0.0:
            out[b] = np.nan
        else:
            out[b] = num / den
    return out


@numba.njit(cache=True)
def _placements(starts, event, rank, n_ranks):  # pragma: no cover - compiled
    """Unweighted per-row pair counts: as the event i (a_*) and as the partner j (b_*)."""
    n_rows = len(rank)
    n_groups = len(starts) - 1
    a_num = np.zeros(n_rows)
    a_den = np.zeros(n_rows)
    b_num = np.zeros(n_rows)
    b_den = np.zeros(n_rows)
    tree = np.zeros(n_ranks + 1)
    total = 0.0
    # as i: partners later in time (or censored at the same time); descending time
    for k in range(n_groups - 1, -1, -1):
        a, z = starts[k], starts[k + 1]
        for r in range(a, z):
            if not event[r]:
                _fen_add(tree, rank[r], 1.0)
                total += 1.0
        for r in range(a, z):
            if event[r]:
                less = _fen_sum(tree, rank[r] - 1)
                upto = _fen_sum(tree, rank[r])
                a_num[r] = less + 0.5 * (upto - less)
                a_den[r] = total
        for r in range(a, z):
            if event[r]:
                _fen_add(tree, rank[r], 1.0)
                total += 1.0
    # as j: events earlier in time (or at the same time, when j is censored); ascending
    tree[:] = 0.0
    total = 0.0
    for k in range(n_groups):
        a, z = starts[k], starts[k + 1]
        for r in range(a, z):
            if event[r]:
                upto = _fen_sum(tree, rank[r])
                less = _fen_sum(tree, rank[r] - 1)
                b_num[r] = (total - upto) + 0.5 * (upto - less)
                b_den[r] = total
        for r in range(a, z):
            if event[r]:
                _fen_add(tree, rank[r], 1.0)
                total += 1.0
        for r in range(a, z):
            if not event[r]:
                upto = _fen_sum(tree, rank[r])
                less = _fen_sum(tree, rank[r] - 1)
                b_num[r] = (total - upto) + 0.5 * (upto - less)
                b_den[r] = total
    return a_num, a_den, b_num, b_den


@numba.njit(cache=True)
def _within_unit_pairs(unit_starts, time, event, score):  # pragma: no cover - compiled
    n_units = len(unit_starts) - 1
    num = np.zeros(n_units)
    den = np.zeros(n_units)
    for u in range(n_units):
        for i in range(unit_starts[u], unit_starts[u + 1]):
            if not event[i]:
                continue
            for j in range(unit_starts[u], unit_starts[u + 1]):
                if i == j:
                    continue
                if time[i] < time[j] or (time[i] == time[j] and not event[j]):
                    den[u] += 1.0
                    if score[i] > score[j]:
                        num[u] += 1.0
                    elif score[i] == score[j]:
                        num[u] += 0.5
    return num, den


class HarrellC(Kernel):
    """Harrell's concordance index of a risk score (ties in score count 1/2)."""

    name = "harrell_c"
    kind = "survival"
    columns = ("time", "event", "score")
    higher_is_better = True
    _uno = False
    truncation: float | None = None
    _conventions = (
        "Harrell's C of a risk score (higher = earlier event): a pair is comparable when "
        "an event precedes the other's time, or an event and a censoring share a time; "
        "concordant when the event has the higher score; exactly tied scores count 1/2"
    )

    def _prepare(self, table: Table) -> tuple[Any, ...]:
        return _prepare(table)

    def _batch(self, table: Table, w: np.ndarray, prep: tuple[Any, ...]) -> np.ndarray:
        order, starts, t_sorted, event, rank, row_unit, n_ranks = prep
        tau = np.inf if self.truncation is None else float(self.truncation)
        return _concordance(
            starts, t_sorted, event, rank, row_unit, n_ranks,
            np.ascontiguousarray(w), self._uno, tau,
        )

    def _why_undefined(self, table: Table) -> str:
        event = np.asarray(table["event"], dtype=bool)
        return (
            f"undefined: no comparable pairs ({int(event.sum())} events among "
            f"{len(event)} rows; a pair needs an event before another row's time)"
        )

    def leave_one_out(self, table: Table) -> np.ndarray | None:
        """Exact C-index without each unit, ``O(n log n)`` (per-row pair counts)."""
        self._check_table(table)
        order, starts, t_sorted, event, rank, row_unit, n_ranks = _prepare(table)
        a_num, a_den, b_num, b_den = _placements(starts, event, rank, n_ranks)
        num = a_num.sum()
        den = a_den.sum()
        n = table.n_units
        u_num = np.bincount(row_unit, weights=a_num + b_num, minlength=n)
        u_den = np.bincount(row_unit, weights=a_den + b_den, minlength=n)
        loo_num = num - u_num
        loo_den = den - u_den
        if not table.one_row_per_unit:
            unit_starts = np.searchsorted(table.row_unit, np.arange(n + 1))
            wn, wd = _within_unit_pairs(
                unit_starts,
                np.asarray(table["time"], dtype=np.float64),
                np.asarray(table["event"], dtype=bool),
                np.asarray(table["score"], dtype=np.float64),
            )
            loo_num += wn
            loo_den += wd
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(loo_den > 0, loo_num / np.where(loo_den > 0, loo_den, 1.0), np.nan)


class UnoC(HarrellC):
    """Uno's IPCW concordance index (as ``sksurv.metrics.concordance_index_ipcw`` with the
    truth as both training and test data).

    The censoring distribution ``G`` is the reverse Kaplan-Meier estimate of the
    (weighted) rows themselves, events leaving the risk set before censorings at the same
    time; an event ``i`` counts with weight ``1 / G(T_i)^2``. ``truncation`` (tau): only
    events with ``T_i < tau`` count; None means no truncation (every event counts).
    Undefined (NaN, or an error for the plain metric) when a counted event has
    ``G(T_i) = 0``. There is no closed-form leave-one-out.
    """

    name = "uno_c"
    _uno = True

    def __init__(self, truncation: float | None = None) -> None:
        if truncation is not None and not truncation > 0:
            raise ValueError(f"`truncation` must be positive, got {truncation}")
        self.truncation = truncation

    @property
    def conventions(self) -> str:
        cut = (f"events at or after tau = {self.truncation!r} do not count"
               if self.truncation is not None else "no truncation: every event counts")
        return (
            "Uno's IPCW C of a risk score: Harrell's pairs, each event weighted by "
            "1/G(T)^2 with G the reverse Kaplan-Meier of the truth itself (events leave "
            f"the risk set before censorings at the same time); {cut}; tied scores count 1/2"
        )

    def _why_undefined(self, table: Table) -> str:
        base = super()._why_undefined(table)
        return (
            base + ", or the censoring survival function G is 0 at a counted event time "
            "(an event tied with the last censoring); a truncation time below it avoids that"
        )

    def leave_one_out(self, table: Table) -> None:
        return None
