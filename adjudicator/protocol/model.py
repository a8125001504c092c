"""The protocol itself, and its canonical JSON (what the digest is taken of)."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from ._common import (
    Slug,
    StrictModel,
    Text,
)
from .board import (
    Leaderboard,
    Publication,
)
from .statistics import (
    Bayes,
    Multiplicity,
    Resampling,
    Threshold,
)
from .submission import (
    SubmissionSpec,
)
from .task import (
    Metric,
    Task,
)


def is_none(value: Any) -> bool:
    return value is None


def is_named(value: Any) -> bool:
    return isinstance(value, Publication) and value == Publication()


def is_predictions_only(value: Any) -> bool:
    return isinstance(value, SubmissionSpec) and value == SubmissionSpec()


# -- the protocol -------------------------------------------------------------------------


class Protocol(StrictModel):
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
        default=SubmissionSpec(), exclude_if=is_predictions_only,
        description="how teams submit (absent: predictions files); the default block "
        "leaves the canonical JSON, and so the digest, as it was",
    )
    leaderboard: Leaderboard | None = Field(
        default=None, exclude_if=is_none,
        description="the public leaderboard (absent: no public board); an absent block "
        "leaves the canonical JSON, and so the digest, as it was",
    )
    publication: Publication = Field(
        default=Publication(), exclude_if=is_named,
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
