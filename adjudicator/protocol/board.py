"""The leaderboard and publication blocks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ._common import (
    StrictModel,
    finite,
)

# -- leaderboard: the public/private split and what the public board shows ---------------

#: the parameters each feedback mechanism takes (the rest must be absent)
FEEDBACK_PARAMETERS: dict[str, tuple[str, ...]] = {
    "exact": ("resolution",),
    "ladder": ("step",),
    "thresholdout": ("threshold", "noise", "budget", "holdout_fraction", "resolution"),
}


class LeaderboardFeedback(StrictModel):
    """What a participant sees of a submission's public score during the window.

    See :mod:`adjudicator.leaderboard` for the mechanisms and their guarantees.
    """

    mechanism: Literal["exact", "ladder", "thresholdout"] = Field(
        description="exact: the public score, rounded to `resolution` (no protection against "
        "adaptive overfitting); ladder: Blum & Hardt (2015), the board moves only when a "
        "score beats the best so far by more than `step`, and shows it rounded to `step`; "
        "thresholdout: Dwork et al. (2015), the score on the public units outside the "
        "holdout unless it differs from the public-holdout score by more than a noisy "
        "`threshold`, then the holdout score plus Laplace noise, at most `budget` times"
    )
    step: float | None = Field(
        default=None,
        description="ladder only, required: the step eta (> 0), in metric units"
    )
    threshold: float | None = Field(
        default=None,
        description="thresholdout only, required: T (> 0), in metric units; set it above the "
        "natural spread of the train-holdout difference (about 3 sd), or honest entries "
        "spend the budget",
    )
    noise: float | None = Field(
        default=None,
        description="thresholdout only, required: sigma (> 0); answers get Laplace(sigma) "
        "noise, "
        "the threshold Laplace(2 sigma), each comparison Laplace(4 sigma)",
    )
    budget: int | None = Field(
        default=None, ge=1, le=1_000_000,
        description="thresholdout only, required: B, how many answers may come from the "
        "holdout; afterwards the board shows nothing new",
    )
    holdout_fraction: float | None = Field(
        default=None,
        description="thresholdout only: share of the public units that form the holdout, "
        "in (0, 1) (default 0.5); the other public units give the training-side estimate",
    )
    resolution: float | None = Field(
        default=None,
        description="exact and thresholdout: shown scores are rounded to a multiple of this "
        "(> 0, default 0.0001); the ladder rounds to its step",
    )

    @field_validator("step", "threshold", "noise", "holdout_fraction", "resolution")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is None:
            return v
        v = finite(v)
        if v <= 0:
            raise ValueError(f"must be positive, got {v}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        # fill defaults in, so the digest covers the values actually used
        if isinstance(data, dict):
            mechanism = data.get("mechanism")
            if mechanism in ("exact", "thresholdout") and data.get("resolution") is None:
                data = {**data, "resolution": 0.0001}
            if mechanism == "thresholdout" and data.get("holdout_fraction") is None:
                data = {**data, "holdout_fraction": 0.5}
        return data

    @model_validator(mode="after")
    def _fits_mechanism(self) -> LeaderboardFeedback:
        takes = FEEDBACK_PARAMETERS[self.mechanism]
        for name in ("step", "threshold", "noise", "budget", "holdout_fraction", "resolution"):
            given = getattr(self, name) is not None
            if given and name not in takes:
                users = " and ".join(m for m, ps in FEEDBACK_PARAMETERS.items() if name in ps)
                raise ValueError(
                    f"{name}: the {self.mechanism} mechanism takes no {name} (only {users})"
                )
            if not given and name in takes:
                raise ValueError(f"{name}: the {self.mechanism} mechanism needs it")
        if self.holdout_fraction is not None and not self.holdout_fraction < 1:
            raise ValueError(
                f"holdout_fraction: must be in (0, 1), got {self.holdout_fraction}"
            )
        return self


class Leaderboard(StrictModel):
    """The public leaderboard: which units feed it, what it shows, how finals are ranked."""

    public_fraction: float = Field(
        description="share of the sequestered units scored on the public board, in (0, 1); "
        "drawn within each stratum of task.strata, seeded from the protocol digest"
    )
    certify_on: Literal["private", "all"] = Field(
        default="private",
        description="private: certification and final rankings use only the units the "
        "board never showed; all: every unit (more power, but the public units were "
        "exposed to adaptive feedback)",
    )
    scope: Literal["team", "board"] = Field(
        default="team",
        description="team: each team's submissions form their own feedback sequence (as "
        "the multiplicity family); board: all submissions form one sequence",
    )
    feedback: LeaderboardFeedback = Field(description="the feedback mechanism")
    tie_bayes_factor: float = Field(
        default=3.0,
        description="final rankings: an entry is tied with a leader when the bootstrap "
        "Bayes factor K = (#resamples the leader is better) / (#resamples the entry is "
        "better or equal) is at most this (>= 1; DREAM challenges: 3)",
    )

    @field_validator("public_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        v = finite(v)
        if not 0 < v < 1:
            raise ValueError(f"must be in (0, 1), got {v}")
        return v

    @field_validator("tie_bayes_factor")
    @classmethod
    def _factor(cls, v: float) -> float:
        v = finite(v)
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v


class Publication(StrictModel):
    """How the open results name the teams once the window closes (every adjudication of
    every team is published then, failures included)."""

    teams: Literal["named", "pseudonymous"] = Field(
        default="named",
        description="named: each result carries its team's name; pseudonymous: a stable "
        "pseudonym per team and challenge (HMAC of the team under the service's key), in "
        "the ledger, the results and the reports alike, and no submission names",
    )
