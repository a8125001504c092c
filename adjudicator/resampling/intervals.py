"""Intervals, p-values by inversion, and the summary of a bootstrap."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from ..errors import ComputationError, DegenerateResamplingError
from ._common import (
    _ALTERNATIVES,
    _METHODS,
    CONVENTIONS,
    Alternative,
    Direction,
    Method,
)
from .engine import (
    Acceleration,
    Replicates,
    acceleration,
)

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
