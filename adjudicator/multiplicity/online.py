"""Online FDR over an open stream of progress claims: LOND (any dependence) and LORD++.

See :mod:`adjudicator.multiplicity`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ..errors import MultiplicityError
from ..protocol import OnlineFDR
from .adjust import as_pvalues

__all__ = ["GAMMA_CONSTANT", "gamma_sequence", "OnlineStep", "OnlineFDRResult", "online_fdr"]

# -- online FDR ----------------------------------------------------------------------------

#: C of the gamma sequence (Javanmard and Montanari 2018, eq. 31; R onlineFDR's constant)
GAMMA_CONSTANT = "0.07720838"


@lru_cache(maxsize=1 << 20)
def _gamma(j: int) -> float:
    with localcontext() as ctx:
        ctx.prec = 40
        dj = Decimal(j)
        log_j = dj.ln() if j > 1 else Decimal(0)
        value = (
            Decimal(GAMMA_CONSTANT) * Decimal(max(j, 2)).ln() / (dj * log_j.sqrt().exp())
        )
        f = float(value)  # via the decimal string: correctly rounded
        if Decimal(f) > value:
            f = math.nextafter(f, 0.0)
        return f


def gamma_sequence(n: int) -> np.ndarray:
    """The first ``n`` terms of the standard decaying sequence gamma_1, gamma_2, ...

    Parameters
    ----------
    n
        How many terms (>= 0).

    Returns
    -------
    numpy.ndarray
        ``gamma_j = C log(max(j, 2)) / (j exp(sqrt(log j)))``, ``C = 0.07720838``, each
        rounded down to a double; the infinite sum is about 0.9763 <= 1.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise MultiplicityError(f"`n` must be an integer >= 0, got {n!r}")
    return np.array([_gamma(j) for j in range(1, int(n) + 1)], dtype=np.float64)


@dataclass(frozen=True)
class OnlineStep:
    """One test of the online stream.

    Attributes
    ----------
    t
        1-based position in the stream.
    pvalue
        Its p-value.
    alpha
        alpha_t, fixed by the decisions before t.
    rejected
        ``pvalue <= alpha``: a discovery (a progress claim accepted).
    wealth_before, wealth_after
        LORD++ wealth before paying alpha_t and after the reward, if any; ``None`` for LOND.
    """

    t: int
    pvalue: float
    alpha: float
    rejected: bool
    wealth_before: float | None
    wealth_after: float | None


@dataclass(frozen=True)
class OnlineFDRResult:
    """The replay of an online FDR procedure over the p-values so far.

    Attributes
    ----------
    procedure
        ``lord++`` or ``lond``.
    alpha
        The target FDR.
    initial_wealth
        LORD++ W0; ``None`` for LOND.
    steps
        One :class:`OnlineStep` per p-value, in stream order.
    next_alpha
        The level the next test will get: known before its p-value exists.
    wealth
        LORD++ wealth now (after the last step; W0 before any); ``None`` for LOND.
    """

    procedure: Literal["lord++", "lond"]
    alpha: float
    initial_wealth: float | None
    steps: tuple[OnlineStep, ...]
    next_alpha: float
    wealth: float | None

    @property
    def discoveries(self) -> int:
        """How many tests were rejected."""
        return sum(s.rejected for s in self.steps)

    @property
    def alphas(self) -> np.ndarray:
        """alpha_t of every step."""
        return np.array([s.alpha for s in self.steps], dtype=np.float64)

    @property
    def rejected(self) -> np.ndarray:
        """The decisions, as booleans."""
        return np.array([s.rejected for s in self.steps], dtype=bool)


def online_fdr(pvalues: Any, config: OnlineFDR | None) -> OnlineFDRResult:
    """Replay LORD++ or LOND over the p-values of a stream, in arrival order.

    Parameters
    ----------
    pvalues
        One-dimensional sequence of p-values in [0, 1], in the order the tests arrived;
        may be empty (nothing tested yet: the result gives the first level).
    config
        The protocol's ``multiplicity.online_fdr`` block (procedure, alpha,
        initial_wealth).

    Returns
    -------
    OnlineFDRResult
        Per test: alpha_t, decision and (LORD++) wealth; and the next test's level.
        Pure: the same p-values give the same result, and a prefix gives a prefix.

    Raises
    ------
    InputError
        The p-values are not one-dimensional numbers in [0, 1].
    MultiplicityError
        No online FDR block, or a LORD++ initial wealth outside (0, alpha].
    """
    if config is None:
        raise MultiplicityError(
            "the protocol has no multiplicity.online_fdr block: online FDR was not "
            "preregistered"
        )
    p = as_pvalues(pvalues)
    alpha = config.alpha
    if config.procedure == "lond":
        return _lond(p, alpha)
    w0 = alpha / 2 if config.initial_wealth is None else config.initial_wealth
    if not 0 < w0 <= alpha:
        raise MultiplicityError(
            f"`initial_wealth` must be in (0, alpha = {alpha}], got {w0}"
        )
    return _lord_plus_plus(p, alpha, w0)


def _lond(p: np.ndarray, alpha: float) -> OnlineFDRResult:
    steps: list[OnlineStep] = []
    discoveries = 0
    harmonic = _Harmonic()

    def level(t: int, h: float) -> float:
        # alpha (gamma_t / H_t) (D + 1)
        return alpha * (_gamma(t) / h) * (discoveries + 1)

    for t, pt in enumerate(p.tolist(), start=1):
        a = level(t, harmonic.next())
        rejected = pt <= a
        steps.append(OnlineStep(t, pt, a, rejected, None, None))
        discoveries += rejected
    next_alpha = level(len(steps) + 1, harmonic.peek())
    return OnlineFDRResult("lond", alpha, None, tuple(steps), next_alpha, None)


class _Harmonic:
    """H_1, H_2, ... by Neumaier-compensated summation: within an ulp or two of the exact
    harmonic number, in IEEE arithmetic only (the same bits on every platform), O(1) a
    term where exact fractions would grow without bound."""

    def __init__(self) -> None:
        self.t, self.total, self.carry = 0, 0.0, 0.0

    def _add(self, total: float, carry: float, x: float) -> tuple[float, float]:
        s = total + x
        if abs(total) >= abs(x):
            carry += (total - s) + x
        else:
            carry += (x - s) + total
        return s, carry

    def next(self) -> float:
        self.t += 1
        self.total, self.carry = self._add(self.total, self.carry, 1.0 / self.t)
        return self.total + self.carry

    def peek(self) -> float:
        total, carry = self._add(self.total, self.carry, 1.0 / (self.t + 1))
        return total + carry


def _lord_plus_plus(p: np.ndarray, alpha: float, w0: float) -> OnlineFDRResult:
    steps: list[OnlineStep] = []
    taus: list[int] = []  # times of the discoveries
    # W0, minus every alpha_t paid, plus every reward earned: kept exactly (doubles are
    # dyadic rationals) and rounded once when reported, like math.fsum of the ledger
    wealth = Fraction(w0)

    def level(t: int) -> float:
        terms = [w0 * _gamma(t)]
        if taus:
            terms.append((alpha - w0) * _gamma(t - taus[0]))
            terms.extend(alpha * _gamma(t - tau) for tau in taus[1:])
        return math.fsum(terms)

    for t, pt in enumerate(p.tolist(), start=1):
        a = level(t)
        before = float(wealth)
        wealth -= Fraction(a)
        rejected = pt <= a
        if rejected:
            wealth += Fraction(alpha) - (Fraction(w0) if not taus else 0)
            taus.append(t)
        steps.append(OnlineStep(t, pt, a, rejected, before, float(wealth)))
    next_alpha = level(len(steps) + 1)
    return OnlineFDRResult("lord++", alpha, w0, tuple(steps), next_alpha, float(wealth))
