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

from .adjust import ADJUST_METHODS, adjust
from .online import GAMMA_CONSTANT, OnlineFDRResult, OnlineStep, gamma_sequence, online_fdr
from .spending import SPLIT_RULE, AlphaBudget, alpha_for, budget, spending_schedule

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
