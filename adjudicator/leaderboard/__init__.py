"""The public leaderboard: a public/private split, feedback that resists adaptive
overfitting, and final rankings with tie groups and rank intervals.

Everything here is pure: tables and numbers in, frozen objects out. The service stores
what it needs (the split, each team's sequence of public scores) and replays.

The split (:func:`split_units`)
    The sequestered units are split once, when the truth is committed, into a *public*
    part (the board reads only these) and a *private* part (the board never reads it).
    Within each stratum of ``task.strata`` the units are ordered by
    ``sha256(key + b"\\0" + unit id)``, with ``key`` the 32 bytes of the entropy of
    ``derive_seed(protocol.digest, "split" [+ "\\x1f" + secret], "leaderboard")``; the
    first ``k_s`` are public, where the ``k_s`` are ``public_fraction x n_s`` rounded by
    largest remainders so that they sum to ``round(public_fraction x n)`` (equal
    remainders: lower stratum code first). With ``thresholdout`` the first ``h_s`` public
    units of each stratum (same order, same rounding with ``holdout_fraction``) form the
    *holdout*; the other public units are the *train* side. Certification and the final
    rankings use the private part (``certify_on: private``) or every unit (``all``).

    Scores of a part are computed on the table *restricted* to its units (:func:`restrict`),
    never by weighting the other units zero: a metric with a data-dependent setting (Uno's
    C truncates at the largest observed time) would otherwise read the private part.

    The ``secret``: with ``secret=None`` the split and the Thresholdout noise follow from
    the public protocol digest alone, so every participant can compute which units are
    public and, worse, subtract the noise. The service draws a secret at registration,
    keeps it beside the truth, records ``sha256(secret)`` in the ledger and publishes the
    secret when the window closes, so that anyone can then replay the board.

Feedback mechanisms (:func:`mechanism`, :func:`replay`)
    A mechanism consumes the :class:`PublicScore` of each submission of one *sequence* (a
    team's submissions with ``scope: team``, every submission with ``scope: board``) and
    answers a :class:`Response`. Replaying a sequence gives the same responses, bit for bit.

    ``exact``: the public score rounded to ``resolution``. Adaptive submissions overfit
    it: the boosting attack (see the README) lifts a random predictor far above chance.

    ``ladder`` (Blum & Hardt 2015, Algorithm 1): the board holds ``R`` (initially none).
    A submission whose public score beats ``R`` by *more* than ``step`` (higher-is-better:
    ``score > R + step``; lower-is-better: ``score < R - step``; the first submission
    always) sets ``R = [score]_step``, the score rounded to the nearest multiple of the
    step; otherwise ``R`` stays. The board shows ``R``. Guarantee: see :func:`ladder_bound`.
    (The parameter-free variant of the paper is not implemented: ``step`` is required.)

    ``thresholdout`` (Dwork et al. 2015, *Science* 349:636): in a prediction challenge the
    service has no training set of the participant, so the public part is split in two:
    the *train* side, whose score plays the "training-side estimate" (what the board
    shows while it agrees with the holdout), and the *holdout*, reached only through the
    noisy comparison. With threshold ``T``, noise ``sigma`` and budget ``B``: ``T^ = T +
    Laplace(2 sigma)``; for each submission, while budget remains, draw ``eta ~
    Laplace(4 sigma)``; if ``|holdout - train| > T^ + eta`` the board shows ``holdout +
    Laplace(sigma)``, spends one unit of budget and redraws ``T^``; else it shows the train
    score. Shown values are rounded to ``resolution``; once the budget is spent nothing new
    is shown (``shown=None``). The private part never enters: it stays untouched for
    certification. The noise of submission ``i`` of a sequence comes from its own stream
    (:func:`feedback_seed`, block ``i``; block 0 draws the first ``T^``), three draws per
    submission whichever branch is taken, so a response depends only on the seed, the
    index and the scores. Guarantee: see :func:`thresholdout_bound`.

Final rankings (:func:`rank_entries`, :func:`rank_replicates`)
    Paired bootstrap: every entry is scored on the *same* resampled units of the
    certification part (stratified as the protocol says). For the leader ``L`` (best
    estimate; equal estimates: first name) and an entry ``j``, the bootstrap Bayes factor
    is ``K = #{b: L better than j} / #{b: j better than or equal to L}``, with "better"
    read in the metric's direction; ``K`` is infinite when the leader is better in every
    resample. Tie groups, in order: the best remaining entry leads a group that holds
    every remaining entry with ``K <= tie_bayes_factor`` against it (DREAM: 3), until none
    remain. A group's rank is 1 + the number of entries in better groups (competition
    ranking: 1, 1, 3). Rank intervals: in each resample an entry's rank is 1 + the number
    of entries strictly better in that resample (equal values share a rank); the interval
    is the 2.5% and 97.5% quantiles of those ranks (inverted empirical CDF: the smallest
    rank ``r`` with ``P(rank <= r) >= q``). Resamples in which any entry's metric is
    undefined are left out (the count is recorded).
"""

from __future__ import annotations

from ._common import ROLES, SPLIT_FORMAT
from .bounds import ladder_bound, thresholdout_bound
from .feedback import (
    Exact,
    Ladder,
    Response,
    Standing,
    Thresholdout,
    feedback_seed,
    mechanism,
    replay,
    standings,
)
from .ranking import RankedEntry, Ranking, rank_entries, rank_replicates
from .split import PublicScore, Split, certification_table, restrict, score_public, split_units

__all__ = [
    "ROLES",
    "SPLIT_FORMAT",
    "Split",
    "split_units",
    "restrict",
    "PublicScore",
    "score_public",
    "certification_table",
    "Response",
    "Exact",
    "Ladder",
    "Thresholdout",
    "feedback_seed",
    "mechanism",
    "replay",
    "Standing",
    "standings",
    "RankedEntry",
    "Ranking",
    "rank_replicates",
    "rank_entries",
    "ladder_bound",
    "thresholdout_bound",
]
