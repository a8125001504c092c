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

import abc
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import Truth
from .errors import DegenerateResamplingError, InputError, ProtocolError
from .metrics import get_kernel
from .protocol import Leaderboard, Protocol
from .resampling import bootstrap, derive_seed
from .table import Table

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

#: format marker of the canonical text the split digest is taken of
SPLIT_FORMAT = "adjudicator-leaderboard-split/v1"
#: unit roles, by code: private (never read by the board), public (train side under
#: thresholdout), holdout (public, thresholdout only)
ROLES = ("private", "public", "holdout")
_PRIVATE, _PUBLIC, _HOLDOUT = 0, 1, 2
_PURPOSE = "leaderboard"
#: truth columns of the scored table by kind (entries ranked together must share them)
_TRUTH_COLUMNS = {"binary": ("y",), "survival": ("time", "event"), "regression": ("y",),
                  "sets": ("n_true",), "scores": ()}


def _board(protocol: Protocol) -> Leaderboard:
    if not isinstance(protocol, Protocol):
        raise TypeError(f"`protocol` must be a Protocol, got {type(protocol).__name__}")
    if protocol.leaderboard is None:
        raise ProtocolError(
            f"protocol {protocol.id!r} has no leaderboard block: it preregisters no public board"
        )
    return protocol.leaderboard


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or any(ord(c) < 32 for c in value):
        raise ValueError(f"`{name}` must be a non-empty string without control characters")
    return value


def _seed(protocol: Protocol, what: str, secret: str | None) -> np.random.SeedSequence:
    if secret is not None:
        what = what + "\x1f" + _check_text("secret", secret)
    return derive_seed(protocol.digest, what, _PURPOSE)


# -- the split ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Split:
    """The public/private split of the sequestered units of one protocol.

    Attributes
    ----------
    protocol_digest
        The protocol it was drawn for.
    units
        Unit ids, sorted (the order of :attr:`adjudicator.table.Table.units`).
    roles
        Per unit, an index into :data:`ROLES`.
    certify_on
        ``private`` or ``all`` (the protocol's ``leaderboard.certify_on``).
    digest
        ``sha256:`` of the canonical JSON ``{"format", "protocol", "roles": {role: sorted
        unit ids}}``: what the ledger records.
    secret
        True when a secret was mixed into the seed (see the module docstring).
    """

    protocol_digest: str
    units: np.ndarray
    roles: np.ndarray
    certify_on: str
    digest: str
    secret: bool

    def __post_init__(self) -> None:
        self.units.setflags(write=False)
        self.roles.setflags(write=False)

    @property
    def public(self) -> np.ndarray:
        """Mask of the units the board reads (train side and holdout)."""
        mask: np.ndarray = self.roles != _PRIVATE
        return mask

    @property
    def train(self) -> np.ndarray:
        """Mask of the public units outside the holdout."""
        mask: np.ndarray = self.roles == _PUBLIC
        return mask

    @property
    def holdout(self) -> np.ndarray:
        """Mask of the thresholdout holdout (empty for the other mechanisms)."""
        mask: np.ndarray = self.roles == _HOLDOUT
        return mask

    @property
    def private(self) -> np.ndarray:
        """Mask of the units the board never reads."""
        mask: np.ndarray = self.roles == _PRIVATE
        return mask

    @property
    def certification(self) -> np.ndarray:
        """Mask of the units certification and final rankings use."""
        if self.certify_on == "private":
            return self.private
        return np.ones(len(self.units), dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """Counts and digest (never the unit ids), for results and the ledger."""
        counts = np.bincount(self.roles, minlength=len(ROLES))
        return {
            "format": SPLIT_FORMAT,
            "digest": self.digest,
            "protocol": self.protocol_digest,
            "units": {role: int(c) for role, c in zip(ROLES, counts, strict=True)},
            "certify_on": self.certify_on,
            "secret": self.secret,
        }


def _largest_remainder(sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Integers ``k_s <= sizes`` near ``fraction * sizes`` summing to round(fraction * n)."""
    quota = fraction * sizes
    k = np.floor(quota).astype(np.int64)
    target = int(math.floor(fraction * int(sizes.sum()) + 0.5))
    left = target - int(k.sum())
    if left > 0:
        # largest fractional part first; equal parts: lower stratum code first (stable sort)
        order = np.argsort(-(quota - k), kind="stable")
        k[order[:left]] += 1
    out: np.ndarray = np.minimum(k, sizes)
    return out


def split_units(protocol: Protocol, truth: Truth, *, secret: str | None) -> Split:
    """Split the units of ``truth`` into the roles of :data:`ROLES` (module docstring).

    Deterministic: the same protocol, unit ids, strata and secret give the same split,
    whatever the order of the truth file. Pass ``secret=None`` only where the split may
    be public (demos, tests).

    Raises
    ------
    ProtocolError
        When the protocol has no leaderboard block.
    InputError
        When ``truth`` was read for another protocol, or a part would be empty.
    """
    board = _board(protocol)
    if not isinstance(truth, Truth):
        raise TypeError(f"`truth` must be a Truth, got {type(truth).__name__}")
    if truth.protocol_digest != protocol.digest:
        raise InputError("the truth was read for another protocol; read it again for this one",
                         source=truth.source)
    # the sorted unit ids and per-unit stratum codes, exactly as adjudicator.data builds
    # them for every Table joined with this truth (Truth has no public accessor for them)
    units = np.unique(truth._rows["_unit"].to_numpy().astype(str))
    strata = (np.zeros(len(units), np.int64) if truth._strata is None
              else np.asarray(truth._strata, dtype=np.int64))
    entropy = _seed(protocol, "split", secret).entropy
    assert isinstance(entropy, int)  # derive_seed gives a 256-bit integer
    key = entropy.to_bytes(32, "big") + b"\0"
    rank_key = np.array([hashlib.sha256(key + u.encode("utf-8")).digest() for u in units],
                        dtype=object)
    sizes = np.bincount(strata)
    public_k = _largest_remainder(sizes, board.public_fraction)
    fb = board.feedback
    holdout_k = (_largest_remainder(public_k, fb.holdout_fraction)
                 if fb.mechanism == "thresholdout" and fb.holdout_fraction is not None
                 else np.zeros_like(public_k))
    roles = np.full(len(units), _PRIVATE, dtype=np.int8)
    for s in np.flatnonzero(sizes):
        members = np.flatnonzero(strata == s)
        ordered = members[sorted(range(len(members)), key=lambda i: rank_key[members[i]])]
        roles[ordered[: public_k[s]]] = _PUBLIC
        roles[ordered[: holdout_k[s]]] = _HOLDOUT
    counts = np.bincount(roles, minlength=len(ROLES))
    needed = ROLES if fb.mechanism == "thresholdout" else ROLES[:2]
    empty = [r for r in needed if counts[ROLES.index(r)] == 0]
    if empty:
        raise InputError(
            f"{len(units)} units leave the {' and '.join(empty)} part empty with "
            f"public_fraction {board.public_fraction}", source=truth.source,
        )
    listing = {role: sorted(units[roles == i].tolist()) for i, role in enumerate(ROLES)}
    text = json.dumps({"format": SPLIT_FORMAT, "protocol": protocol.digest, "roles": listing},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Split(protocol.digest, units, roles, board.certify_on, digest, secret is not None)


def restrict(table: Table, mask: np.ndarray) -> Table:
    """The table of the units where ``mask`` (one bool per unit) is True, and nothing else.

    Rows, strata and unit ids of the other units are dropped (not weighted zero), and so is
    ``meta`` (the truth summary counts every unit).
    """
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (table.n_units,):
        raise ValueError(f"`mask` must be {table.n_units} booleans, one per unit")
    rows = mask[table.row_unit]
    new_index = np.cumsum(mask) - 1
    return Table(
        kind=table.kind,
        units=table.units[mask].copy(),
        row_unit=new_index[table.row_unit[rows]],
        columns={name: col[rows].copy() for name, col in table.columns.items()},
        strata=None if table.strata is None else table.strata[mask].copy(),
        meta={},  # the truth summary describes every unit: it does not travel with a part
    )


def _check_table(split: Split, table: Table, what: str = "table") -> None:
    if not isinstance(table, Table):
        raise TypeError(f"`{what}` must be a Table, got {type(table).__name__}")
    if not np.array_equal(table.units, split.units):
        raise InputError(
            f"the {what} holds other units than the split: score it against the truth the "
            "split was drawn from"
        )


def _check_split(protocol: Protocol, split: Split) -> None:
    if not isinstance(split, Split):
        raise TypeError(f"`split` must be a Split, got {type(split).__name__}")
    if split.protocol_digest != protocol.digest:
        raise InputError("the split was drawn for another protocol")


@dataclass(frozen=True)
class PublicScore:
    """What the board may read of one submission: its metric on public units only.

    Attributes
    ----------
    public
        The metric on every public unit (exact and ladder).
    train, holdout
        Thresholdout only: the metric on the public units outside the holdout and on the
        holdout; None otherwise.
    """

    public: float
    train: float | None = None
    holdout: float | None = None


def score_public(protocol: Protocol, split: Split, table: Table) -> PublicScore:
    """The public scores of a scored table; the private units are not even passed on."""
    _board(protocol)
    _check_split(protocol, split)
    _check_table(split, table)
    kernel = get_kernel(protocol.metric)
    public = float(kernel(restrict(table, split.public)))
    if not split.holdout.any():
        return PublicScore(public)
    return PublicScore(public, float(kernel(restrict(table, split.train))),
                       float(kernel(restrict(table, split.holdout))))


def certification_table(protocol: Protocol, split: Split, table: Table) -> Table:
    """The table certification must use: the private units, or all (``certify_on``)."""
    _board(protocol)
    _check_split(protocol, split)
    _check_table(split, table)
    return restrict(table, split.certification)


# -- feedback mechanisms -------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """What the board answers to one submission of a sequence.

    Attributes
    ----------
    index
        Position in the sequence, from 1.
    shown
        The value the board shows after this submission (ladder: the sequence's standing
        ``R``; exact and thresholdout: this submission's answer), or None when nothing is
        shown (thresholdout with its budget spent).
    credited
        True when ``shown`` is this submission's own answer (ladder: it moved the board).
    improved
        True when this submission's answer is the best shown so far in the sequence.
    budget_left
        Thresholdout: budget remaining after this submission; None otherwise.
    """

    index: int
    shown: float | None
    credited: bool
    improved: bool
    budget_left: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "shown": self.shown, "credited": self.credited,
                "improved": self.improved, "budget_left": self.budget_left}


def _round_to(value: float, quantum: float) -> float:
    # nearest multiple (halves up), cleaned of binary noise so 0.48 prints as 0.48
    k = math.floor(value / quantum + 0.5)
    digits = max(0, -math.floor(math.log10(quantum))) + 3
    return round(k * quantum, digits)


def _check_score(score: Any) -> PublicScore:
    if not isinstance(score, PublicScore):
        raise TypeError(f"a mechanism takes PublicScore values, got {type(score).__name__}")
    if not math.isfinite(score.public):
        raise ValueError(f"public score must be finite, got {score.public}")
    return score


class _Mechanism(abc.ABC):
    """Common bookkeeping: the index and the best answer so far."""

    def __init__(self, higher_is_better: bool) -> None:
        self.higher_is_better = bool(higher_is_better)
        self.count = 0
        self.best: float | None = None

    def _better(self, a: float, b: float, by: float = 0.0) -> bool:
        if by:
            # "more than a step": a score exactly one step better is not, even when the
            # sum b + step rounds below it in binary (0.7 + 0.01 = 0.70999...)
            by += 1e-12 * max(1.0, abs(a), abs(b))
        return a > b + by if self.higher_is_better else a < b - by

    def _answer(self, shown: float | None, budget_left: int | None = None) -> Response:
        improved = shown is not None and (self.best is None or self._better(shown, self.best))
        if improved:
            self.best = shown
        return Response(self.count, shown, shown is not None, improved, budget_left)

    @abc.abstractmethod
    def respond(self, score: PublicScore) -> Response:
        """What the board shows for one more submission's public score."""


class Exact(_Mechanism):
    """The naive board: the public score, rounded to ``resolution``."""

    def __init__(self, *, resolution: float, higher_is_better: bool) -> None:
        super().__init__(higher_is_better)
        if not (isinstance(resolution, (int, float)) and resolution > 0):
            raise ValueError(f"`resolution` must be positive, got {resolution!r}")
        self.resolution = float(resolution)

    def respond(self, score: PublicScore) -> Response:
        score = _check_score(score)
        self.count += 1
        return self._answer(_round_to(score.public, self.resolution))


class Ladder(_Mechanism):
    """Blum & Hardt's Ladder: the board moves only by more than ``step`` (module docstring)."""

    def __init__(self, *, step: float, higher_is_better: bool) -> None:
        super().__init__(higher_is_better)
        if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
            raise ValueError(f"`step` must be positive, got {step!r}")
        self.step = float(step)
        self.updates = 0

    def respond(self, score: PublicScore) -> Response:
        score = _check_score(score)
        self.count += 1
        if self.best is None or self._better(score.public, self.best, self.step):
            self.best = _round_to(score.public, self.step)
            self.updates += 1
            return Response(self.count, self.best, True, True)
        return Response(self.count, self.best, False, False)


def _laplace(bits: np.ndarray, scale: float) -> np.ndarray:
    """Laplace(0, scale) draws by inverting the CDF of 53-bit uniforms in (0, 1)."""
    u = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) / 9007199254740992.0
    c = u - 0.5
    out: np.ndarray = -scale * np.sign(c) * np.log1p(-2.0 * np.abs(c))
    return out


class Thresholdout(_Mechanism):
    """Dwork et al.'s Thresholdout on the train side and holdout of the public part."""

    def __init__(self, *, threshold: float, noise: float, budget: int, resolution: float,
                 seed: np.random.SeedSequence, higher_is_better: bool) -> None:
        super().__init__(higher_is_better)
        for name, v in (("threshold", threshold), ("noise", noise), ("resolution", resolution)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"`{name}` must be positive, got {v!r}")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"`budget` must be a positive integer, got {budget!r}")
        if not (isinstance(seed, np.random.SeedSequence) and isinstance(seed.entropy, int)):
            raise ValueError("`seed` must be a SeedSequence with integer entropy")
        self.threshold, self.noise = float(threshold), float(noise)
        self.resolution = float(resolution)
        self.budget_left = budget
        self.seed = seed
        self.overs = 0  # answers taken from the holdout
        self.noisy_threshold = self.threshold + float(self._draws(0)[2])

    def _draws(self, block: int) -> np.ndarray:
        """(eta ~ Laplace(4 sigma), xi ~ Laplace(sigma), gamma ~ Laplace(2 sigma)) of a block."""
        child = np.random.SeedSequence(self.seed.entropy,
                                       spawn_key=tuple(self.seed.spawn_key) + (block,))
        bits = np.random.PCG64(child).random_raw(3)
        draws: np.ndarray = _laplace(bits, 1.0) * np.array([4 * self.noise, self.noise,
                                                             2 * self.noise])
        return draws

    def respond(self, score: PublicScore) -> Response:
        score = _check_score(score)
        if score.train is None or score.holdout is None:
            raise ValueError("thresholdout needs the train and holdout scores (score_public)")
        self.count += 1
        if self.budget_left < 1:
            return Response(self.count, None, False, False, 0)
        eta, xi, gamma = self._draws(self.count)
        if abs(score.holdout - score.train) > self.noisy_threshold + eta:
            self.budget_left -= 1
            self.overs += 1
            self.noisy_threshold = self.threshold + float(gamma)
            shown = score.holdout + float(xi)
        else:
            shown = score.train
        return self._answer(_round_to(shown, self.resolution), self.budget_left)


def feedback_seed(
    protocol: Protocol, scope_key: str, *, secret: str | None
) -> np.random.SeedSequence:
    """The seed of one feedback sequence's noise.

    ``derive_seed(protocol.digest, "feedback\\x1f" + scope_key [+ "\\x1f" + secret],
    "leaderboard")``; ``scope_key`` names the sequence (``"board"``, or ``"team/<id>"``).
    """
    _board(protocol)
    return _seed(protocol, "feedback\x1f" + _check_text("scope_key", scope_key), secret)


def mechanism(
    protocol: Protocol, *, scope_key: str, secret: str | None
) -> Exact | Ladder | Thresholdout:
    """A fresh mechanism for one sequence, as the protocol preregisters it."""
    fb = _board(protocol).feedback
    hib = protocol.higher_is_better
    if fb.mechanism == "exact":
        assert fb.resolution is not None
        return Exact(resolution=fb.resolution, higher_is_better=hib)
    if fb.mechanism == "ladder":
        assert fb.step is not None
        return Ladder(step=fb.step, higher_is_better=hib)
    assert fb.threshold is not None and fb.noise is not None and fb.budget is not None
    assert fb.resolution is not None
    return Thresholdout(threshold=fb.threshold, noise=fb.noise, budget=fb.budget,
                        resolution=fb.resolution, higher_is_better=hib,
                        seed=feedback_seed(protocol, scope_key, secret=secret))


def replay(protocol: Protocol, scores: Sequence[PublicScore], *, scope_key: str,
           secret: str | None) -> tuple[Response, ...]:
    """The responses to a sequence of public scores, in order: a pure function."""
    m = mechanism(protocol, scope_key=scope_key, secret=secret)
    return tuple(m.respond(s) for s in scores)


# -- the public board ------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """One team on the public board: its best shown value and rank (ties share a rank)."""

    team: str
    shown: float | None
    rank: int | None
    submissions: int

    def to_dict(self) -> dict[str, Any]:
        return {"team": self.team, "shown": self.shown, "rank": self.rank,
                "submissions": self.submissions}


def standings(responses: Mapping[str, Sequence[Response]], *,
              higher_is_better: bool) -> tuple[Standing, ...]:
    """The public board: each team's best credited value, ranked with ties as ties.

    Ranks are competition ranks of the shown values (1, 1, 3): equal shown values (the
    ladder's rounding makes them common) share a rank. Teams with nothing shown come
    last, unranked. Order: rank, then team name.
    """
    best: dict[str, float | None] = {}
    for team, seq in responses.items():
        values = [r.shown for r in seq if r.credited and r.shown is not None]
        best[team] = (None if not values
                      else (max(values) if higher_is_better else min(values)))
    shown = [v for v in best.values() if v is not None]
    out = []
    for team, v in best.items():
        rank = None
        if v is not None:
            rank = 1 + sum(1 for w in shown if (w > v if higher_is_better else w < v))
        out.append(Standing(team, v, rank, len(responses[team])))
    out.sort(key=lambda s: (s.rank is None, s.rank or 0, s.team))
    return tuple(out)


# -- final rankings ------------------------------------------------------------------------


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")


@dataclass(frozen=True)
class RankedEntry:
    """One entry of the final ranking.

    Attributes
    ----------
    name, estimate
        The entry and its metric on the certification part.
    rank, group
        The competition rank of its tie group and the group's number (1 = the leader's).
    bayes_factor
        K against the overall leader (None for the leader; ``inf`` when the leader is
        better in every resample).
    group_bayes_factor
        K against its group's leader (None for a group leader).
    leader_better
        Resamples in which the overall leader is strictly better.
    rank_interval
        2.5% and 97.5% quantiles of its rank over resamples.
    """

    name: str
    estimate: float
    rank: int
    group: int
    bayes_factor: float | None
    group_bayes_factor: float | None
    leader_better: int
    rank_interval: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "estimate": self.estimate, "rank": self.rank,
            "group": self.group,
            "bayes_factor": None if self.bayes_factor is None else _json_float(self.bayes_factor),
            "group_bayes_factor": (None if self.group_bayes_factor is None
                                   else _json_float(self.group_bayes_factor)),
            "leader_better": self.leader_better,
            "rank_interval": list(self.rank_interval),
        }


@dataclass(frozen=True)
class Ranking:
    """Final rankings with tie groups and rank intervals, and how they were computed."""

    entries: tuple[RankedEntry, ...]
    higher_is_better: bool
    tie_bayes_factor: float
    resamples: int
    valid_resamples: int
    part: str = "given"
    n_units: int | None = None
    split_digest: str | None = None
    seed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def leader(self) -> RankedEntry:
        return self.entries[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": [e.to_dict() for e in self.entries],
            "higher_is_better": self.higher_is_better,
            "tie_rule": f"K = #{{leader better}} / #{{entry better or equal}} <= "
                        f"{self.tie_bayes_factor} (paired bootstrap)",
            "rank_rule": "per resample: 1 + entries strictly better (ties share a rank); "
                         "interval: 2.5% and 97.5% quantiles, inverted empirical CDF",
            "tie_bayes_factor": self.tie_bayes_factor,
            "resamples": self.resamples,
            "valid_resamples": self.valid_resamples,
            "part": self.part,
            "n_units": self.n_units,
            "split_digest": self.split_digest,
            "seed": dict(self.seed),
        }


def _bayes_factor(leader: np.ndarray, entry: np.ndarray) -> tuple[float, int]:
    better = int(np.count_nonzero(leader > entry))
    rest = len(leader) - better
    return (math.inf if rest == 0 else better / rest), better


def rank_replicates(
    names: Sequence[str],
    estimates: Sequence[float],
    replicates: np.ndarray,
    *,
    higher_is_better: bool,
    tie_bayes_factor: float = 3.0,
) -> Ranking:
    """Tie groups and rank intervals from paired replicates (module docstring).

    Parameters
    ----------
    names, estimates
        The entries and their metric on the data (one each).
    replicates
        ``(B, n_entries)``: the metric of every entry on the same resample in each row.
    higher_is_better
        The metric's direction.
    tie_bayes_factor
        Largest K at which an entry is tied with its group's leader.
    """
    names = list(names)
    if not names or any(not isinstance(n, str) or not n for n in names):
        raise ValueError("`names` must be non-empty strings, at least one")
    if len(set(names)) != len(names):
        raise ValueError("`names` must not repeat")
    est = np.asarray(estimates, dtype=np.float64)
    if est.shape != (len(names),) or not np.isfinite(est).all():
        raise ValueError(f"`estimates` must be {len(names)} finite numbers")
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.ndim != 2 or reps.shape[1] != len(names) or reps.shape[0] < 1:
        raise ValueError(f"`replicates` must have shape (B, {len(names)}), got {reps.shape}")
    if not (isinstance(tie_bayes_factor, (int, float)) and tie_bayes_factor >= 1):
        raise ValueError(f"`tie_bayes_factor` must be at least 1, got {tie_bayes_factor!r}")
    sign = 1.0 if higher_is_better else -1.0
    valid = np.isfinite(reps).all(axis=1)
    if not valid.any():
        raise DegenerateResamplingError(
            "every resample leaves some entry's metric undefined: no ranking"
        )
    oriented = sign * reps[valid]
    order = sorted(range(len(names)), key=lambda i: (-sign * est[i], names[i]))
    lead = order[0]

    group = np.zeros(len(names), dtype=np.int64)
    rank = np.zeros(len(names), dtype=np.int64)
    group_k: list[float | None] = [None] * len(names)
    remaining, g, placed = list(order), 0, 0
    while remaining:
        g += 1
        head = remaining[0]
        members = [head]
        for j in remaining[1:]:
            k, _ = _bayes_factor(oriented[:, head], oriented[:, j])
            if k <= tie_bayes_factor:
                members.append(j)
                group_k[j] = k
        for j in members:
            group[j], rank[j] = g, placed + 1
        placed += len(members)
        remaining = [j for j in remaining if j not in members]

    # competition rank within each resample: 1 + entries strictly better
    ranks = np.empty(oriented.shape, dtype=np.int64)
    for j in range(len(names)):
        ranks[:, j] = 1 + np.count_nonzero(oriented > oriented[:, [j]], axis=1)
    bounds = np.quantile(ranks, [0.025, 0.975], axis=0, method="inverted_cdf")

    entries = []
    for j in range(len(names)):
        k_lead, better = _bayes_factor(oriented[:, lead], oriented[:, j])
        entries.append(RankedEntry(
            name=names[j], estimate=float(est[j]), rank=int(rank[j]), group=int(group[j]),
            bayes_factor=None if j == lead else k_lead,
            group_bayes_factor=group_k[j],
            leader_better=0 if j == lead else better,
            rank_interval=(int(bounds[0, j]), int(bounds[1, j])),
        ))
    position = {j: i for i, j in enumerate(order)}
    entries.sort(key=lambda e: (e.rank, position[names.index(e.name)]))
    return Ranking(tuple(entries), bool(higher_is_better), float(tie_bayes_factor),
                   int(reps.shape[0]), int(valid.sum()))


def rank_entries(
    protocol: Protocol,
    split: Split,
    tables: Mapping[str, Table],
    *,
    resamples: int | None = None,
    seed: np.random.SeedSequence | int | None = None,
    workers: int = 1,
) -> Ranking:
    """Final rankings of scored entries on the certification part (module docstring).

    Parameters
    ----------
    tables
        Entry name -> its scored table against the committed truth (baselines may be
        entries too).
    resamples
        Bootstrap resamples (default ``protocol.resampling.resamples``).
    seed
        Default ``derive_seed(protocol.digest, "ranking", "leaderboard")``: every entry is
        scored on the same weights, and adding an entry changes no weight.
    """
    board = _board(protocol)
    _check_split(protocol, split)
    if not isinstance(tables, Mapping) or not tables:
        raise ValueError("`tables` must map at least one entry name to its table")
    names = list(tables)
    subs = []
    for name in names:
        _check_table(split, tables[name], what=f"table of {name!r}")
        subs.append(restrict(tables[name], split.certification))
    first, reference = subs[0], tables[names[0]]
    for name in names[1:]:
        table = tables[name]
        if table.kind != reference.kind or not all(
            np.array_equal(table[col], reference[col])
            for col in _TRUTH_COLUMNS.get(reference.kind, ())
        ):
            raise InputError(f"the table of {name!r} was scored against another truth")
    resamples = protocol.resampling.resamples if resamples is None else resamples
    if seed is None:
        seed = derive_seed(protocol.digest, "ranking", _PURPOSE)
    kernel = get_kernel(protocol.metric)
    estimates = [float(kernel(sub)) for sub in subs]

    def statistic(weights: np.ndarray) -> np.ndarray:
        return np.column_stack([kernel(sub, weights) for sub in subs])

    reps = bootstrap(statistic, first.n_units, resamples=resamples, seed=seed,
                     strata=first.strata, workers=workers)
    ranking = rank_replicates(names, estimates, reps.values,
                              higher_is_better=protocol.higher_is_better,
                              tie_bayes_factor=board.tie_bayes_factor)
    return Ranking(ranking.entries, ranking.higher_is_better, ranking.tie_bayes_factor,
                   ranking.resamples, ranking.valid_resamples,
                   part=split.certify_on, n_units=first.n_units, split_digest=split.digest,
                   seed=reps.to_dict()["seed"])


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
