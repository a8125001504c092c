"""The preregistration format ``protocol/v1``: schema, strict loading, canonical digest.

A protocol is parsed once, strictly, into frozen pydantic models: an unknown field, a
wrong type or an impossible value is a :class:`~adjudicator.errors.ProtocolError` that
names the field path (``threshold.baselines[0].margin: must be a number``) and the file.
An invalid :class:`Protocol` object cannot exist.

The digest (:attr:`Protocol.digest`) is ``sha256:`` + the hex digest of the canonical JSON
of the *validated* protocol: defaults filled in, keys sorted, numbers normalised (every
float written as the shortest string that round-trips), no whitespace. Comments, key
order, quoting and ``0.70`` versus ``0.7`` do not change it; any change of meaning does.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ProtocolError

__all__ = [
    "FORMAT",
    "KINDS",
    "METRICS",
    "MAX_PROTOCOL_BYTES",
    "Protocol",
    "Task",
    "Threshold",
    "Baseline",
    "Resampling",
    "Multiplicity",
    "OnlineFDR",
    "Bayes",
    "Prior",
    "Diagnostics",
    "Leaderboard",
    "LeaderboardFeedback",
    "Publication",
    "load_protocol",
    "parse_protocol",
    "protocol_schema",
    "canonical_json",
]

FORMAT = "protocol/v1"

#: The largest protocol file we read. Real protocols are a few kilobytes.
MAX_PROTOCOL_BYTES = 1 << 20

KINDS = ("binary", "survival", "regression", "sets", "scores")

#: metric name -> (task kinds it applies to, True when a higher value is better)
METRICS: dict[str, tuple[tuple[str, ...], bool]] = {
    "auroc": (("binary",), True),
    "auprc": (("binary",), True),
    "brier": (("binary",), False),
    "log_loss": (("binary",), False),
    "harrell_c": (("survival",), True),
    "uno_c": (("survival",), True),
    "rmse": (("regression",), False),
    "mae": (("regression",), False),
    "pearson": (("regression",), True),
    "spearman": (("regression",), True),
    "per_unit_pearson_mean": (("regression",), True),
    "set_precision": (("sets",), True),
    "set_recall": (("sets",), True),
    "set_f1": (("sets",), True),
    "mean_score": (("scores",), True),
}

#: truth roles each kind requires (role -> meaning), in the protocol's ``task.truth``
TRUTH_ROLES: dict[str, dict[str, str]] = {
    "binary": {"label": "the observed class of the unit"},
    "survival": {"time": "follow-up time", "event": "1 if the event was observed, 0 if censored"},
    "regression": {"value": "the observed value"},
    "sets": {"element": "one element of the unit's true set (one row per element)"},
    "scores": {},
}

_SLUG = r"^[a-z0-9][a-z0-9._-]{0,99}$"
_COLUMN = r"^[A-Za-z_][A-Za-z0-9_.\- ]{0,127}$"

Slug = Annotated[str, Field(pattern=_SLUG, description="lower-case letters, digits, . _ -")]
Column = Annotated[str, Field(pattern=_COLUMN, description="a column name of a table")]
Text = Annotated[str, Field(max_length=10_000)]


def _list_to_tuple(value: Any) -> Any:
    # YAML gives lists; strict mode would refuse them for tuple fields. Items stay strict.
    return tuple(value) if isinstance(value, list) else value


_AsTuple = BeforeValidator(_list_to_tuple)


def _finite(value: float, what: str = "value") -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value}")
    return float(value)


def _open_unit(value: float) -> float:
    value = _finite(value)
    if not 0 < value < 1:
        raise ValueError(f"must be in (0, 1), got {value}")
    return value


#: a finite number strictly between 0 and 1 (levels, rates, confidences)
OpenUnit = Annotated[float, AfterValidator(_open_unit)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# -- task ---------------------------------------------------------------------------------


class Task(_Strict):
    """What is predicted, on which unit, and which columns hold truth and predictions."""

    kind: Literal["binary", "survival", "regression", "sets", "scores"] = Field(
        description="binary | survival | regression | sets | scores"
    )
    unit: Column = Field(
        description="resampling unit and join key of truth and predictions (one or more rows)"
    )
    keys: Annotated[tuple[Column, ...], _AsTuple] = Field(
        default=(),
        description="extra row keys inside a unit (e.g. [gene, cell_type]); rows = unit + keys",
    )
    truth: dict[str, Column] = Field(
        default_factory=dict,
        description="columns of the sequestered file by role: binary {label}, survival "
        "{time, event}, regression {value}, sets {element}, scores {}",
    )
    prediction: Column | Annotated[tuple[Column, ...], _AsTuple] = Field(
        description="column(s) of a submission holding the prediction"
    )
    strata: Annotated[tuple[Column, ...], _AsTuple] = Field(
        default=(), description="truth columns whose combinations are resampled separately"
    )
    positive: str | int | bool | None = Field(
        default=None,
        description="binary only, required there: the label value of the positive class",
    )
    direction: Literal["higher", "lower"] = Field(
        default="higher",
        description="what a higher prediction means. binary: 'higher' = more likely "
        "positive; survival: 'higher' = higher risk (earlier event); use 'lower' when the "
        "prediction is a survival time. Never inferred from the data.",
    )

    @field_validator("keys", "strata")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("names must not repeat")
        return value

    @model_validator(mode="after")
    def _roles_fit_kind(self) -> Task:
        needed = TRUTH_ROLES[self.kind]
        given = set(self.truth)
        if given != set(needed):
            missing = sorted(set(needed) - given)
            extra = sorted(given - set(needed))
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing))
            if extra:
                parts.append("unknown " + ", ".join(extra))
            expect = "{" + ", ".join(needed) + "}" if needed else "{}"
            raise ValueError(
                f"truth: a {self.kind} task needs the roles {expect} ({'; '.join(parts)})"
            )
        if self.kind == "binary" and self.positive is None:
            raise ValueError("positive: a binary task must name its positive class")
        if self.kind != "binary" and self.positive is not None:
            raise ValueError("positive: only a binary task has a positive class")
        if self.kind == "sets" and isinstance(self.prediction, tuple):
            raise ValueError("prediction: a sets task takes one element column")
        columns = [self.unit, *self.keys, *self.truth.values()]
        if len(set(columns)) != len(columns):
            raise ValueError("unit, keys and truth columns must be distinct")
        return self

    @property
    def prediction_columns(self) -> tuple[str, ...]:
        """The prediction column(s) as a tuple."""
        p = self.prediction
        return p if isinstance(p, tuple) else (p,)


# -- metric -------------------------------------------------------------------------------


class _MetricBase(_Strict):
    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.name][1]  # type: ignore[attr-defined]

    @property
    def kinds(self) -> tuple[str, ...]:
        return METRICS[self.name][0]  # type: ignore[attr-defined]


class PlainMetric(_MetricBase):
    """A metric with no options."""

    name: Literal["auroc", "auprc", "brier", "log_loss", "harrell_c", "rmse", "mae"] = Field(
        description="auroc, auprc, brier, log_loss (binary); harrell_c (survival); rmse, mae "
        "(regression)"
    )


class UnoC(_MetricBase):
    """Uno's IPCW C-index."""

    name: Literal["uno_c"] = Field(
        description="uno_c: Uno's C-index, inverse-probability-of-censoring weighted (survival)"
    )
    truncation: float | None = Field(
        default=None,
        description="truncation time tau (> 0): only pairs whose earlier time is below tau "
        "count; default none (every comparable pair, as scikit-survival's tau=None)",
    )

    @field_validator("truncation")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is None:
            return v
        v = _finite(v)
        if v <= 0:
            raise ValueError("must be positive")
        return v


class Correlation(_MetricBase):
    """Pearson, Spearman, or the mean over units of the Pearson correlation across rows."""

    name: Literal["pearson", "spearman", "per_unit_pearson_mean"] = Field(
        description="pearson, spearman: over all rows; per_unit_pearson_mean: the Pearson "
        "correlation across the rows of each unit (task.keys), averaged over units (regression)"
    )
    constant: Literal["error", "zero"] = Field(
        default="error",
        description="what a constant vector's correlation counts as: an input error, or 0",
    )


class SetMetric(_MetricBase):
    """Precision, recall or F1 of predicted sets."""

    name: Literal["set_precision", "set_recall", "set_f1"] = Field(
        description="set_precision, set_recall, set_f1 of the predicted elements (sets)"
    )
    average: Literal["micro", "macro"] = Field(
        default="micro",
        description="micro: pool counts over units; macro: mean of per-unit values",
    )
    zero_division: Literal[0, 1] = Field(
        default=0, description="what 0/0 counts as (an empty predicted or true set)"
    )


class MeanScore(_MetricBase):
    """The mean of per-unit scores supplied by an external harness."""

    name: Literal["mean_score"] = Field(
        description="mean_score: the mean of one score per unit, computed outside (scores)"
    )
    higher_is_better_: bool = Field(
        default=True, alias="higher_is_better", description="direction of the score"
    )

    @property
    def higher_is_better(self) -> bool:
        return self.higher_is_better_


Metric = Annotated[
    Union[PlainMetric, UnoC, Correlation, SetMetric, MeanScore], Field(discriminator="name")
]


# -- statistics ---------------------------------------------------------------------------


class Resampling(_Strict):
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


class Baseline(_Strict):
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
        return _finite(v)


class Threshold(_Strict):
    """The preregistered criteria: an absolute threshold and/or baselines to beat."""

    absolute: float | None = Field(
        default=None, description="the metric must exceed this (fall below, if lower is better)"
    )
    baselines: Annotated[tuple[Baseline, ...], _AsTuple] = Field(
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
        return _finite(v)

    @field_validator("baselines")
    @classmethod
    def _distinct(cls, v: tuple[Baseline, ...]) -> tuple[Baseline, ...]:
        names = [b.name for b in v]
        if len(set(names)) != len(names):
            raise ValueError("baseline names must not repeat")
        return v


class OnlineFDR(_Strict):
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
                w0 = _finite(self.initial_wealth)
                if not 0 < w0 <= self.alpha:
                    raise ValueError(
                        f"initial_wealth: must be in (0, alpha = {self.alpha}], got {w0}"
                    )
        elif self.initial_wealth is not None:
            raise ValueError("initial_wealth: only the lord++ procedure takes an initial wealth")
        return self


class Multiplicity(_Strict):
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
    alphas: Annotated[tuple[float, ...], _AsTuple] | None = Field(
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
                r = _finite(self.ratio)
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


class Prior(_Strict):
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
        v = _finite(v)
        if v <= 0:
            raise ValueError("must be positive")
        return v


class Diagnostics(_Strict):
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
        return _finite(v)

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


class Bayes(_Strict):
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
    priors: Annotated[tuple[Prior, ...], _AsTuple] = Field(
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
        v = _finite(v)
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
        return _finite(v)

    @field_validator("target_accept")
    @classmethod
    def _accept(cls, v: float) -> float:
        v = _finite(v)
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


# -- submission: predictions, or code run beside sequestered inputs ----------------------

_MODULE = r"^[A-Za-z_][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,9}$"
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
_PACKAGE = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"


class EntryPoint(_Strict):
    """What runs in the sandbox: a function of a module of the code, or a command.

    ``module`` + ``function``: ``function(inputs: Path, output: Path)`` is called with the
    sequestered features file (``/inputs/features.csv`` or ``.parquet``, read-only) and the
    writable output directory (``/output``); it returns a pandas DataFrame of predictions
    (written as ``/output/predictions.csv``) or None after writing
    ``/output/predictions.csv`` or ``.parquet`` itself. ``command``: an argv run in
    ``/code`` (``python`` is the runtime's interpreter) with ``ADJUDICATOR_INPUTS`` and
    ``ADJUDICATOR_OUTPUT`` in its environment; it writes the predictions file itself.
    """

    module: Annotated[str, Field(pattern=_MODULE)] | None = Field(
        default=None, description="a module of the submitted code (model.py -> model)"
    )
    function: Annotated[str, Field(pattern=_IDENTIFIER)] | None = Field(
        default=None, description="module only: the function to call (default predict)"
    )
    command: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=4096)], ...],
                       _AsTuple] | None = Field(
        default=None, description="argv of a command run in /code, e.g. [python, run.py]"
    )

    @model_validator(mode="before")
    @classmethod
    def _default_function(cls, data: Any) -> Any:
        # fill the function in, so the digest covers the name actually called
        if isinstance(data, dict) and data.get("module") is not None:
            if data.get("function") is None:
                data = {**data, "function": "predict"}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> EntryPoint:
        if (self.module is None) == (self.command is None):
            raise ValueError("give either module (+ function) or command, not both")
        if self.command is not None:
            if not 1 <= len(self.command) <= 64:
                raise ValueError("command: between 1 and 64 arguments")
            if any("\x00" in a for a in self.command):
                raise ValueError("command: arguments must not contain NUL characters")
        if self.command is not None and self.function is not None:
            raise ValueError("function: only a module entry point names a function")
        return self


class Limits(_Strict):
    """Resources of one sandboxed run; past any of them the run stops and fails."""

    cpu_seconds: int = Field(default=600, ge=1, le=86_400,
                             description="CPU time of each process (RLIMIT_CPU)")
    memory_mb: int = Field(default=4096, ge=64, le=1_048_576,
                           description="address space of each process (RLIMIT_AS), and the "
                           "size of the /tmp tmpfs")
    wall_seconds: int = Field(default=900, ge=1, le=172_800,
                              description="wall-clock time of the whole run; then the whole "
                              "process tree is killed")
    output_mb: int = Field(default=256, ge=1, le=65_536,
                           description="size of the output directory (a tmpfs) and of the "
                           "predictions file")
    processes: int = Field(default=64, ge=1, le=4096,
                           description="processes and threads at once (RLIMIT_NPROC)")
    log_kb: int = Field(default=1024, ge=1, le=1_048_576,
                        description="stdout and stderr kept, each; writing more stops the run")


class Runtime(_Strict):
    """The software a submitted model runs on."""

    python: Literal["service"] = Field(
        default="service",
        description="service: the interpreter and packages of the service itself",
    )
    packages: Annotated[tuple[Annotated[str, Field(pattern=_PACKAGE)], ...], _AsTuple] = Field(
        default=(),
        description="distributions the committee promises participants (checked installed "
        "before a run; the runtime digest records every installed version)",
    )
    wheelhouse: bool = Field(
        default=False,
        description="install the binary wheels in the code's wheelhouse/ offline, inside "
        "the sandbox, before the entry point runs",
    )

    @field_validator("packages")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        names = [re.sub(r"[-_.]+", "-", n).lower() for n in v]
        if len(set(names)) != len(names):
            raise ValueError("package names must not repeat")
        return v


class SubmissionSpec(_Strict):
    """How teams submit: a predictions file, or code run beside the sequestered inputs."""

    mode: Literal["predictions", "code"] = Field(
        default="predictions",
        description="predictions: teams upload a predictions file; code: teams send code "
        "that runs in a sandbox beside the sequestered inputs",
    )
    entry_point: EntryPoint | None = Field(default=None, description="code only: what runs")
    limits: Limits | None = Field(default=None, description="code only: resource limits")
    runtime: Runtime | None = Field(default=None, description="code only: the software")

    @model_validator(mode="before")
    @classmethod
    def _code_defaults(cls, data: Any) -> Any:
        # fill the limits and runtime in, so the digest covers the values actually used
        if isinstance(data, dict) and data.get("mode") == "code":
            data = {**data, "limits": data.get("limits") or {},
                    "runtime": data.get("runtime") or {}}
        return data

    @model_validator(mode="after")
    def _fits_mode(self) -> SubmissionSpec:
        if self.mode == "code" and self.entry_point is None:
            raise ValueError("entry_point: a code submission needs its entry point")
        if self.mode == "predictions":
            given = [n for n in ("entry_point", "limits", "runtime")
                     if getattr(self, n) is not None]
            if given:
                raise ValueError(f"{given[0]}: only a code submission (mode: code) takes it")
        return self


# -- leaderboard: the public/private split and what the public board shows ---------------

#: the parameters each feedback mechanism takes (the rest must be absent)
_FEEDBACK_PARAMETERS: dict[str, tuple[str, ...]] = {
    "exact": ("resolution",),
    "ladder": ("step",),
    "thresholdout": ("threshold", "noise", "budget", "holdout_fraction", "resolution"),
}


class LeaderboardFeedback(_Strict):
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
        v = _finite(v)
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
        takes = _FEEDBACK_PARAMETERS[self.mechanism]
        for name in ("step", "threshold", "noise", "budget", "holdout_fraction", "resolution"):
            given = getattr(self, name) is not None
            if given and name not in takes:
                users = " and ".join(m for m, ps in _FEEDBACK_PARAMETERS.items() if name in ps)
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


class Leaderboard(_Strict):
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
        v = _finite(v)
        if not 0 < v < 1:
            raise ValueError(f"must be in (0, 1), got {v}")
        return v

    @field_validator("tie_bayes_factor")
    @classmethod
    def _factor(cls, v: float) -> float:
        v = _finite(v)
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v


class Publication(_Strict):
    """How the open results name the teams once the window closes (every adjudication of
    every team is published then, failures included)."""

    teams: Literal["named", "pseudonymous"] = Field(
        default="named",
        description="named: each result carries its team's name; pseudonymous: a stable "
        "pseudonym per team and challenge (HMAC of the team under the service's key), in "
        "the ledger, the results and the reports alike, and no submission names",
    )


def _is_none(value: Any) -> bool:
    return value is None


def _named(value: Any) -> bool:
    return isinstance(value, Publication) and value == Publication()


def _predictions_only(value: Any) -> bool:
    return isinstance(value, SubmissionSpec) and value == SubmissionSpec()


# -- the protocol -------------------------------------------------------------------------


class Protocol(_Strict):
    """A validated, frozen preregistered protocol. Build with :func:`load_protocol`."""

    adjudicator: Literal["protocol/v1"] = Field(description="format marker: protocol/v1")
    id: Slug = Field(description="the protocol's name (lower-case letters, digits, . _ -)")
    version: int = Field(
        ge=1, le=1_000_000, description="version of this id; a changed protocol is a new version"
    )
    title: Annotated[str, Field(min_length=1, max_length=300,
                                description="one line shown in reports and on the challenge "
                                "page")]
    summary: Text = Field(default="", description="free text: the challenge in a few "
                          "paragraphs")
    task: Task = Field(description="what is predicted and where the columns are")
    metric: Metric = Field(description="the metric, chosen by its name; some take options")
    resampling: Resampling = Field(
        default=Resampling(), description="bootstrap interval and p-values"
    )
    threshold: Threshold = Field(description="the criteria an entry must pass to be certified")
    multiplicity: Multiplicity = Field(
        default=Multiplicity(), description="alpha per submission of a family"
    )
    bayes: Bayes | None = Field(
        default=None,
        description="the Bayesian comparison with every baseline (absent: none)",
    )
    submission: SubmissionSpec = Field(
        default=SubmissionSpec(), exclude_if=_predictions_only,
        description="how teams submit (absent: predictions files); the default block "
        "leaves the canonical JSON, and so the digest, as it was",
    )
    leaderboard: Leaderboard | None = Field(
        default=None, exclude_if=_is_none,
        description="the public leaderboard (absent: no public board); an absent block "
        "leaves the canonical JSON, and so the digest, as it was",
    )
    publication: Publication = Field(
        default=Publication(), exclude_if=_named,
        description="how the open results name teams (absent: by name); the default block "
        "leaves the canonical JSON, and so the digest, as it was",
    )

    @model_validator(mode="after")
    def _coherent(self) -> Protocol:
        if self.task.kind not in self.metric.kinds:
            fits = ", ".join(self.metric.kinds)
            raise ValueError(
                f"metric.name: {self.metric.name} does not fit a {self.task.kind} task "
                f"(it is for {fits})"
            )
        if self.metric.name == "per_unit_pearson_mean" and not self.task.keys:
            raise ValueError(
                "metric.name: per_unit_pearson_mean needs task.keys (rows inside a unit)"
            )
        if self.threshold.absolute is None and not self.threshold.baselines:
            raise ValueError(
                "threshold: a protocol with no criteria cannot certify; give an absolute "
                "threshold, baselines, or both"
            )
        if self.bayes is not None and not self.threshold.baselines:
            raise ValueError("bayes: the Bayesian comparison needs at least one baseline")
        return self

    @cached_property
    def canonical(self) -> str:
        """The canonical JSON serialisation the digest is taken of."""
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    @cached_property
    def digest(self) -> str:
        """``sha256:`` + hex digest of :attr:`canonical`: the protocol's identity."""
        return "sha256:" + hashlib.sha256(self.canonical.encode("utf-8")).hexdigest()

    @property
    def higher_is_better(self) -> bool:
        """Direction of the metric: True when a higher value is a better entry."""
        return self.metric.higher_is_better


def canonical_json(value: Any) -> str:
    """Serialise ``value`` canonically: sorted keys, no whitespace, shortest float repr.

    Integral floats are written as floats (``1.0``) and integers as integers, so the type
    the schema gives a field, not the spelling in the YAML, decides the bytes.
    """
    return json.dumps(
        _normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False,
    )


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, float) and value == 0.0:
        return 0.0  # -0.0 and 0.0 mean the same threshold
    return value


# -- loading ------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that also refuses aliases (bombs) and duplicated keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed in a protocol",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicated key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # discriminated unions and tagged unions add the tag to the location; hide it
            if part in METRICS or part in {"function-after", "function-before", "str", "int",
                                           "float", "bool", "tuple[str, ...]", "none"}:
                continue
            if re.fullmatch(r"tuple\[.*\]|list\[.*\]|literal\[.*\]", str(part)):
                continue
            out += ("." if out else "") + str(part)
    return out or "(document)"


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind in {"float_type", "int_type", "float_parsing", "int_parsing"}:
        return "must be a number" if kind.startswith("float") else "must be an integer"
    if kind == "string_type":
        return "must be a string"
    if kind == "union_tag_invalid":
        return "unknown metric; known: " + ", ".join(METRICS)
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg


def _format(exc: ValidationError) -> tuple[str, ...]:
    problems: list[str] = []
    for err in exc.errors():
        path = _path(tuple(err["loc"]))
        msg = _message(err)
        if err["type"] == "value_error" and re.match(r"^[A-Za-z_][\w.\[\]]*: ", msg):
            # a model validator names the field relative to the model it checks
            text = msg if path == "(document)" else f"{path}.{msg}"
        else:
            text = f"{path}: {msg}"
        if text not in problems:
            problems.append(text)
    return tuple(problems)


def parse_protocol(text: str | bytes, *, source: str | None = None) -> Protocol:
    """Parse and validate a protocol document given as YAML text.

    Raises
    ------
    ProtocolError
        For anything that is not a valid ``protocol/v1`` document; the message names the
        source and every failing field path.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_PROTOCOL_BYTES:
            raise ProtocolError(
                f"file is {len(text)} bytes; a protocol may be at most {MAX_PROTOCOL_BYTES}",
                source=source,
            )
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"not UTF-8 text (byte {exc.start}): a protocol is a YAML document",
                source=source,
            ) from None
    if len(text.encode("utf-8")) > MAX_PROTOCOL_BYTES:
        raise ProtocolError(
            f"document is larger than {MAX_PROTOCOL_BYTES} bytes", source=source
        )
    if "\x00" in text:
        raise ProtocolError("contains NUL bytes: a protocol is a YAML text", source=source)
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProtocolError(f"not valid YAML{where}: {problem}", source=source) from None
    if not isinstance(data, dict):
        raise ProtocolError(
            "a protocol is a YAML mapping with fields adjudicator, id, version, ...",
            source=source,
        )
    if data.get("adjudicator") != FORMAT:
        raise ProtocolError(
            f"adjudicator: must be {FORMAT!r} (the format marker), got "
            f"{str(data.get('adjudicator'))[:40]!r}",
            source=source,
        )
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        problems = _format(exc)
        head = problems[0] if len(problems) == 1 else (
            f"{len(problems)} problems:\n  " + "\n  ".join(problems)
        )
        raise ProtocolError(head, source=source, problems=problems) from None


def load_protocol(path: str | Path) -> Protocol:
    """Read, parse and validate the protocol at ``path``.

    Examples
    --------
    >>> p = load_protocol("protocols/gbsg2-recurrence-free-survival.yaml")  # doctest: +SKIP
    >>> p.digest  # doctest: +SKIP
    'sha256:...'
    """
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_PROTOCOL_BYTES:
            raise ProtocolError(
                f"file is {size} bytes; a protocol may be at most {MAX_PROTOCOL_BYTES}",
                source=source,
            )
        with path.open("rb") as fh:
            raw = fh.read(MAX_PROTOCOL_BYTES + 1)
    except OSError as exc:
        raise ProtocolError(f"cannot read: {exc.strerror}", source=source) from None
    return parse_protocol(raw, source=source)


def protocol_schema() -> dict[str, Any]:
    """The JSON Schema of ``protocol/v1`` (what ``adjudicator protocol schema`` prints)."""
    schema = Protocol.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "adjudicator protocol/v1"
    return schema
