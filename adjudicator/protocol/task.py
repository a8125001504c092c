"""The task (what is predicted about which units) and the metric blocks."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ._common import (
    METRICS,
    TRUTH_ROLES,
    AsTuple,
    Column,
    StrictModel,
    finite,
)

# -- task ---------------------------------------------------------------------------------


class Task(StrictModel):
    """What is predicted, on which unit, and which columns hold truth and predictions."""

    kind: Literal["binary", "survival", "regression", "sets", "scores"] = Field(
        description="binary | survival | regression | sets | scores"
    )
    unit: Column = Field(
        description="resampling unit and join key of truth and predictions (one or more rows)"
    )
    keys: Annotated[tuple[Column, ...], AsTuple] = Field(
        default=(),
        description="extra row keys inside a unit (e.g. [gene, cell_type]); rows = unit + keys",
    )
    truth: dict[str, Column] = Field(
        default_factory=dict,
        description="columns of the sequestered file by role: binary {label}, survival "
        "{time, event}, regression {value}, sets {element}, scores {}",
    )
    prediction: Column | Annotated[tuple[Column, ...], AsTuple] = Field(
        description="column(s) of a submission holding the prediction"
    )
    strata: Annotated[tuple[Column, ...], AsTuple] = Field(
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


class MetricBase(StrictModel):
    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.name][1]  # type: ignore[attr-defined]

    @property
    def kinds(self) -> tuple[str, ...]:
        return METRICS[self.name][0]  # type: ignore[attr-defined]


class PlainMetric(MetricBase):
    """A metric with no options."""

    name: Literal["auroc", "auprc", "brier", "log_loss", "harrell_c", "rmse", "mae"] = Field(
        description="auroc, auprc, brier, log_loss (binary); harrell_c (survival); rmse, mae "
        "(regression)"
    )


class UnoC(MetricBase):
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
        v = finite(v)
        if v <= 0:
            raise ValueError("must be positive")
        return v


class Correlation(MetricBase):
    """Pearson, Spearman, or the mean over units of the Pearson correlation across rows."""

    name: Literal["pearson", "spearman", "per_unit_pearson_mean"] = Field(
        description="pearson, spearman: over all rows; per_unit_pearson_mean: the Pearson "
        "correlation across the rows of each unit (task.keys), averaged over units (regression)"
    )
    constant: Literal["error", "zero"] = Field(
        default="error",
        description="what a constant vector's correlation counts as: an input error, or 0",
    )


class SetMetric(MetricBase):
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


class MeanScore(MetricBase):
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
