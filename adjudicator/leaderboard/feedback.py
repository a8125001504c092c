"""Feedback mechanisms (exact, ladder, thresholdout), replay and the public board."""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocol import Protocol
from ._common import _board, _check_text, _seed
from .split import PublicScore

__all__ = [
    "Response",
    "Exact",
    "Ladder",
    "Thresholdout",
    "feedback_seed",
    "mechanism",
    "replay",
    "Standing",
    "standings",
]

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
