"""The guarantees of the ladder and thresholdout mechanisms, as bounds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["ladder_bound", "thresholdout_bound"]

# -- guarantees ----------------------------------------------------------------------------


def _log_binomial(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _check_bound_args(**values: Any) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v):
            raise ValueError(f"`{name}` must be a finite number, got {v!r}")
    if not 0 < values["beta"] < 1:
        raise ValueError(f"`beta` must be in (0, 1), got {values['beta']}")


def ladder_bound(
    n: int,
    submissions: int,
    step: float,
    *,
    updates: int | None = None,
    beta: float = 0.05,
    score_range: float = 1.0,
) -> float:
    """Blum & Hardt's bound on the Ladder's leaderboard error, for a per-unit mean score.

    With probability at least ``1 - beta``, for *any* adaptive strategy of ``submissions``
    submissions, every value the board shows is within the returned bound of the
    population score of the submission it stands for. The score must be a mean over
    ``n`` units of per-unit values in an interval of width ``score_range`` (accuracy,
    Brier on hard labels: 1).

    The bound is the paper's argument (proof of its Theorem 3.1): the shown sequence is
    fixed by which submissions moved the board and the rounded values they showed, at most
    ``C(k, u) V**u`` transcripts for ``u`` moves among ``k`` submissions and ``V =
    ceil(range / step) + 2`` possible values; Hoeffding's inequality over the ``k`` scores
    of every transcript gives ``eps = range sqrt((ln C(k, u) + u ln V + ln(2 k / beta')) /
    (2 n))``, and rounding adds ``step / 2``. With ``updates=None`` the worst case ``u =
    ceil(range / step) + 1`` is taken (each move after the first gains more than a step)
    and ``beta' = beta``; with the observed number of moves, the bound holds jointly over
    every possible ``u`` (``beta' = beta / u_max``).
    """
    _check_bound_args(n=n, submissions=submissions, step=step, beta=beta,
                      score_range=score_range)
    if n < 1 or submissions < 1 or step <= 0 or score_range <= 0:
        raise ValueError("`n` and `submissions` must be positive, `step` and `score_range` > 0")
    u_max = math.ceil(score_range / step) + 1
    values = math.ceil(score_range / step) + 2
    if updates is None:
        u, b = min(u_max, submissions), beta
    else:
        if isinstance(updates, bool) or not isinstance(updates, int) or not 0 <= updates <= u_max:
            raise ValueError(f"`updates` must be an integer in [0, {u_max}], got {updates!r}")
        u, b = min(updates, submissions), beta / u_max
    log_t = _log_binomial(submissions, u) + u * math.log(values)
    eps = score_range * math.sqrt((log_t + math.log(2 * submissions / b)) / (2 * n))
    return step / 2 + eps


def thresholdout_bound(
    n_holdout: int,
    submissions: int,
    threshold: float,
    noise: float,
    budget: int,
    resolution: float,
    *,
    overs: int | None = None,
    beta: float = 0.05,
    score_range: float = 1.0,
) -> float:
    """A bound on Thresholdout's error, for a per-unit mean score (as :func:`ladder_bound`).

    With probability at least ``1 - beta``, every answer the board gives is within the
    returned bound of the population score of its submission. Assembled from the parts
    of Dwork et al.'s analysis (2015), with explicit constants:

    * answer versus holdout score: a train-side answer passed the test ``|holdout -
      train| <= T^ + eta``, so it is within ``T + |gamma| + |eta|`` of the holdout score; a
      holdout answer within ``|xi|``. Laplace tails with a union bound over the
      ``m = submissions`` draws (``beta / 4`` each for eta, gamma and xi) give ``T +
      4 sigma ln(4 m / beta) + 2 sigma ln(4 (m + 1) / beta)``, plus ``resolution / 2``.
    * holdout score versus population score, under adaptivity: the description-length
      bound (Dwork et al., NIPS 2015, "Generalization in adaptive data analysis and holdout
      reuse"): given the train side and the noise, the transcript is fixed by which ``b``
      submissions drew on the holdout and their rounded answers, at most ``C(m, b) G**b``
      transcripts with ``G = (range + 2 sigma ln(4 m / beta)) / resolution + 2``; Hoeffding
      over ``m`` scores each gives ``range sqrt((ln C(m, b) + b ln G + ln(2 m / beta')) /
      (2 n_holdout))`` with ``beta' = beta / 4``, over every ``b <= budget`` jointly
      (``beta / (4 (budget + 1))``) when ``overs`` (the observed ``b``) is given.

    The paper's own statement (``n >= O(ln(m / beta) sqrt(B) / tau**2)`` with ``sigma`` of
    order ``tau / ln(m / beta)``) hides its constants; this one is looser in ``b`` and
    explicit.
    """
    _check_bound_args(n_holdout=n_holdout, submissions=submissions, threshold=threshold,
                      noise=noise, budget=budget, resolution=resolution, beta=beta,
                      score_range=score_range)
    if min(n_holdout, submissions, budget) < 1 or min(threshold, noise, resolution,
                                                      score_range) <= 0:
        raise ValueError("counts must be positive and threshold, noise, resolution > 0")
    m = int(submissions)
    b_max = min(int(budget), m)
    l_eta = math.log(4 * m / beta)
    gap = threshold + 4 * noise * l_eta + 2 * noise * math.log(4 * (m + 1) / beta)
    grid = (score_range + 2 * noise * l_eta) / resolution + 2
    if overs is None:
        b, beta_gen = b_max, beta / 4
    else:
        if isinstance(overs, bool) or not isinstance(overs, int) or not 0 <= overs <= b_max:
            raise ValueError(f"`overs` must be an integer in [0, {b_max}], got {overs!r}")
        b, beta_gen = overs, beta / (4 * (b_max + 1))
    log_t = _log_binomial(m, b) + b * math.log(grid)
    eps = score_range * math.sqrt((log_t + math.log(2 * m / beta_gen)) / (2 * n_holdout))
    return gap + resolution / 2 + eps
