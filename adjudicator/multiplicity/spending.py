"""Alpha spending over a submission sequence: alpha_k fixed before scoring, exact sums.

See :mod:`adjudicator.multiplicity` for the rules and their guarantees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ..errors import MultiplicityError
from ..protocol import Multiplicity

__all__ = ["SPLIT_RULE", "AlphaBudget", "alpha_for", "budget", "spending_schedule"]

#: How alpha_k is shared between the criteria of one submission (see the module docstring).
SPLIT_RULE = "intersection-union"

# 6 / pi^2 truncated after 40 decimals: a lower bound (the test re-derives it from Machin's
# formula). 6/pi^2 = 0.60792710185402662866327677925836583342615264803347...
_SIX_OVER_PI2_LOWER = Fraction(6079271018540266286632767792583658334261, 10**40)

# bits kept by the fixed-point lower bound of r^n
_POW_BITS = 160


# -- alpha spending ------------------------------------------------------------------------


@dataclass(frozen=True)
class AlphaBudget:
    """The alpha of one submission of a family, as the verdict uses and reports it.

    Attributes
    ----------
    family
        ``team`` or ``challenge`` (protocol ``multiplicity.family``).
    rule
        The spending rule.
    alpha
        The family-wise error rate of the whole family.
    sequence
        k, the 1-based number of this submission in its family.
    max_submissions
        The last k that may be adjudicated.
    alpha_k
        The level every frequentist criterion of this submission is tested at.
    spent_before
        ``alpha_1 + ... + alpha_{k-1}`` (correctly rounded sum).
    remaining
        ``alpha - (alpha_1 + ... + alpha_k)`` (correctly rounded, never negative).
    split
        Always ``"intersection-union"``: no criterion gets less than ``alpha_k``.
    """

    family: Literal["team", "challenge"]
    rule: Literal["bonferroni", "geometric", "p-series", "list"]
    alpha: float
    sequence: int
    max_submissions: int
    alpha_k: float
    spent_before: float
    remaining: float
    split: str = SPLIT_RULE

    def criterion_alpha(self, kind: Literal["absolute", "baseline", "bayes"]) -> float | None:
        """The level a criterion of this submission is tested at.

        Parameters
        ----------
        kind
            ``absolute`` (the threshold), ``baseline`` (any baseline) or ``bayes`` (the
            Bayesian comparison).

        Returns
        -------
        float or None
            ``alpha_k`` for every frequentist criterion (intersection-union test: the
            criteria all share the full alpha_k, none is split off); ``None`` for the
            Bayesian criterion, which is decided by ``bayes.min_probability``, not alpha.
        """
        if kind in ("absolute", "baseline"):
            return self.alpha_k
        if kind == "bayes":
            return None
        raise MultiplicityError(
            f"`kind` must be one of absolute, baseline, bayes, got {kind!r}"
        )


def alpha_for(multiplicity: Multiplicity, k: int) -> float:
    """The level alpha_k of submission ``k`` of a family.

    Parameters
    ----------
    multiplicity
        The protocol's ``multiplicity`` block.
    k
        The 1-based sequence number of the submission in its family.

    Returns
    -------
    float
        alpha_k; the exact sum of alpha_1..alpha_M never exceeds ``multiplicity.alpha``.

    Raises
    ------
    MultiplicityError
        ``k`` is not an integer >= 1, or is past ``max_submissions``.
    """
    _check_k(multiplicity, k)
    return _alpha_k(_key(multiplicity), int(k))


def budget(multiplicity: Multiplicity, k: int) -> AlphaBudget:
    """Everything the verdict needs about the alpha of submission ``k``.

    Parameters
    ----------
    multiplicity
        The protocol's ``multiplicity`` block.
    k
        The 1-based sequence number of the submission in its family.

    Returns
    -------
    AlphaBudget
        ``alpha_k``, what was spent before, what remains, and the split rule; call
        :meth:`AlphaBudget.criterion_alpha` for each criterion.
    """
    _check_k(multiplicity, k)
    k = int(k)
    key = _key(multiplicity)
    alphas = [_alpha_k(key, j) for j in range(1, k + 1)]
    spent_before = math.fsum(alphas[:-1])
    remaining = max(0.0, float(Fraction(multiplicity.alpha) - _exact_sum(alphas)))
    return AlphaBudget(
        family=multiplicity.family,
        rule=multiplicity.rule,
        alpha=multiplicity.alpha,
        sequence=k,
        max_submissions=multiplicity.max_submissions,
        alpha_k=alphas[-1],
        spent_before=spent_before,
        remaining=remaining,
    )


def spending_schedule(multiplicity: Multiplicity, n: int | None = None) -> tuple[float, ...]:
    """alpha_1, ..., alpha_n, for reports and for a committee checking a protocol.

    Parameters
    ----------
    multiplicity
        The protocol's ``multiplicity`` block.
    n
        How many submissions; default ``max_submissions``. Must be in
        [0, max_submissions].

    Returns
    -------
    tuple of float
        ``alpha_k`` for k = 1..n; ``math.fsum`` of any prefix is at most alpha.
    """
    m = multiplicity.max_submissions
    if n is None:
        n = m
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise MultiplicityError(f"`n` must be an integer >= 0, got {n!r}")
    if n > m:
        raise MultiplicityError(
            f"`n` is {n}, past max_submissions {m}: the schedule ends at submission {m}"
        )
    key = _key(multiplicity)
    return tuple(_alpha_k(key, k) for k in range(1, int(n) + 1))


def _check_k(multiplicity: Multiplicity, k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MultiplicityError(
            f"`k` (the submission's sequence number) must be an integer >= 1, got {k!r}"
        )
    m = multiplicity.max_submissions
    if k > m:
        raise MultiplicityError(
            f"submission {k} of this {multiplicity.family} family is refused: the protocol "
            f"allows max_submissions {m}, and alpha {multiplicity.alpha} is budgeted over "
            f"submissions 1..{m} only"
        )


_Key = tuple[str, float, float | None, tuple[float, ...] | None, int]


def _key(multiplicity: Multiplicity) -> _Key:
    return (
        multiplicity.rule,
        multiplicity.alpha,
        multiplicity.ratio,
        multiplicity.alphas,
        multiplicity.max_submissions,
    )


@lru_cache(maxsize=65536)
def _alpha_k(key: _Key, k: int) -> float:
    rule, alpha, ratio, alphas, m = key
    a = Fraction(alpha)
    if rule == "bonferroni":
        return _round_down(a / m)
    if rule == "geometric":
        r = Fraction(0.5 if ratio is None else ratio)
        return _round_down(a * (1 - r) * _pow_lower(r, k - 1))
    if rule == "p-series":
        return _round_down(a * _SIX_OVER_PI2_LOWER / (k * k))
    if rule == "list":
        assert alphas is not None  # the protocol guarantees it
        scale = _list_scale(alpha, alphas[:m])
        value = Fraction(alphas[k - 1])
        return float(alphas[k - 1]) if scale is None else _round_down(value * scale)
    raise MultiplicityError(f"unknown spending rule {rule!r}")  # pragma: no cover


@lru_cache(maxsize=256)
def _list_scale(alpha: float, alphas: tuple[float, ...]) -> Fraction | None:
    # None: the preregistered doubles already sum to at most alpha, exactly
    total = _exact_sum(alphas)
    if total <= Fraction(alpha):
        return None
    return Fraction(alpha) / total


def _exact_sum(values: Sequence[float]) -> Fraction:
    # doubles are dyadic rationals: add them as integers over a common power of two
    parts = [float(v).as_integer_ratio() for v in values]
    if not parts:
        return Fraction(0)
    den = max(d for _, d in parts)
    return Fraction(sum(n * (den // d) for n, d in parts), den)


def _round_down(x: Fraction) -> float:
    """The largest double <= x (x >= 0)."""
    f = float(x)  # int / int true division: correctly rounded
    if Fraction(f) > x:
        f = math.nextafter(f, 0.0)
    return f


def _pow_lower(r: Fraction, n: int) -> Fraction:
    """A lower bound of r**n (0 < r < 1) within a relative 2^-150, in fixed point."""
    num, den = r.numerator, r.denominator  # den is a power of two (r is a double)
    shift = den.bit_length() - 1
    result_m, result_s = 1, 0  # value = m * 2**-s
    base_m, base_s = num, shift
    while n:
        if n & 1:
            result_m, result_s = _mul_down(result_m, result_s, base_m, base_s)
        n >>= 1
        if n:
            base_m, base_s = _mul_down(base_m, base_s, base_m, base_s)
    return Fraction(result_m, 1 << result_s) if result_s >= 0 else Fraction(result_m << -result_s)


def _mul_down(am: int, as_: int, bm: int, bs: int) -> tuple[int, int]:
    m, s = am * bm, as_ + bs
    excess = m.bit_length() - _POW_BITS
    if excess > 0:  # truncate: rounds towards zero, so the result stays a lower bound
        m >>= excess
        s -= excess
    return m, s
