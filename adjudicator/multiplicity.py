"""Multiplicity: alpha per submission, batch adjustment, online FDR over an open stream.

Three tools for three questions.

**Alpha spending over a submission sequence** (:func:`alpha_for`, :func:`budget`,
:func:`spending_schedule`). Submission ``k`` of a family (``team``: that team's own
sequence; ``challenge``: every submission in arrival order) is tested at its own
``alpha_k``, fixed by the preregistered rule before anything is scored:

==============  ==============================================  ====================
rule            alpha_k                                         sum over k = 1..M
==============  ==============================================  ====================
``bonferroni``  alpha / M                                       alpha
``geometric``   alpha (1 - r) r^(k-1)                           alpha (1 - r^M)
``p-series``    alpha 6 / (pi^2 k^2)                            < alpha
``list``        the preregistered alphas[k-1]                   <= alpha
==============  ==============================================  ====================

with ``M = max_submissions``; submission ``M + 1`` is refused (:class:`MultiplicityError`):
there is no alpha left to spend. The chance that a family certifies *any* entry that does
not truly meet its criteria is at most ``sum_k alpha_k <= alpha`` by the union bound, which
holds under *any* dependence between the submissions. That matters here: variants of one
model scored on one sequestered test set give strongly dependent p-values, and the union
bound is the one guarantee that needs no model of that dependence.

*Floating point.* "The sum never exceeds alpha" holds exactly, not up to rounding: every
``alpha_k`` is the largest double not above (a lower bound of) its exact real value,
computed in integer and rational arithmetic (``r^(k-1)`` by square-and-multiply in 160-bit
fixed point rounded down; ``6/pi^2`` by a 40-digit lower bound), so the exact sum of the
doubles never exceeds the exact sum of the formula, which is at most alpha. The same
arithmetic makes ``alpha_k`` bit-identical on every platform (no libm ``pow``). A
preregistered ``list`` whose doubles sum to slightly more than alpha (the protocol allows a
relative 1e-12, so that ``[0.1, 0.1, 0.1]`` with ``alpha: 0.3`` is accepted) is scaled down
proportionally, by at most that relative 1e-12, so that it, too, sums to at most alpha. A
very long geometric sequence can reach ``alpha_k == 0.0`` (below the smallest double): such
a submission cannot certify, which is what its real alpha_k (< 5e-324) would say anyway.

**How alpha_k is split between the criteria of one submission: it is not.** An entry is
certified only if *every* preregistered criterion passes: the absolute threshold
(H0: theta <= tau), each baseline (H0_b: theta - theta_b <= margin_b) and the Bayesian
comparison. The null hypothesis "the entry does not deserve certification" is the *union*
of the criterion nulls, and certification rejects it only when every one of them is
rejected. This is an intersection-union test (Berger 1982; Berger and Hsu 1996): if each
frequentist criterion is tested at level alpha_k, the IUT has size at most alpha_k, with no
Bonferroni split, because under any point of the union null at least one true criterion
null must be (wrongly) rejected, and that happens with probability at most alpha_k. So every
frequentist criterion of submission k is tested at the full ``alpha_k``
(:meth:`AlphaBudget.criterion_alpha`). The Bayesian criterion has no alpha (it passes when
P(difference > margin) >= ``bayes.min_probability``); as one more condition that must hold,
it can only lower the chance of certifying, never raise it. The price of the IUT is that it
can be conservative when several criteria sit exactly at their bounds at once; that errs on
the side the committee cares about.

**Batch adjustment** (:func:`adjust`) for an end-of-challenge family: Bonferroni, Sidak,
Holm, Hochberg, Hommel, Benjamini-Hochberg, Benjamini-Yekutieli through
``statsmodels.stats.multitest.multipletests``; the adjusted p-values equal R's
``p.adjust`` (tests: the published vectors statsmodels tests itself against).

**Online FDR** (:func:`online_fdr`) for *progress claims* over an open-ended stream, where a
funder wants "the field improved" claims with a controlled false discovery rate rather than
a family-wise bound that shrinks every test towards zero. The level of test t depends only
on the decisions before t, so it is fixed before the p-value arrives
(:attr:`OnlineFDRResult.next_alpha`), and a result is a pure function of the p-values so
far: replaying a prefix gives a prefix.

- ``lord++``: LORD++ (Ramdas, Yang, Wainwright and Jordan 2017, "Online control of the false
  discovery rate with decaying memory", NeurIPS; LORD of Javanmard and Montanari 2018),
  ``alpha_t = W0 gamma_t + (alpha - W0) gamma_{t - tau_1} + alpha sum_{j >= 2}
  gamma_{t - tau_j}`` with ``tau_j`` the time of the j-th discovery. Wealth starts at
  ``W0`` (protocol ``initial_wealth``, default alpha/2), pays ``alpha_t`` for every test
  and earns ``alpha - W0`` for the first discovery, ``alpha`` for each later one; the
  reports show it. FDR <= alpha when the null p-values are independent of each other and
  of the non-nulls.
- ``lond``: LOND (Javanmard and Montanari 2015; 2018, Annals of Statistics 46(2):526-554)
  *in its version for arbitrary dependence*: ``alpha_t = alpha (gamma_t / H_t)
  (D(t-1) + 1)`` with ``D(t-1)`` the discoveries before t and ``H_t = sum_{i<=t} 1/i`` the
  t-th harmonic number, the Benjamini-Yekutieli style reshaping that makes LOND valid
  whatever the dependence (the dependent-p-value modification of Javanmard and Montanari
  2018; reshaping functions in general: Zrnic, Ramdas and Jordan 2021, "Asynchronous
  online testing of multiple hypotheses", JMLR 22). The reference implementation is R's
  ``onlineFDR::LOND(dep = TRUE)``, whose ``betai / cumsum(1 / seq_len(N))`` this is. The
  independence-only LOND is not offered. This is the one to use when every submission is
  scored on the same test set.

Both use the standard decaying sequence ``gamma_j = C log(max(j, 2)) / (j exp(sqrt(log
j)))`` of Javanmard and Montanari (2018, eq. 31) with ``C = 0.07720838``, the constant of
``onlineFDR``. The infinite sum of this sequence is about 0.9763, below the 1 the proofs
need (the test computes the partial sum and a closed-form bound of the tail); the gammas
are computed with :mod:`decimal` (correctly rounded ``ln``/``exp``/``sqrt``) and rounded
down to doubles, so they too are identical on every platform. The 2.4% the gammas leave
unspent dwarfs the few ulps by which a level alpha_t computed in doubles can round up.

**Why no group-sequential (Lan-DeMets) boundaries.** Lan-DeMets alpha-spending functions
(O'Brien-Fleming or Pocock type) control the error of repeated looks at *accumulating*
data: each interim analysis adds fresh, independent observations, the statistics follow the
canonical joint distribution with correlation sqrt(t_i / t_j) in information time, and the
boundaries are computed from exactly that joint distribution. Re-scoring new entries on one
fixed sequestered test set has none of this: the data never grow, there is no information
time, and the correlation between two submissions' statistics depends on how similar the
two models are, which nobody preregisters. Boundaries computed from the canonical joint
distribution would then control nothing in particular. The spending rules above rely on the
union bound alone, which needs no joint distribution, and are the ones we offer.

Errors. Problems with p-values given to :func:`adjust` or :func:`online_fdr` (NaN, out of
[0, 1], empty, not one-dimensional, unknown method) raise
:class:`~adjudicator.errors.InputError` (a ``ValueError``; exit status 2): they are input
that came from outside the statistics. Alpha that cannot be spent (a submission past
``max_submissions``, a sequence number below 1, a protocol without an ``online_fdr`` block)
raises :class:`~adjudicator.errors.MultiplicityError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from .errors import InputError, MultiplicityError
from .protocol import Multiplicity, OnlineFDR

__all__ = [
    "SPLIT_RULE",
    "AlphaBudget",
    "alpha_for",
    "budget",
    "spending_schedule",
    "ADJUST_METHODS",
    "adjust",
    "GAMMA_CONSTANT",
    "gamma_sequence",
    "OnlineStep",
    "OnlineFDRResult",
    "online_fdr",
]

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


# -- batch adjustment ----------------------------------------------------------------------

#: our method name -> the name statsmodels' ``multipletests`` takes (R ``p.adjust`` name)
ADJUST_METHODS: dict[str, str] = {
    "bonferroni": "bonferroni",  # R "bonferroni"
    "sidak": "sidak",  # (R: multtest "SidakSS")
    "holm": "holm",  # R "holm"
    "hochberg": "simes-hochberg",  # R "hochberg"
    "hommel": "hommel",  # R "hommel"
    "fdr_bh": "fdr_bh",  # R "BH" / "fdr"
    "fdr_by": "fdr_by",  # R "BY"
}


def adjust(pvalues: Any, method: str = "holm") -> np.ndarray:
    """Adjusted p-values of a batch of hypotheses (an end-of-challenge family).

    Parameters
    ----------
    pvalues
        One-dimensional, non-empty sequence of p-values in [0, 1].
    method
        ``bonferroni``, ``sidak``, ``holm`` (the default, as in R), ``hochberg``,
        ``hommel``, ``fdr_bh`` (Benjamini-Hochberg) or ``fdr_by``
        (Benjamini-Yekutieli), the names of statsmodels' ``multipletests``.

    Returns
    -------
    numpy.ndarray
        The adjusted p-values, float64, in the order of the input; equal to R's
        ``p.adjust`` (``sidak``: to multtest's single-step Sidak). Reject hypothesis i at
        level alpha when ``adjusted[i] <= alpha``.

    Raises
    ------
    InputError
        Unknown method; p-values empty, not one-dimensional, not numbers, NaN or outside
        [0, 1].
    """
    # the single validation step, then trust the inputs (STYLE 3)
    if not isinstance(method, str) or method not in ADJUST_METHODS:
        raise InputError(
            f"`method` must be one of {', '.join(ADJUST_METHODS)}, got {method!r}"
        )
    p = _pvalues(pvalues)
    if p.size == 0:
        raise InputError("`pvalues` is empty: there is nothing to adjust")
    # statsmodels is imported here: the spending rules and online FDR do not need it
    from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]

    with np.errstate(divide="ignore"):  # sidak at p = 1: log1p(-1) = -inf, correctly 1
        adjusted = multipletests(p, alpha=0.05, method=ADJUST_METHODS[method])[1]
    return np.asarray(adjusted, dtype=np.float64)


def _pvalues(pvalues: Any) -> np.ndarray:
    try:
        p = np.asarray(pvalues)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`pvalues` must be a sequence of numbers: {exc}") from exc
    if p.ndim != 1:
        raise InputError(f"`pvalues` must be one-dimensional, got shape {p.shape}")
    if p.size == 0:
        return p.astype(np.float64)
    if p.dtype == np.bool_ or not (
        np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer)
    ):
        raise InputError(f"`pvalues` must be numbers, got values of type {p.dtype}")
    p = p.astype(np.float64)
    nan = np.flatnonzero(np.isnan(p))
    if nan.size:
        raise InputError(
            f"`pvalues[{nan[0]}]` is NaN: every p-value must be a number in [0, 1] "
            f"({nan.size} NaN in all)"
        )
    bad = np.flatnonzero((p < 0) | (p > 1))
    if bad.size:
        raise InputError(
            f"`pvalues[{bad[0]}]` is {float(p[bad[0]])!r}: every p-value must be in [0, 1]"
        )
    return p


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
    p = _pvalues(pvalues)
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
