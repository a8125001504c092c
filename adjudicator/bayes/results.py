"""Constants and the result types of a Bayesian comparison."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DIRECTION_HIGHER = "entry minus baseline"
DIRECTION_LOWER = "baseline minus entry"

#: correlated-t refuses differences with this many distinct values or fewer (see above)
MIN_DISTINCT_VALUES = 5

#: bootstrap resamples behind each stratum's standard error in the hierarchical model
SE_RESAMPLES = 1000

_SPAWN_WEIGHTS = 0
_SPAWN_SAMPLER = 1
_SPAWN_SE = 2
_SPAWN_NEW_STRATUM = 3

Sampler = Literal["nutpie", "pymc"]


def _json_float(x: float | None) -> float | str | None:
    return x if x is None or math.isfinite(x) else str(x)


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Posterior summary of the difference: mean, sd and the HDI at ``hdi_prob``."""

    mean: float
    sd: float
    hdi_low: float
    hdi_high: float
    hdi_prob: float

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "sd": self.sd, "hdi": [self.hdi_low, self.hdi_high],
                "hdi_prob": self.hdi_prob}


@dataclass(frozen=True)
class Rope:
    """Posterior shares below, inside and above ``[low, high] = [margin - r, margin + r]``."""

    low: float
    high: float
    below: float
    inside: float
    above: float

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high, "below": self.below,
                "inside": self.inside, "above": self.above}


@dataclass(frozen=True)
class Diagnosis:
    """Sampler diagnostics and which bounds they fail (empty ``failures``: all fine).

    ``sampler`` is ``"independent"`` for the Bayesian bootstrap (no chains: R-hat and
    divergences are None, the ESS is the number of draws).
    """

    sampler: str
    chains: int
    draws: int
    r_hat: float | None
    ess_bulk: float
    ess_tail: float
    divergences: int | None
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler, "chains": self.chains, "draws": self.draws,
                "r_hat": _json_float(self.r_hat), "ess_bulk": _json_float(self.ess_bulk),
                "ess_tail": _json_float(self.ess_tail),
                "divergences": self.divergences, "ok": self.ok,
                "failures": list(self.failures)}


@dataclass(frozen=True)
class Decision:
    """The decision under one prior for one target (``population`` or ``new-stratum``)."""

    prior: str | None
    target: str
    summary: Summary
    probability: float
    probability_mcse: float
    rope: Rope
    diagnostics: Diagnosis
    passed: bool | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"prior": self.prior, "target": self.target, "probability": self.probability,
                "probability_mcse": self.probability_mcse, "summary": self.summary.to_dict(),
                "rope": self.rope.to_dict(), "diagnostics": self.diagnostics.to_dict(),
                "passed": self.passed, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class BayesResult:
    """The Bayesian criterion against one baseline.

    ``decisions`` holds one :class:`Decision` per preregistered prior and target (for the
    Bayesian bootstrap: one, prior None); ``deciding`` is the one the headline fields and
    ``passed`` come from (module docstring). ``inference_data`` maps ``prior name`` to the
    ArviZ InferenceData of the PyMC models (empty for the Bayesian bootstrap); save it with
    :func:`save_inference_data`.
    """

    baseline: str
    model: str
    direction: str
    margin: float
    min_probability: float
    target: str
    decisions: tuple[Decision, ...]
    deciding: Decision
    passed: bool | None
    seed: dict[str, Any]
    inference_data: Mapping[str, Any] = field(default_factory=dict, repr=False,
                                              compare=False)

    @property
    def probability(self) -> float:
        return self.deciding.probability

    def to_dict(self) -> dict[str, Any]:
        """The criterion as it goes into ``criteria[]`` of result.json."""
        d = self.deciding
        return {
            "kind": "bayes",
            "baseline": self.baseline,
            "model": self.model,
            "direction": self.direction,
            "target": self.target,
            "statement": f"P({self.direction} > {self.margin:g}) >= {self.min_probability:g}",
            "margin": self.margin,
            "probability": d.probability,
            "probability_mcse": d.probability_mcse,
            "min_probability": self.min_probability,
            "summary": d.summary.to_dict(),
            "rope": d.rope.to_dict(),
            "diagnostics": d.diagnostics.to_dict(),
            "prior": d.prior,
            "passed": self.passed,
            "reasons": list(d.reasons),
            "decisions": [x.to_dict() for x in self.decisions],
            "seed": self.seed,
        }
