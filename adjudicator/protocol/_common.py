"""Constants, constrained types and the strict base model of protocol/v1."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

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


def list_to_tuple(value: Any) -> Any:
    # YAML gives lists; strict mode would refuse them for tuple fields. Items stay strict.
    return tuple(value) if isinstance(value, list) else value


AsTuple = BeforeValidator(list_to_tuple)


def finite(value: float, what: str = "value") -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value}")
    return float(value)


def open_unit(value: float) -> float:
    value = finite(value)
    if not 0 < value < 1:
        raise ValueError(f"must be in (0, 1), got {value}")
    return value


#: a finite number strictly between 0 and 1 (levels, rates, confidences)
OpenUnit = Annotated[float, AfterValidator(open_unit)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
