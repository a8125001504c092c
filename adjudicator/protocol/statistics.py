"""Resampling, thresholds, multiplicity and the Bayesian analysis blocks."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ._common import (
    AsTuple,
    OpenUnit,
    Slug,
    StrictModel,
    finite,
)

# -- statistics ---------------------------------------------------------------------------


class Resampling(StrictModel):
    """How the sampling uncertainty of the estimate is measured."""

    method: Literal["bca", "percentile", "basic"] = Field(
        default="bca", description="confidence interval and p-value method"
    )
    resamples: int = Field(
        default=10_000, ge=200, le=10_000_000, description="bootstrap resamples B"
    )
    confidence: OpenUnit = Field(default=0.95, description="two-sided confidence level, in (0, 1)")
    max_resamples: int | None = Field(
        default=None,
        ge=200,
        le=100_000_000,
        description="cap when a p-value is too close to its alpha to decide: resampling "
        "continues up to this many (default 10 x resamples), then INCONCLUSIVE",
    )
    convention: Literal["adjudicator", "r-boot"] = Field(
        default="adjudicator",
        description="adjudicator: z0 counts ties as half, linear quantiles (as scipy); "
        "r-boot: z0 counts strictly-less, quantiles at (B+1)q with normal interpolation "
        "(as R's boot)",
    )

    @model_validator(mode="after")
    def _cap(self) -> Resampling:
        if self.max_resamples is not None and self.max_resamples < self.resamples:
            raise ValueError("max_resamples: must be at least resamples")
        return self

    @property
    def resample_cap(self) -> int:
        """The most resamples an undecided p-value may draw."""
        return self.max_resamples or 10 * self.resamples


class Baseline(StrictModel):
    """A reference entry the submission must beat by ``margin`` (in metric units)."""

    name: Slug = Field(
        description="the baseline's name (lower-case letters, digits, . _ -); its predictions "
        "are supplied under this name"
    )
    margin: float = Field(default=0.0, description="required improvement over the baseline")

    @field_validator("margin", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("must be a number")
        return finite(v)


class Threshold(StrictModel):
    """The preregistered criteria: an absolute threshold and/or baselines to beat."""

    absolute: float | None = Field(
        default=None, description="the metric must exceed this (fall below, if lower is better)"
    )
    baselines: Annotated[tuple[Baseline, ...], AsTuple] = Field(
        default=(),
        description="reference entries to beat, each by its margin (paired resampling); "
        "names must not repeat",
    )

    @field_validator("absolute", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("must be a number")
        return finite(v)

    @field_validator("baselines")
    @classmethod
    def _distinct(cls, v: tuple[Baseline, ...]) -> tuple[Baseline, ...]:
        names = [b.name for b in v]
        if len(set(names)) != len(names):
            raise ValueError("baseline names must not repeat")
        return v


class OnlineFDR(StrictModel):
    """Online false discovery rate control over an open stream of progress claims."""

    procedure: Literal["lord++", "lond"] = Field(
        default="lond",
        description="lord++: LORD++ (FDR control when the null p-values are independent); "
        "lond: LOND in its version for arbitrary dependence (as when every submission is "
        "scored on one test set)",
    )
    alpha: OpenUnit = Field(default=0.05, description="target FDR, in (0, 1)")
    initial_wealth: float | None = Field(
        default=None,
        description="lord++ only: initial wealth W0 in (0, alpha] (default alpha / 2)",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_wealth(cls, data: Any) -> Any:
        # fill LORD++'s W0 in, so the digest covers the value actually used
        if isinstance(data, dict) and data.get("procedure", "lond") == "lord++":
            if data.get("initial_wealth") is None:
                alpha = data.get("alpha", 0.05)
                if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
                    data = {**data, "initial_wealth": alpha / 2}
        return data

    @model_validator(mode="after")
    def _wealth(self) -> OnlineFDR:
        if self.procedure == "lord++":
            if self.initial_wealth is not None:
                w0 = finite(self.initial_wealth)
                if not 0 < w0 <= self.alpha:
                    raise ValueError(
                        f"initial_wealth: must be in (0, alpha = {self.alpha}], got {w0}"
                    )
        elif self.initial_wealth is not None:
            raise ValueError("initial_wealth: only the lord++ procedure takes an initial wealth")
        return self


class Multiplicity(StrictModel):
    """How alpha is spent over the submissions of a family."""

    alpha: OpenUnit = Field(default=0.05, description="family-wise error rate of the family, in "
                         "(0, 1)")
    family: Literal["team", "challenge"] = Field(
        default="team", description="team: each team's sequence; challenge: all submissions"
    )
    rule: Literal["bonferroni", "geometric", "p-series", "list"] = Field(
        default="geometric",
        description="alpha spending over the family's submissions: bonferroni alpha / "
        "max_submissions; geometric alpha (1-r) r^(k-1); p-series alpha 6 / (pi^2 k^2); "
        "list: the preregistered alphas",
    )
    ratio: float | None = Field(
        default=None,
        description="geometric only: r in (0, 1), alpha_k = alpha (1-r) r^(k-1); default 0.5"
    )
    alphas: Annotated[tuple[float, ...], AsTuple] | None = Field(
        default=None,
        description="list only: alpha_k for k = 1, 2, ... (each > 0, sum <= alpha, at least "
        "max_submissions of them)"
    )
    max_submissions: int = Field(
        default=5, ge=1, le=100_000,
        description="most submissions a family may make; the next one is refused (no alpha "
        "left to spend)",
    )
    online_fdr: OnlineFDR | None = Field(
        default=None,
        description="online false discovery rate control of progress claims (absent: none)",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_ratio(cls, data: Any) -> Any:
        # fill the geometric ratio in, so the digest covers the value actually used
        if isinstance(data, dict) and data.get("rule", "geometric") == "geometric":
            if data.get("ratio") is None:
                data = {**data, "ratio": 0.5}
        return data

    @model_validator(mode="after")
    def _rule(self) -> Multiplicity:
        if self.rule == "geometric":
            if self.ratio is not None:
                r = finite(self.ratio)
                if not 0 < r < 1:
                    raise ValueError(f"ratio: must be in (0, 1), got {r}")
        elif self.ratio is not None:
            raise ValueError("ratio: only the geometric rule takes a ratio")
        if self.rule == "list":
            if not self.alphas:
                raise ValueError("alphas: the list rule needs its preregistered alphas")
            if any(not math.isfinite(a) or a <= 0 for a in self.alphas):
                raise ValueError("alphas: every alpha_k must be a positive finite number")
            if math.fsum(self.alphas) > self.alpha * (1 + 1e-12):
                raise ValueError(
                    f"alphas: they sum to {math.fsum(self.alphas)}, more than alpha {self.alpha}"
                )
            if len(self.alphas) < self.max_submissions:
                raise ValueError(
                    f"alphas: {len(self.alphas)} given for max_submissions {self.max_submissions}"
                )
        elif self.alphas is not None:
            raise ValueError("alphas: only the list rule takes alphas")
        return self


class Prior(StrictModel):
    """A preregistered prior for the PyMC models, on the scale of the metric difference."""

    name: Slug = Field(
        default="default",
        description="the prior's name in reports (lower-case letters, digits, . _ -)",
    )
    mean_scale: float = Field(
        default=1.0,
        description="sd of the normal prior on the mean difference, in units of `scale` (> 0)",
    )
    sd_scale: float = Field(
        default=1.0,
        description="sd of the half-normal prior on spreads (sigma, tau), in units of `scale` "
        "(> 0)",
    )
    scale: Literal["data", "metric"] = Field(
        default="data",
        description="data: multiples of the spread of the differences (correlated-t: their "
        "sd; hierarchical: sqrt(var of stratum differences + mean squared standard error)); "
        "metric: in metric units (fixed before the data are seen)",
    )

    @field_validator("mean_scale", "sd_scale")
    @classmethod
    def _pos(cls, v: float) -> float:
        v = finite(v)
        if v <= 0:
            raise ValueError("must be positive")
        return v


class Diagnostics(StrictModel):
    """Sampler diagnostics that gate a Bayesian criterion."""

    max_r_hat: float = Field(default=1.01, description="largest R-hat of any parameter (>= 1)")
    min_ess_bulk: int = Field(default=400, ge=1, description="smallest bulk ESS")
    min_ess_tail: int = Field(default=400, ge=1, description="smallest tail ESS")
    max_divergences: int = Field(default=0, ge=0, description="most divergent transitions")
    monte_carlo_z: float = Field(
        default=2.576,
        description="a decision is INCONCLUSIVE when |P - min_probability| <= "
        "monte_carlo_z x the Monte Carlo standard error of P (>= 0)",
    )

    @field_validator("max_r_hat", "monte_carlo_z", mode="before")
    @classmethod
    def _num(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("must be a number")
        return finite(v)

    @field_validator("max_r_hat")
    @classmethod
    def _rhat(cls, v: float) -> float:
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v

    @field_validator("monte_carlo_z")
    @classmethod
    def _z(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"must be non-negative, got {v}")
        return v


class Bayes(StrictModel):
    """The Bayesian comparison of the entry with every baseline."""

    model: Literal["bayesian-bootstrap", "correlated-t", "hierarchical"] = Field(
        default="bayesian-bootstrap",
        description="bayesian-bootstrap: Dirichlet weights over units, any metric; "
        "correlated-t: Student-t model of per-unit (or per-fold) differences; hierarchical: "
        "partial pooling of per-stratum differences",
    )
    rope: float = Field(
        default=0.0, ge=0, description="half-width of the region of practical equivalence"
    )
    min_probability: float = Field(
        default=0.95,
        description="P(entry minus baseline > margin) needed to pass, in [0.5, 1)"
    )
    draws: int = Field(
        default=4000, ge=100, le=1_000_000,
        description="posterior draws kept in total (PyMC models: split evenly over chains)",
    )
    chains: int = Field(default=4, ge=1, le=64, description="PyMC models: Markov chains")
    tune: int = Field(default=1000, ge=1, le=100_000, description="PyMC models: tuning "
                      "steps per chain")
    target_accept: float = Field(
        default=0.9, description="PyMC models: the NUTS step-size adaptation target, in "
        "[0.5, 1); raise it (e.g. 0.99) when divergences gate the criterion"
    )
    target: Literal["population", "new-stratum"] = Field(
        default="population",
        description="hierarchical: decide on the population mean difference or on the "
        "difference in a new stratum (both are reported)",
    )
    rho: float | None = Field(
        default=None,
        description="correlated-t: Nadeau-Bengio correlation (test share of a fold), in "
        "[0, 1); default 0 for per-unit differences",
    )
    priors: Annotated[tuple[Prior, ...], AsTuple] = Field(
        default=(Prior(),),
        description="PyMC models: one or more preregistered priors; the criterion passes "
        "only if it passes under every one",
    )
    diagnostics: Diagnostics = Field(
        default=Diagnostics(),
        description="bounds on the sampler diagnostics; a criterion whose sampler fails them "
        "is INCONCLUSIVE",
    )

    @field_validator("min_probability")
    @classmethod
    def _prob(cls, v: float) -> float:
        v = finite(v)
        if not 0.5 <= v < 1:
            raise ValueError(f"must be in [0.5, 1), got {v}")
        return v

    @field_validator("rope", "rho", mode="before")
    @classmethod
    def _num(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("must be a number")
        return finite(v)

    @field_validator("target_accept")
    @classmethod
    def _accept(cls, v: float) -> float:
        v = finite(v)
        if not 0.5 <= v < 1:
            raise ValueError(f"must be in [0.5, 1), got {v}")
        return v

    @field_validator("rho")
    @classmethod
    def _rho(cls, v: float | None) -> float | None:
        if v is not None and not 0 <= v < 1:
            raise ValueError(f"must be in [0, 1), got {v}")
        return v

    @field_validator("priors")
    @classmethod
    def _priors(cls, v: tuple[Prior, ...]) -> tuple[Prior, ...]:
        if not v:
            raise ValueError("at least one prior")
        names = [p.name for p in v]
        if len(set(names)) != len(names):
            raise ValueError("prior names must not repeat")
        return v
